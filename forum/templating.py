"""What every template may use: the visitor's state and small formatting filters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask

from forum.access import Level, visitor_level
from forum.accounts.models import Role


def when(value: datetime | None) -> str:
    """A timestamp as members read it (UTC until members pick a time zone)."""
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _context() -> dict[str, Any]:
    return {"visitor_level": visitor_level(), "Level": Level, "Role": Role}


def register(app: Flask) -> None:
    """Attach the template context and filters."""
    app.context_processor(_context)
    app.add_template_filter(when, "when")

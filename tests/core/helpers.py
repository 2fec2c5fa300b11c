"""Small readers and stand-in routes shared by the core tests."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from flask import Flask
from werkzeug.routing import IntegerConverter, Rule
from werkzeug.test import TestResponse

from forum.access import Level, password_only, physician, public, role_required, signed_in
from forum.accounts.models import Role
from forum.audit import AuditEvent
from forum.extensions import db
from tests.conftest import FormClient
from tests.factories import Member, make_user, sign_in

# The site has no clinical, verifier or moderator pages yet; these stand in for them so that
# every level and every role is exercised. Each answers GET and POST with a plain "probe ok".
PROBES: dict[str, tuple[Level, tuple[Role, ...]]] = {
    "probe_public": (Level.PUBLIC, ()),
    "probe_password": (Level.PASSWORD, ()),
    "probe_member": (Level.MEMBER, ()),
    "probe_physician": (Level.PHYSICIAN, ()),
    "probe_verifier": (Level.STAFF, (Role.VERIFIER,)),
    "probe_moderator": (Level.STAFF, (Role.MODERATOR,)),
    "probe_admin": (Level.STAFF, (Role.ADMIN,)),
}

PHYSICIAN_PROBE_URL = "/_probe/physician"


def _probe_view() -> Callable[[], str]:
    """A fresh view function each time, so each route carries its own declaration."""

    def probe() -> str:
        return "probe ok"

    return probe


_DECLARATIONS = {
    Level.PUBLIC: public,
    Level.PASSWORD: password_only,
    Level.MEMBER: signed_in,
    Level.PHYSICIAN: physician,
}


def add_probe_routes(app: Flask) -> None:
    """Add one route per level and role (call before the app's first request)."""
    for endpoint, (level, roles) in PROBES.items():
        declare = role_required(*roles) if level == Level.STAFF else _DECLARATIONS[level]
        app.add_url_rule(
            f"/_probe/{endpoint.removeprefix('probe_')}",
            endpoint=endpoint,
            view_func=declare(_probe_view()),
            methods=["GET", "POST"],
        )


def text(response: TestResponse) -> str:
    """The page as text, entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def redirect_target(response: TestResponse) -> tuple[str, dict[str, list[str]]]:
    """Where a redirect points: its path and query, with any scheme or host left out."""
    location = response.headers.get("Location", "")
    parts = urlsplit(location)
    return parts.path, parse_qs(parts.query)


def audit_rows(action: str | None = None) -> list[AuditEvent]:
    """Audit events (inside an app context), oldest first, optionally of one action."""
    query = sa.select(AuditEvent).order_by(AuditEvent.id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(db.session.scalars(query))


def dummy_url(app: Flask, rule: Rule) -> str:
    """The rule's URL with 1 for numbers and "x" for every other argument."""
    values: dict[str, Any] = {
        name: 1 if isinstance(converter, IntegerConverter) else "x"  # string, path, any
        for name, converter in rule._converters.items()
    }
    return app.url_map.bind("localhost").build(rule.endpoint, values)


def walked_routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) for every route but static files, GET and POST only."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in ("GET", "POST"):
            if method in (rule.methods or ()):
                routes.append((rule.endpoint, method, dummy_url(app, rule)))
    return sorted(routes)


def signed_in_client(app: Flask, **member: Any) -> tuple[FormClient, Member]:
    """A new member, made with make_user(**member), signed in with both steps on a new client."""
    with app.app_context():
        made = make_user(**member)
    client: FormClient = app.test_client()  # type: ignore[assignment]
    response = sign_in(client, made)
    assert response.status_code == 302, "could not sign in"
    return client, made

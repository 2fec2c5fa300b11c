"""Small readers and actions shared by the account tests."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pyotp
import sqlalchemy as sa
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from forum.accounts import totp
from forum.accounts.models import User
from forum.audit import AuditEvent
from forum.extensions import db
from tests.factories import Member, unused_code

LOCKED = "locked for 15 minutes"
WRONG_CODE = "That code is not right, or was already used. Try the next one."
WRONG_SIGN_IN = "E-mail address or password is incorrect."
SESSION_ENDED = "Your session ended. Please sign in again."


def text(response: TestResponse) -> str:
    """The page as text, entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def field_errors(response: TestResponse, field: str) -> list[str]:
    """The errors shown beside one form field."""
    found = re.search(
        rf'<ul class="field-errors" id="{field}-error">(.*?)</ul>',
        response.get_data(as_text=True),
        re.DOTALL,
    )
    if not found:
        return []
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", found.group(1))]


def flashes(response: TestResponse) -> list[str]:
    """The flashed messages on a page."""
    found = re.findall(r'<p class="flash flash--\w+"[^>]*>(.*?)</p>', response.get_data(True))
    return [html.unescape(message) for message in found]


def input_value(response: TestResponse, name: str) -> str | None:
    """The value a form field was rendered with."""
    found = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', response.get_data(as_text=True))
    assert found, f"no field {name}"
    value = re.search(r'\bvalue="([^"]*)"', found.group(0))
    return html.unescape(value.group(1)) if value else None


def redirect_path(response: TestResponse) -> str:
    """Where a redirect points, without the query."""
    assert response.status_code in {302, 303}, response.status_code
    return urlsplit(response.headers["Location"]).path


def path_of(link: str) -> str:
    """The path of an absolute link from an e-mail."""
    return urlsplit(link).path


def is_signed_in(client: FlaskClient) -> bool:
    """Whether the client reaches the member's settings page (both factors done)."""
    return client.get("/account").status_code == 200


def where_sent(client: FlaskClient, url: str) -> str:
    """The path a GET of `url` redirects to."""
    return redirect_path(client.get(url))


@contextmanager
def later(**delta: float) -> Iterator[None]:
    """Move the clock forward (minutes=..., hours=...) for the block."""
    with time_machine.travel(datetime.now(UTC) + timedelta(**delta), tick=True):
        yield


def user_row(app: Flask, member_id: int) -> User:
    """The member's row as stored now."""
    with app.app_context():
        user = db.session.get(User, member_id)
        assert user is not None
        db.session.expunge(user)
        return user


def audit_rows(app: Flask, action: str) -> list[dict[str, Any]]:
    """Audit events with this action, oldest first."""
    with app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
        return [
            {"actor": e.actor_id, "target": e.target_id, "details": dict(e.details)} for e in events
        ]


def wrong_code(secret: str) -> str:
    """A six-digit code that no step near now accepts."""
    step = totp.current_step(datetime.now(UTC))
    near = {pyotp.TOTP(secret).generate_otp(step + k) for k in range(-4, 5)}
    return next(digit * 6 for digit in "0123456789" if digit * 6 not in near)


def reauthenticate(
    client: FlaskClient, member: Member, code: str | None = None, next_url: str = "/account"
) -> TestResponse:
    """Re-enter password and code (a fresh TOTP code unless one is given)."""
    code = code or unused_code(client.application, member)
    return client.post(
        f"/account/reauthenticate?next={next_url}",
        data={"password": member.password, "code": code},
    )

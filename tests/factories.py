"""Plain factory functions: members in any state, TOTP codes, and signing in through the forms."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from forum.accounts import totp
from forum.accounts.models import RecoveryCode, Role, User
from forum.accounts.passwords import hash_password
from forum.accounts.services import display_name_key
from forum.extensions import db, utcnow

DEFAULT_PASSWORD = "correct horse battery staple"
_sequence = itertools.count(1)


@dataclass(frozen=True)
class Member:
    """A member made for a test, with the secrets the test needs to act as them."""

    id: int
    email: str
    password: str
    totp_secret: str | None
    recovery_codes: tuple[str, ...]


def make_user(
    email: str | None = None,
    *,
    password: str = DEFAULT_PASSWORD,
    display_name: str | None = None,
    confirmed: bool = True,
    enrolled: bool = True,
    verified: bool = False,
    roles: tuple[Role, ...] = (),
    suspended: bool = False,
) -> Member:
    """Create a member directly in the database (inside an app context)."""
    number = next(_sequence)
    email = email or f"member{number}@hospital.example"
    display_name = display_name or f"Dr Member {number}"
    now = utcnow()
    secret = totp.new_secret() if enrolled else None
    user = User(
        email=email,
        password_hash=hash_password(password),
        display_name=display_name,
        display_name_key=display_name_key(display_name),
        first_name="Test",
        last_name=f"Member{number}",
        email_confirmed_at=now if confirmed else None,
        totp_secret_encrypted=totp.encrypt_secret(secret) if secret else None,
        totp_confirmed_at=now if enrolled else None,
        verified_at=now if verified else None,
        is_admin=Role.ADMIN in roles,
        is_moderator=Role.MODERATOR in roles,
        is_verifier=Role.VERIFIER in roles,
        suspended_at=now if suspended else None,
        suspension_reason="Testing suspension" if suspended else None,
    )
    db.session.add(user)
    db.session.flush()
    codes = totp.new_recovery_codes() if enrolled else []
    db.session.add_all(
        RecoveryCode(user_id=user.id, code_hash=totp.hash_recovery_code(c)) for c in codes
    )
    db.session.commit()
    return Member(user.id, email, password, secret, tuple(codes))


def code_at(secret: str, when: datetime | None = None, steps: int = 0) -> str:
    """The TOTP code for a moment, shifted by whole 30-second steps."""
    moment = (when or datetime.now(UTC)).timestamp() + steps * totp.STEP_SECONDS
    return pyotp.TOTP(secret).at(moment)


def unused_code(app: Flask, member: Member) -> str:
    """A code the server will accept now: the earliest step in the window after the last used."""
    assert member.totp_secret
    with app.app_context():
        last = db.session.get(User, member.id).totp_last_step  # type: ignore[union-attr]
    now = totp.current_step(utcnow())
    step = now - totp.WINDOW_STEPS if last is None else max(now - totp.WINDOW_STEPS, last + 1)
    assert step <= now + totp.WINDOW_STEPS, "every code of this window was used; travel in time"
    return pyotp.TOTP(member.totp_secret).generate_otp(step)


def sign_in_password(
    client: FlaskClient, member: Member, next_url: str | None = None
) -> TestResponse:
    """The first step only: address and password."""
    url = "/sign-in" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"email": member.email, "password": member.password})


def sign_in(client: FlaskClient, member: Member, app: Flask | None = None) -> TestResponse:
    """Both steps, through the real forms; returns the response to the code step."""
    response = sign_in_password(client, member)
    assert response.status_code == 302, response.status_code
    application = app or client.application
    return client.post("/two-factor", data={"code": unused_code(application, member)})

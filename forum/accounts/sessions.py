"""Signed-in sessions: start, step up to two factors, expire, end."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app, flash, request, session
from flask_login import current_user, login_user, logout_user
from werkzeug.local import LocalProxy

from forum.accounts.models import User
from forum.extensions import db, login_manager, utcnow

# How long a re-authentication lets a member into sensitive settings.
REAUTH_LIFETIME = timedelta(minutes=10)


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """The member behind a session, unless their session version has moved on."""
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.session_version != int(version):
        return None
    return user


def _stamp(name: str) -> None:
    session[name] = utcnow().timestamp()


def _stamped(name: str) -> datetime | None:
    value = session.get(name)
    if not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, tz=utcnow().tzinfo)


def start(user: User, *, second_factor: bool) -> None:
    """Begin a fresh session for the member, discarding whatever the browser held."""
    session.clear()  # a new session on every sign-in: no fixation
    login_user(user)
    session["mfa"] = second_factor
    _stamp("signed_in_at")
    _stamp("seen_at")


def complete_second_factor() -> None:
    """Mark the session as having passed the second factor."""
    session["mfa"] = True
    _stamp("reauth_at")


def reissue(user: User) -> None:
    """Keep this session alive after the member's session version changed."""
    if isinstance(user, LocalProxy):
        # Views pass current_user; flask-login must hold the member itself, or the proxy
        # would resolve to itself and recurse until the worker crashes.
        user = user._get_current_object()
    second_factor = bool(session.get("mfa"))
    signed_in_at = session.get("signed_in_at")
    login_user(user)
    session["mfa"] = second_factor
    session["signed_in_at"] = signed_in_at


def end() -> None:
    """Sign out of this browser."""
    logout_user()
    session.clear()


def mark_reauthenticated() -> None:
    """Note that the member just proved who they are again."""
    _stamp("reauth_at")


def recently_reauthenticated() -> bool:
    """Whether the member re-entered their password and code in the last few minutes."""
    stamped = _stamped("reauth_at")
    return stamped is not None and utcnow() - stamped < REAUTH_LIFETIME


def expire_stale_session() -> None:
    """Before each request: end sessions idle too long or older than their lifetime."""
    if request.endpoint == "static" or "_user_id" not in session:
        return
    now = utcnow()
    seen_at, signed_in_at = _stamped("seen_at"), _stamped("signed_in_at")
    idle = timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])
    lifetime = timedelta(hours=current_app.config["SESSION_MAX_HOURS"])
    if (
        seen_at is None
        or signed_in_at is None
        or now - seen_at > idle
        or now - signed_in_at > lifetime
    ):
        end()
        flash("Your session ended. Please sign in again.", "info")
        return
    if current_user.is_authenticated and now - seen_at > timedelta(seconds=30):
        _stamp("seen_at")

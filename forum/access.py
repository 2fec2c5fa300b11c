"""Default-deny access: every endpoint declares who may reach it, or nobody can."""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import IntEnum
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Flask,
    abort,
    current_app,
    has_request_context,
    redirect,
    request,
    session,
    url_for,
)
from flask_login import current_user
from werkzeug.wrappers import Response

from forum.accounts.models import Role, User

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

# Endpoints Flask registers itself, which cannot carry a decorator.
BUILTIN_PUBLIC_ENDPOINTS = frozenset({"static"})


class Level(IntEnum):
    """How far a visitor has come; each level includes the ones below it."""

    PUBLIC = 0
    PASSWORD = 1  # signed in with a password only: e-mail confirmation and the TOTP step
    MEMBER = 2  # signed in with a second factor
    PHYSICIAN = 3  # a verified physician, not suspended
    STAFF = 4  # holds the role the endpoint names


def _declare(level: Level, roles: tuple[Role, ...] = ()) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        view.access_level = level  # type: ignore[attr-defined]
        view.access_roles = roles  # type: ignore[attr-defined]
        return view

    return decorate


public = _declare(Level.PUBLIC)
password_only = _declare(Level.PASSWORD)
signed_in = _declare(Level.MEMBER)
physician = _declare(Level.PHYSICIAN)


def role_required(*roles: Role) -> Callable[[F], F]:
    """Open to members holding any of the roles (admins hold them all)."""
    return _declare(Level.STAFF, roles)


def endpoint_rule(app: Flask, endpoint: str) -> tuple[Level, tuple[Role, ...]] | None:
    """The declared level and roles of an endpoint, or None when it declares nothing."""
    if endpoint in BUILTIN_PUBLIC_ENDPOINTS:
        return Level.PUBLIC, ()
    view = app.view_functions.get(endpoint)
    level = getattr(view, "access_level", None)
    if level is None:
        return None
    return level, getattr(view, "access_roles", ())


def visitor_level() -> Level:
    """The level the current visitor has reached, ignoring roles."""
    if not has_request_context() or not current_user.is_authenticated:
        return Level.PUBLIC  # outside a request (mail sent from the shell) nobody is signed in
    if not session.get("mfa"):
        return Level.PASSWORD
    if current_user.is_physician:
        return Level.PHYSICIAN
    return Level.MEMBER


def next_step_for(user: User) -> str:
    """Where a password-only member goes to finish signing in."""
    if not user.email_confirmed:
        return url_for("accounts.confirm_pending")
    if not user.totp_enrolled:
        return url_for("accounts.totp_setup")
    return url_for("accounts.totp_verify", next=request.full_path.rstrip("?"))


def _denied(required: Level, roles: tuple[Role, ...]) -> Response | None:
    level = visitor_level()
    if level == Level.PUBLIC and required > Level.PUBLIC:
        return redirect(url_for("accounts.sign_in", next=request.full_path.rstrip("?")))
    if level == Level.PASSWORD and required > Level.PASSWORD:
        return redirect(next_step_for(current_user))
    if required == Level.STAFF:
        if not any(current_user.has_role(role) for role in roles):
            abort(403)
        return None
    if required == Level.PHYSICIAN and level < Level.PHYSICIAN:
        if current_user.suspended:
            abort(403, description="Your account is suspended.")
        return redirect(url_for("verification.status"))
    return None


def enforce_access() -> Response | None:
    """The one before_request rule: refuse unless the endpoint declared who may come."""
    endpoint = request.endpoint
    if endpoint is None:
        return None  # no route matched: Flask answers 404 or 405 itself
    rule = endpoint_rule(current_app, endpoint)
    if rule is None:
        log.error("Endpoint %s declares no access level; refused", endpoint)
        abort(403)
    return _denied(*rule)


def safe_next_url(target: str | None, fallback: str) -> str:
    """A same-site path to go to after a form, or the fallback for anything else."""
    if not target or len(target) > 2000:
        return fallback
    if "\\" in target or any(ord(char) < 32 for char in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return fallback
    return target

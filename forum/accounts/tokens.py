"""Signed, expiring links for e-mail: confirmation, password reset, e-mail change."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


class Purpose(StrEnum):
    """What a link is for; a token made for one purpose is worthless for another."""

    CONFIRM_EMAIL = "confirm-email"
    RESET_PASSWORD = "reset-password"  # noqa: S105 - a purpose label, not a password
    CHANGE_EMAIL = "change-email"
    DIGEST_UNSUBSCRIBE = "digest-unsubscribe"


LIFETIMES = {
    Purpose.CONFIRM_EMAIL: timedelta(days=2),
    Purpose.RESET_PASSWORD: timedelta(hours=1),
    Purpose.CHANGE_EMAIL: timedelta(days=2),
    # Digests stay in inboxes for months; the link only ever unsubscribes.
    Purpose.DIGEST_UNSUBSCRIBE: timedelta(days=365),
}


class TokenError(Exception):
    """A link that is forged, damaged, expired or already used."""


class TokenExpired(TokenError):
    """A genuine link past its lifetime."""


def _serializer(purpose: Purpose) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"curbside:{purpose}")


def make_token(purpose: Purpose, payload: dict[str, Any]) -> str:
    """A URL-safe signed token carrying the payload."""
    return _serializer(purpose).dumps(payload)


def read_token(purpose: Purpose, token: str) -> dict[str, Any]:
    """The payload of a genuine, unexpired token; raises TokenError otherwise."""
    max_age = int(LIFETIMES[purpose].total_seconds())
    try:
        payload = _serializer(purpose).loads(token, max_age=max_age)
    except SignatureExpired:
        raise TokenExpired from None
    except BadSignature:
        raise TokenError from None
    if not isinstance(payload, dict):
        raise TokenError
    return payload

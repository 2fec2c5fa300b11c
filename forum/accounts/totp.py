"""TOTP secrets (encrypted at rest), code checks and recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from markupsafe import Markup

ISSUER = "Curbside"
STEP_SECONDS = 30
# Codes from one step before or after the current one are accepted, for clock drift.
WINDOW_STEPS = 1
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
_TOTP_CODE = re.compile(r"^\d{6}$")


def _fernet() -> MultiFernet:
    keys = str(current_app.config["ENCRYPTION_KEYS"]).split(",")
    return MultiFernet([Fernet(key.strip()) for key in keys])


def new_secret() -> str:
    """A fresh 160-bit base32 TOTP secret."""
    return pyotp.random_base32(length=32)


def encrypt_secret(secret: str) -> str:
    """The secret encrypted with the current key, for storage."""
    return _fernet().encrypt(secret.encode()).decode()


def decrypt_secret(token: str) -> str:
    """The stored secret in clear; raises RuntimeError if no configured key opens it."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise RuntimeError("TOTP secret cannot be decrypted with FORUM_ENCRYPTION_KEYS") from None


def provisioning_uri(secret: str, email: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> Markup:
    """The URI as an inline SVG QR code (generated here, never from user text)."""
    svg = segno.make(uri, error="m").svg_inline(
        scale=5, border=2, dark="#000", light="#fff", title="QR code for your authenticator app"
    )
    return Markup(svg)  # noqa: S704 - segno's own markup, no user input in it


def group_secret(secret: str) -> str:
    """The secret in groups of four, easier to type by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def is_totp_code(text: str) -> bool:
    """Whether the text has the shape of a six-digit code."""
    return bool(_TOTP_CODE.match(text))


def current_step(now: datetime) -> int:
    """The 30-second step number at `now`."""
    return int(now.timestamp()) // STEP_SECONDS


def matching_step(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The step the code belongs to, within the window and after `last_step`, or None."""
    if not is_totp_code(code):
        return None
    totp = pyotp.TOTP(secret)
    step = current_step(now)
    for candidate in range(step - WINDOW_STEPS, step + WINDOW_STEPS + 1):
        if last_step is not None and candidate <= last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def new_recovery_codes() -> list[str]:
    """Ten fresh recovery codes, about 60 bits each, shown as xxxx-xxxx-xxxx."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(12))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
    return codes


def normalise_recovery_code(text: str) -> str:
    """The code as typed, without spaces, dashes or case."""
    return re.sub(r"[\s-]", "", text).lower()


def hash_recovery_code(code: str) -> str:
    """A keyed hash of the code; codes are random enough that a slow hash adds nothing."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    normalised = normalise_recovery_code(code).encode()
    return hmac.new(key, b"recovery-code:" + normalised, hashlib.sha256).hexdigest()

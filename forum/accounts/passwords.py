"""Password policy and Argon2id hashing."""

from __future__ import annotations

from functools import cache
from importlib import resources

from argon2 import PasswordHasher, Type, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

MIN_LENGTH = 12
MAX_LENGTH = 256


@cache
def common_passwords() -> frozenset[str]:
    """The 10,000 most common passwords, lower-cased (see the data file for its source)."""
    text = resources.files("forum.accounts").joinpath("data/common-passwords.txt").read_text()
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line and not line.startswith("#")
    )


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why a new password is refused, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    if password.lower() in common_passwords():
        return "This password is among the 10,000 most common; choose another."
    if email and password.lower() == email.lower():
        return "Do not use your e-mail address as your password."
    return None


@cache
def _hasher(profile_name: str) -> PasswordHasher:
    profile = getattr(profiles, profile_name)
    if profile.type is not Type.ID:
        raise ValueError("password hashes must be Argon2id")
    return PasswordHasher.from_parameters(profile)


def _current_hasher() -> PasswordHasher:
    # Tests pick a cheap profile; real sites keep RFC 9106's low-memory Argon2id.
    return _hasher(current_app.config.get("PASSWORD_HASH_PROFILE", "RFC_9106_LOW_MEMORY"))


def hash_password(password: str) -> str:
    """An Argon2id hash of the password."""
    return _current_hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches the stored hash."""
    try:
        return _current_hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with older parameters than the current ones."""
    return _current_hasher().check_needs_rehash(password_hash)


def spend_equal_time(password: str) -> None:
    """Hash against a throwaway hash so an unknown address costs as long as a known one."""
    verify_password(_dummy_hash(current_app.config.get("PASSWORD_HASH_PROFILE", "")), password)


@cache
def _dummy_hash(profile_name: str) -> str:
    return _current_hasher().hash("curbside-no-such-account")

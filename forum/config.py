"""Settings read from FORUM_* environment variables; fails closed in production."""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

ENVIRONMENTS = ("development", "production")


class ConfigError(RuntimeError):
    """The configuration cannot run the site safely."""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _int(value: str) -> int:
    return int(value.strip())


def _count(value: str) -> int:
    number = _int(value)
    if number < 0:
        raise ValueError(f"expected 0 or more, got {number}")
    return number


def _str(value: str) -> str:
    return value.strip()


def _seconds(value: str) -> float:
    number = float(value.strip())
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"expected a number of seconds above 0, got {value.strip()!r}")
    return number


@dataclass(frozen=True)
class Setting:
    """One FORUM_* environment variable and the config key it fills."""

    env: str
    key: str
    default: Any
    parse: Callable[[str], Any]
    help: str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "FORUM_ENV",
        "ENV_NAME",
        "development",
        _str,
        "`development` (default) or `production`; production refuses to start without secrets.",
    ),
    Setting(
        "FORUM_SECRET_KEY",
        "SECRET_KEY",
        None,
        _str,
        "Signs sessions, CSRF and e-mail tokens. Required in production; development generates "
        "one into `instance/secret_key`.",
        secret=True,
    ),
    Setting(
        "FORUM_ENCRYPTION_KEYS",
        "ENCRYPTION_KEYS",
        None,
        _str,
        "Comma-separated Fernet keys encrypting TOTP secrets at rest; the first encrypts, all "
        "decrypt (rotation). Required in production; development generates one into "
        "`instance/encryption_key`.",
        secret=True,
    ),
    Setting(
        "FORUM_DATABASE_URL",
        "DATABASE_URL",
        None,
        _str,
        "SQLAlchemy URL. Default: SQLite at `instance/curbside.sqlite3`. `postgresql://...` "
        "uses psycopg 3.",
    ),
    Setting(
        "FORUM_INSTANCE_PATH",
        "INSTANCE_PATH",
        None,
        _str,
        "Folder for the SQLite database, generated keys, the search index and the dev outbox. "
        "Default: `instance/` in the project.",
    ),
    Setting(
        "FORUM_BASE_URL",
        "BASE_URL",
        "http://127.0.0.1:5000",
        _str,
        "Public address of the site, used for links in e-mail.",
    ),
    Setting(
        "FORUM_SQLITE_BUSY_TIMEOUT_MS",
        "SQLITE_BUSY_TIMEOUT_MS",
        5000,
        _int,
        "How long a SQLite writer waits for the lock before failing.",
    ),
    Setting(
        "FORUM_SEARCH_BACKEND",
        "SEARCH_BACKEND",
        None,
        _str,
        "`whoosh` (an index under `instance/search-index/`) or `postgres` (full-text search in "
        "the database). Default: `postgres` on PostgreSQL, `whoosh` otherwise.",
    ),
    Setting(
        "FORUM_SEARCH_REBUILD_PROCESSES",
        "SEARCH_REBUILD_PROCESSES",
        0,
        _count,
        "Worker processes `flask search reindex` writes a Whoosh index with (each may use about "
        "3 GB). 0: one per core.",
    ),
    Setting(
        "FORUM_SESSION_IDLE_MINUTES",
        "SESSION_IDLE_MINUTES",
        30,
        _int,
        "A session ends after this many minutes without a request.",
    ),
    Setting(
        "FORUM_SESSION_MAX_HOURS",
        "SESSION_MAX_HOURS",
        12,
        _int,
        "A session ends this many hours after sign-in, active or not.",
    ),
    Setting(
        "FORUM_COOKIE_SECURE",
        "SESSION_COOKIE_SECURE",
        None,
        _bool,
        "Mark cookies Secure. Default: true in production or when FORUM_BASE_URL is https.",
    ),
    Setting(
        "FORUM_TRUSTED_PROXIES",
        "TRUSTED_PROXIES",
        0,
        _count,
        "How many reverse proxies in front of the app set X-Forwarded-For/-Proto (0: none).",
    ),
    Setting(
        "FORUM_RATELIMIT_STORAGE_URI",
        "RATELIMIT_STORAGE_URI",
        "memory://",
        _str,
        "Where rate-limit counters live: `memory://` (one process) or `redis://host:6379/0`.",
    ),
    Setting(
        "FORUM_RATELIMIT_SIGN_IN",
        "RATELIMIT_SIGN_IN",
        "10 per minute;60 per hour",
        _str,
        "Sign-in attempts allowed per client address.",
    ),
    Setting(
        "FORUM_RATELIMIT_SIGN_UP",
        "RATELIMIT_SIGN_UP",
        "5 per minute;30 per hour",
        _str,
        "Sign-ups allowed per client address.",
    ),
    Setting(
        "FORUM_RATELIMIT_PASSWORD_RESET",
        "RATELIMIT_PASSWORD_RESET",
        "5 per minute;20 per hour",
        _str,
        "Password-reset requests and submissions allowed per client address.",
    ),
    Setting(
        "FORUM_RATELIMIT_TOTP",
        "RATELIMIT_TOTP",
        "10 per minute;60 per hour",
        _str,
        "Two-factor code submissions allowed per client address (the lockout is separate).",
    ),
    Setting(
        "FORUM_MAIL_BACKEND",
        "MAIL_BACKEND",
        None,
        _str,
        "`file` writes .eml files to `instance/outbox/` (development default); `smtp` sends "
        "(production default).",
    ),
    Setting(
        "FORUM_MAIL_FROM",
        "MAIL_FROM",
        "Curbside <no-reply@curbside.invalid>",
        _str,
        "From address of every message.",
    ),
    Setting("FORUM_SMTP_HOST", "SMTP_HOST", "localhost", _str, "SMTP server host."),
    Setting("FORUM_SMTP_PORT", "SMTP_PORT", 587, _int, "SMTP server port."),
    Setting(
        "FORUM_SMTP_SECURITY",
        "SMTP_SECURITY",
        "starttls",
        _str,
        "`starttls`, `tls` (implicit, usually port 465) or `none` (loopback relays only).",
    ),
    Setting(
        "FORUM_SMTP_USERNAME", "SMTP_USERNAME", None, _str, "SMTP user name, if the server asks."
    ),
    Setting("FORUM_SMTP_PASSWORD", "SMTP_PASSWORD", None, _str, "SMTP password.", secret=True),
    Setting(
        "FORUM_SMTP_TIMEOUT", "SMTP_TIMEOUT", 10, _int, "Seconds before an SMTP call gives up."
    ),
    Setting(
        "FORUM_SMTP_CA_FILE",
        "SMTP_CA_FILE",
        None,
        _str,
        "PEM bundle to trust for the SMTP server's certificate instead of the system store.",
    ),
    Setting(
        "FORUM_NPPES_API_URL",
        "NPPES_API_URL",
        None,
        _str,
        "NPPES Registry API (version 2.1) asked about an NPI missing from the registry copy, "
        "e.g. `https://npiregistry.cms.hhs.gov/api/`. Empty (default): never asked.",
    ),
    Setting(
        "FORUM_NPPES_API_TIMEOUT",
        "NPPES_API_TIMEOUT",
        3,
        _seconds,
        "Seconds before an NPPES API lookup gives up and the claim goes to a verifier.",
    ),
    Setting("FORUM_LOG_LEVEL", "LOG_LEVEL", "INFO", _str, "Python logging level."),
)


def _read_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        if raw is None or raw.strip() == "":
            values[setting.key] = setting.default
            continue
        try:
            values[setting.key] = setting.parse(raw)
        except ValueError as error:
            raise ConfigError(f"{setting.env}: {error}") from None
    return values


def _generated_secret(instance: Path, name: str, make: Callable[[], str]) -> str:
    """Read a development secret from instance/, creating it (mode 0600) the first time."""
    path = instance / name
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    value = make()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value + "\n")
    return value


def _fill_secrets(values: dict[str, Any], instance: Path) -> None:
    production = values["ENV_NAME"] == "production"
    wanted = {
        "SECRET_KEY": ("FORUM_SECRET_KEY", "secret_key", lambda: secrets.token_urlsafe(48)),
        "ENCRYPTION_KEYS": (
            "FORUM_ENCRYPTION_KEYS",
            "encryption_key",
            lambda: Fernet.generate_key().decode(),
        ),
    }
    for key, (env, filename, make) in wanted.items():
        if values.get(key):
            continue
        if production:
            raise ConfigError(f"{env} must be set when FORUM_ENV=production.")
        values[key] = _generated_secret(instance, filename, make)


def _validate(values: dict[str, Any]) -> None:
    if values["ENV_NAME"] not in ENVIRONMENTS:
        raise ConfigError(f"FORUM_ENV must be one of {', '.join(ENVIRONMENTS)}.")
    if values["SMTP_SECURITY"] not in {"starttls", "tls", "none"}:
        raise ConfigError("FORUM_SMTP_SECURITY must be starttls, tls or none.")
    if values["MAIL_BACKEND"] not in {"file", "smtp"}:
        raise ConfigError("FORUM_MAIL_BACKEND must be file or smtp.")
    if len(str(values["SECRET_KEY"])) < 32:
        raise ConfigError("FORUM_SECRET_KEY must be at least 32 characters.")
    for key in str(values["ENCRYPTION_KEYS"]).split(","):
        try:
            Fernet(key.strip())
        except ValueError:
            raise ConfigError(
                "FORUM_ENCRYPTION_KEYS holds a key that is not a Fernet key."
            ) from None
    if values["SESSION_IDLE_MINUTES"] < 1:
        raise ConfigError("FORUM_SESSION_IDLE_MINUTES must be 1 or more.")
    if values["SESSION_MAX_HOURS"] < 1:
        raise ConfigError("FORUM_SESSION_MAX_HOURS must be 1 or more.")
    _validate_nppes_api(values)


def _is_web_address(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in {"http", "https"} and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed [IPv6] bracket
        return False


def _validate_nppes_api(values: Mapping[str, Any]) -> None:
    url = values.get("NPPES_API_URL")
    if url and not _is_web_address(url):
        raise ConfigError("FORUM_NPPES_API_URL must be an http:// or https:// address.")
    timeout = values.get("NPPES_API_TIMEOUT")
    if not isinstance(timeout, int | float) or not math.isfinite(timeout) or timeout <= 0:
        raise ConfigError("FORUM_NPPES_API_TIMEOUT must be a number of seconds above 0.")


def database_url(values: Mapping[str, Any], instance: Path) -> str:
    """The SQLAlchemy URL, with psycopg 3 chosen for plain postgresql:// URLs."""
    url = values.get("DATABASE_URL") or f"sqlite:///{instance / 'curbside.sqlite3'}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load(environ: Mapping[str, str], overrides: Mapping[str, Any] | None, root: Path) -> dict:
    """All settings: environment first, then `overrides` (tests), then generated secrets."""
    values = _read_environment(environ)
    values.update(overrides or {})
    instance = Path(values.get("INSTANCE_PATH") or root / "instance")
    values["INSTANCE_PATH"] = str(instance)
    production = values["ENV_NAME"] == "production"
    if values.get("MAIL_BACKEND") is None:
        values["MAIL_BACKEND"] = "smtp" if production else "file"
    if values.get("SESSION_COOKIE_SECURE") is None:
        values["SESSION_COOKIE_SECURE"] = production or values["BASE_URL"].startswith("https:")
    _fill_secrets(values, instance)
    _validate(values)
    values["SQLALCHEMY_DATABASE_URI"] = database_url(values, instance)
    return values


def flask_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """Framework settings derived from ours; fixed by policy rather than configuration."""
    return {
        "SESSION_COOKIE_NAME": "curbside_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_PROTECTION": "strong",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": values["SESSION_COOKIE_SECURE"],
        # CSRF tokens live as long as the session, so a long case write-up never expires mid-way.
        "WTF_CSRF_TIME_LIMIT": None,
        # Four 10 MB case images and the form around them.
        "MAX_CONTENT_LENGTH": 45 * 1024 * 1024,
        "MAX_FORM_MEMORY_SIZE": 1024 * 1024,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_KEY_PREFIX": "curbside",
    }

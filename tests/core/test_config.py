"""Settings come from FORUM_* variables, fail closed in production, and stay out of the logs."""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet

from forum import ROOT, create_app
from forum.config import SETTINGS, ConfigError, Setting, load
from forum.extensions import db
from tests.conftest import (
    TEST_ENCRYPTION_KEY,
    TEST_SECRET_KEY,
    FormClient,
    Mailbox,
    base_config,
    forget_app,
)
from tests.factories import make_user

SECRET_KEY = "k" * 48


@pytest.fixture(autouse=True)
def _no_forum_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """create_app reads os.environ: start every test from a clean slate."""
    for name in list(os.environ):
        if name.startswith("FORUM_"):
            monkeypatch.delenv(name)


def production_config(tmp_path: Path, **values: str) -> dict[str, str]:
    return {
        "ENV_NAME": "production",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        **values,
    }


# --- Production fails closed --------------------------------------------------------------------


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    config = production_config(tmp_path, ENCRYPTION_KEYS=TEST_ENCRYPTION_KEY)
    with pytest.raises(ConfigError, match="FORUM_SECRET_KEY"):
        create_app(config)
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_production_refuses_to_start_without_encryption_keys(tmp_path: Path) -> None:
    config = production_config(tmp_path, SECRET_KEY=SECRET_KEY)
    with pytest.raises(ConfigError, match="FORUM_ENCRYPTION_KEYS"):
        create_app(config)
    assert not (tmp_path / "instance" / "encryption_key").exists()


def test_production_read_from_the_environment_refuses_to_start_without_secrets(
    tmp_path: Path,
) -> None:
    environ = {"FORUM_ENV": "production", "FORUM_INSTANCE_PATH": str(tmp_path)}
    with pytest.raises(ConfigError, match="FORUM_SECRET_KEY"):
        load(environ, None, tmp_path)
    with pytest.raises(ConfigError, match="FORUM_ENCRYPTION_KEYS"):
        load({**environ, "FORUM_SECRET_KEY": SECRET_KEY}, None, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_production_treats_blank_secrets_as_missing(tmp_path: Path) -> None:
    environ = {
        "FORUM_ENV": "production",
        "FORUM_INSTANCE_PATH": str(tmp_path),
        "FORUM_SECRET_KEY": "   ",
        "FORUM_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY,
    }
    with pytest.raises(ConfigError, match="FORUM_SECRET_KEY"):
        load(environ, None, tmp_path)


def test_production_starts_with_its_secrets_and_defaults_to_smtp_and_secure_cookies(
    tmp_path: Path,
) -> None:
    app = create_app(
        production_config(tmp_path, SECRET_KEY=SECRET_KEY, ENCRYPTION_KEYS=TEST_ENCRYPTION_KEY)
    )
    assert app.secret_key == SECRET_KEY
    assert app.config["MAIL_BACKEND"] == "smtp"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True


# --- Development generates its own secrets ------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "filename"), [("SECRET_KEY", "secret_key"), ("ENCRYPTION_KEYS", "encryption_key")]
)
def test_development_generates_a_secret_into_the_instance_folder_and_reuses_it(
    tmp_path: Path, key: str, filename: str
) -> None:
    instance = tmp_path / "instance"
    environ = {"FORUM_INSTANCE_PATH": str(instance)}

    first = load(environ, None, tmp_path)[key]

    path = instance / filename
    assert path.read_text().strip() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load(environ, None, tmp_path)[key] == first


def test_development_secrets_are_random_per_instance(tmp_path: Path) -> None:
    one = load({"FORUM_INSTANCE_PATH": str(tmp_path / "one")}, None, tmp_path)
    two = load({"FORUM_INSTANCE_PATH": str(tmp_path / "two")}, None, tmp_path)
    assert one["SECRET_KEY"] != two["SECRET_KEY"]
    assert one["ENCRYPTION_KEYS"] != two["ENCRYPTION_KEYS"]
    assert len(one["SECRET_KEY"]) >= 32
    Fernet(one["ENCRYPTION_KEYS"])  # a usable key


def test_development_app_signs_with_the_generated_key_across_restarts(tmp_path: Path) -> None:
    config = {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.sqlite3'}",
    }
    first = create_app(config)
    second = create_app(config)
    assert first.secret_key == second.secret_key
    assert first.secret_key == (tmp_path / "instance" / "secret_key").read_text().strip()


def test_a_given_secret_is_used_rather_than_a_generated_one(tmp_path: Path) -> None:
    values = load({"FORUM_SECRET_KEY": SECRET_KEY}, {"INSTANCE_PATH": str(tmp_path)}, tmp_path)
    assert values["SECRET_KEY"] == SECRET_KEY
    assert not (tmp_path / "secret_key").exists()


# --- Bad values say which variable is wrong -----------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FORUM_SESSION_IDLE_MINUTES", "abc"),
        ("FORUM_SESSION_IDLE_MINUTES", "0"),
        ("FORUM_SESSION_MAX_HOURS", "twelve"),
        ("FORUM_SESSION_MAX_HOURS", "-1"),
        ("FORUM_SQLITE_BUSY_TIMEOUT_MS", "5s"),
        ("FORUM_SMTP_PORT", "smtp"),
        ("FORUM_SMTP_TIMEOUT", "1.5"),
        ("FORUM_TRUSTED_PROXIES", "one"),
        ("FORUM_TRUSTED_PROXIES", "-1"),
        ("FORUM_COOKIE_SECURE", "maybe"),
        ("FORUM_ENV", "staging"),
        ("FORUM_SMTP_SECURITY", "ssl"),
        ("FORUM_MAIL_BACKEND", "pigeon"),
        ("FORUM_SECRET_KEY", "too-short"),
        ("FORUM_ENCRYPTION_KEYS", "not-a-fernet-key"),
    ],
)
def test_a_bad_value_names_its_variable(tmp_path: Path, variable: str, value: str) -> None:
    environ = {"FORUM_INSTANCE_PATH": str(tmp_path), variable: value}
    with pytest.raises(ConfigError) as raised:
        load(environ, None, tmp_path)
    assert variable in str(raised.value)


@pytest.mark.parametrize(("raw", "expected"), [("yes", True), ("off", False), (" TRUE ", True)])
def test_cookie_secure_reads_the_usual_spellings_of_a_boolean(
    tmp_path: Path, raw: str, expected: bool
) -> None:
    values = load({"FORUM_COOKIE_SECURE": raw, "FORUM_INSTANCE_PATH": str(tmp_path)}, None, ROOT)
    assert values["SESSION_COOKIE_SECURE"] is expected


def test_cookies_default_to_secure_when_the_base_url_is_https(tmp_path: Path) -> None:
    environ = {"FORUM_BASE_URL": "https://curbside.example", "FORUM_INSTANCE_PATH": str(tmp_path)}
    assert load(environ, None, tmp_path)["SESSION_COOKIE_SECURE"] is True
    environ["FORUM_BASE_URL"] = "http://127.0.0.1:5000"
    assert load(environ, None, tmp_path)["SESSION_COOKIE_SECURE"] is False


# --- Databases ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://doc@db.internal/curbside", "postgresql+psycopg://doc@db.internal/curbside"),
        (
            "postgres://doc:pw@db.internal:5433/cb",
            "postgresql+psycopg://doc:pw@db.internal:5433/cb",
        ),
        ("postgresql+psycopg://doc@db/curbside", "postgresql+psycopg://doc@db/curbside"),
        ("sqlite:////var/lib/curbside/site.db", "sqlite:////var/lib/curbside/site.db"),
    ],
)
def test_postgresql_urls_use_psycopg_3(tmp_path: Path, given: str, used: str) -> None:
    environ = {"FORUM_DATABASE_URL": given, "FORUM_INSTANCE_PATH": str(tmp_path)}
    assert load(environ, None, tmp_path)["SQLALCHEMY_DATABASE_URI"] == used


def test_the_default_database_is_sqlite_in_the_instance_folder(tmp_path: Path) -> None:
    instance = tmp_path / "somewhere"
    values = load({"FORUM_INSTANCE_PATH": str(instance)}, None, tmp_path)
    assert values["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'curbside.sqlite3'}"


def test_the_default_instance_folder_is_in_the_project(tmp_path: Path) -> None:
    values = load({}, None, tmp_path)
    assert values["INSTANCE_PATH"] == str(tmp_path / "instance")
    expected = f"sqlite:///{tmp_path / 'instance' / 'curbside.sqlite3'}"
    assert values["SQLALCHEMY_DATABASE_URI"] == expected


def test_the_app_opens_the_default_database_in_its_instance_folder(tmp_path: Path) -> None:
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance")})
    with app.app_context():
        assert db.engine.dialect.name == "sqlite"
        assert db.engine.url.database == str(tmp_path / "instance" / "curbside.sqlite3")
        db.engine.dispose()


# --- Documentation ------------------------------------------------------------------------------


def _readme_table() -> dict[str, str]:
    """FORUM_* variable -> default column, from the README's configuration table."""
    rows = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        found = re.match(r"^\|\s*`(FORUM_[A-Z_]+)`\s*\|([^|]*)\|", line)
        if found:
            rows[found.group(1)] = found.group(2).strip().strip("`")
    return rows


def test_every_setting_is_documented_in_the_readme() -> None:
    documented = _readme_table()
    missing = [s.env for s in SETTINGS if s.env not in documented]
    assert missing == []


def test_the_readme_documents_no_setting_that_does_not_exist() -> None:
    known = {s.env for s in SETTINGS}
    assert sorted(set(_readme_table()) - known) == []


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.env)
def test_the_readme_states_each_default(setting: Setting) -> None:
    expected = "" if setting.default is None else str(setting.default)
    assert _readme_table()[setting.env] == expected


# --- Secrets stay out of the logs ---------------------------------------------------------------


def test_secret_settings_are_the_keys_and_the_smtp_password() -> None:
    secret = {s.env for s in SETTINGS if s.secret}
    assert {"FORUM_SECRET_KEY", "FORUM_ENCRYPTION_KEYS", "FORUM_SMTP_PASSWORD"} <= secret


def test_secret_settings_are_never_printed_in_logs(
    tmp_path: Path,
    db_url: str,
    smtp_server: tuple[Controller, Mailbox],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    secrets = {
        "FORUM_SECRET_KEY": "sekrit-signing-key-" + "q" * 40,
        "FORUM_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "FORUM_SMTP_PASSWORD": "smtp-pass-never-logged-123",
    }
    assert {s.env for s in SETTINGS if s.secret} <= set(secrets)
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    controller, _ = smtp_server
    config = base_config(tmp_path, db_url, controller.port)
    del config["SECRET_KEY"], config["ENCRYPTION_KEYS"]
    # The test server offers no AUTH, so logging in with the password fails, and is logged.
    config.update(LOG_LEVEL="DEBUG", SMTP_USERNAME="relay-user")
    caplog.set_level(logging.DEBUG)

    app = create_app(config)
    app.test_client_class = FormClient
    with app.app_context():
        db.create_all()
        member = make_user()
    try:
        client = app.test_client()
        client.get("/no-such-page")
        client.post("/sign-in", data={"email": member.email, "password": "wrong password!"})
        client.post("/password/forgot", data={"email": member.email})  # mail fails: logged
        client.post("/sign-in", data={"email": member.email}, csrf=False)
    finally:
        forget_app(app)
    with pytest.raises(ConfigError) as raised:
        load({"FORUM_ENCRYPTION_KEYS": "leaky-" + secrets["FORUM_SMTP_PASSWORD"]}, None, tmp_path)

    assert "Mail could not be sent: SMTPNotSupportedError" in caplog.text  # the login was tried
    printed = caplog.text + capfd.readouterr().err + str(raised.value)
    for name, value in secrets.items():
        assert value not in printed, name
    assert TEST_SECRET_KEY not in printed

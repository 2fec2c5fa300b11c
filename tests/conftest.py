"""Shared fixtures: a fresh app and database per test, on SQLite and PostgreSQL, and real SMTP.

Database tests run twice, once per engine. Set CURBSIDE_TEST_DATABASES=sqlite to run only
SQLite locally; the README's test command and CI always run both.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
import time_machine
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer

from forum import create_app
from forum.accounts import totp
from forum.extensions import db

PG_ADMIN_URL = os.environ.get("CURBSIDE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASES = os.environ.get("CURBSIDE_TEST_DATABASES", "sqlite,postgresql").split(",")
TEST_SECRET_KEY = "test-secret-key-" + "x" * 40
TEST_ENCRYPTION_KEY = "kC2bFZ6p8Q0v0jv0k0l7z9mH1wq3sXyYtq7fJm0YV8E="


# --- SMTP ---------------------------------------------------------------------------------------


@dataclass
class Mailbox:
    """What the loopback SMTP server received, and addresses it should refuse."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.envelopes.clear()
            self.refuse.clear()

    def to(self, address: str) -> list[EmailMessage]:
        """Messages addressed to `address`, oldest first."""
        with self.lock:
            return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    def last_to(self, address: str) -> EmailMessage:
        found = self.to(address)
        assert found, f"no mail to {address}; got {[str(m['To']) for m in self.messages]}"
        return found[-1]


class _Handler:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.mailbox.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.mailbox.lock:
            self.mailbox.messages.append(message)  # type: ignore[arg-type]
            self.mailbox.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[Controller, Mailbox]]:
    mailbox = Mailbox()
    controller = Controller(_Handler(mailbox), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, mailbox
    controller.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[Controller, Mailbox]) -> Mailbox:
    _, box = smtp_server
    box.clear()
    return box


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def first_link(message: EmailMessage) -> str:
    found = re.search(r"https?://\S+", body_text(message))
    assert found, "no link in the message"
    return found.group(0)


# --- Databases ----------------------------------------------------------------------------------


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def create_pg_database(prefix: str = "curbside_test") -> str:
    """A new, empty PostgreSQL database; returns its URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return _pg_url(name)


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """One PostgreSQL database for the session; tests empty it after themselves."""
    url = create_pg_database()
    yield url
    drop_pg_database(url)


def base_config(tmp_path: Path, database_url: str, smtp_port: int) -> dict[str, Any]:
    return {
        "ENV_NAME": "development",
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET_KEY,
        "ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "BASE_URL": "http://curbside.example",
        "MAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_port,
        "SMTP_SECURITY": "none",
        "PASSWORD_HASH_PROFILE": "CHEAPEST",
        "RATELIMIT_STORAGE_URI": "memory://",
    }


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    return request.getfixturevalue("pg_database")


def forget_app(app: Flask) -> None:
    """Empty the tables (PostgreSQL is shared by the session) and close the connections."""
    with app.app_context():
        db.session.remove()
        engine = db.engine
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            with engine.begin() as connection:
                connection.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                # The search documents live outside the models' metadata (forum/search/pg_backend).
                connection.execute(sa.text("DROP TABLE IF EXISTS search_document"))
        engine.dispose()


def make_app(tmp_path: Path, db_url: str, smtp_port: int, **overrides: Any) -> Flask:
    """An app on the given database with its tables created."""
    app = create_app({**base_config(tmp_path, db_url, smtp_port), **overrides})
    app.test_client_class = FormClient
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture
def app(tmp_path: Path, db_url: str, smtp_server: tuple[Controller, Mailbox]) -> Iterator[Flask]:
    controller, _ = smtp_server
    application = make_app(tmp_path, db_url, controller.port)
    yield application
    forget_app(application)


@pytest.fixture
def app_context(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


# --- Clients ------------------------------------------------------------------------------------


class FormClient(FlaskClient):
    """A test client whose POSTs carry a valid CSRF token unless told otherwise."""

    def csrf_token(self) -> str:
        with self.session_transaction() as session:
            raw = session.setdefault("csrf_token", secrets.token_hex(20))
        serializer = URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token")
        return serializer.dumps(raw)

    def post(self, *args: Any, csrf: bool = True, **kwargs: Any) -> Any:
        data = kwargs.get("data")
        if csrf and isinstance(data, dict) and "csrf_token" not in data:
            kwargs["data"] = {**data, "csrf_token": self.csrf_token()}
        elif csrf and data is None:
            kwargs["data"] = {"csrf_token": self.csrf_token()}
        return super().post(*args, **kwargs)


@pytest.fixture
def client(app: Flask) -> FormClient:
    return app.test_client()  # type: ignore[return-value]


@pytest.fixture
def build_app(
    db_url: str, tmp_path: Path, smtp_server: tuple[Controller, Mailbox]
) -> Iterator[Callable[..., Flask]]:
    """Make more apps on the test's database (another worker, other settings); tidied after."""
    controller, _ = smtp_server
    made: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        application = make_app(tmp_path, db_url, controller.port, **overrides)
        made.append(application)
        return application

    yield build
    for application in made:
        forget_app(application)


@pytest.fixture
def early_in_a_totp_step() -> Iterator[None]:
    """Start one second into a fresh 30-second step.

    sign_in() types the oldest code the server still accepts; a step boundary between typing
    and checking would make it stale. Suites that sign in make this autouse.
    """
    step = int(datetime.now(UTC).timestamp()) // totp.STEP_SECONDS + 1
    start = datetime.fromtimestamp(step * totp.STEP_SECONDS + 1, UTC)
    with time_machine.travel(start, tick=True):
        yield


def wait_until(condition: Any, timeout: float = 5.0) -> Any:
    """Poll until condition() is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")

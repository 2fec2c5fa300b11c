"""Fault tests: the real server (gunicorn) and the real CLI run as processes and are killed.

Each test has a database of its own, a SQLite file or a PostgreSQL database made for it, since
a killed process leaves connections and locks behind that a shared database would inherit. The
processes are configured through FORUM_* variables as a deployment is; the test process seeds
and inspects the same database through an app of its own, and watches counts on a plain
connection (an app context would take SQLite's write lock, see forum._configure_sqlite).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pyotp
import pytest
import sqlalchemy as sa
import time_machine
from aiosmtpd.controller import Controller
from flask import Flask

from forum.cases.communities import ensure_communities
from forum.config import database_url
from forum.digest.schedule import Schedule, week_of
from forum.extensions import db, utcnow
from tests.cases.conftest import Kit
from tests.conftest import (
    DATABASES,
    TEST_ENCRYPTION_KEY,
    TEST_SECRET_KEY,
    Mailbox,
    _Handler,
    create_pg_database,
    drop_pg_database,
    free_port,
    make_app,
    wait_until,
)
from tests.factories import Member

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SESSION_COOKIE = "curbside_session"
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
# libpq names the children's connections so that a test can wait for them to be gone.
CHILD_APPLICATION = "curbside-faults-child"
# A loaded machine imports the app slowly; the wait ends as soon as it answers.
STARTUP_SECONDS = 60.0


# --- Processes ----------------------------------------------------------------------------------


@dataclass
class Process:
    """A command in a process group of its own, so a kill reaches its children too."""

    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group: no handler, no cleanup, as a power cut or the OOM killer."""
        with contextlib.suppress(ProcessLookupError):  # the group is gone already
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Server:
    """gunicorn serving the app on a loopback port."""

    process: Process
    port: int


# --- HTTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """What the server answered."""

    status: int
    location: str
    body: str


@dataclass
class Browser:
    """One member's session over plain HTTP: a cookie and the current CSRF token."""

    port: int
    cookie: str | None = None
    csrf: str | None = None

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Reply:
        """Send one request on a new connection; raises OSError when the server is gone."""
        headers = {"Connection": "close", "User-Agent": "curbside-faults/1"}
        if self.cookie:
            headers["Cookie"] = f"{SESSION_COOKIE}={self.cookie}"
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read().decode()
        finally:
            connection.close()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie" and value.startswith(SESSION_COOKIE + "="):
                self.cookie = value.split(";", 1)[0].split("=", 1)[1] or None
        found = _CSRF.search(data)
        if found:
            self.csrf = found[1]
        return Reply(response.status, response.getheader("Location", ""), data)

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, form: dict[str, str]) -> Reply:
        """A form submission carrying the session's CSRF token."""
        assert self.csrf, "load a page with a form first"
        return self.request("POST", path, {"csrf_token": self.csrf, **form})


def sign_in(port: int, member: Member) -> Browser:
    """Both steps through the real forms, as a member's browser does."""
    assert member.totp_secret
    browser = Browser(port)
    browser.get("/sign-in")
    step = browser.post("/sign-in", {"email": member.email, "password": member.password})
    assert step.status == 302, step
    assert "/two-factor" in step.location, step
    browser.get("/two-factor")
    done = browser.post("/two-factor", {"code": pyotp.TOTP(member.totp_secret).now()})
    assert done.status == 302, done
    return browser


def answers(port: int, path: str = "/sign-in") -> int | None:
    """The status of a GET, or None while nothing listens."""
    try:
        return Browser(port).get(path).status
    except OSError:
        return None


# --- SMTP ---------------------------------------------------------------------------------------


class _SlowHandler(_Handler):
    """Takes each message, then pauses before saying so: a crash in between is the worst case.
    Addresses in `later` are turned down for now (450), as a greylisting server does."""

    def __init__(self, mailbox: Mailbox, delay: float, later: set[str]) -> None:
        super().__init__(mailbox)
        self.delay = delay
        self.later = later

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.later:
            return "450 4.2.1 Try again later"
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(self.delay)
        return answer


@dataclass
class SmtpSink:
    """A loopback SMTP server on a fixed port that a test can stop and start again."""

    port: int
    delay: float = 0.0
    mailbox: Mailbox = field(default_factory=Mailbox)
    later: set[str] = field(default_factory=set)
    controller: Controller | None = None

    def start(self) -> None:
        handler = _SlowHandler(self.mailbox, self.delay, self.later)
        self.controller = Controller(handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def count(self) -> int:
        with self.mailbox.lock:
            return len(self.mailbox.messages)

    def per_recipient(self) -> dict[str, list[str]]:
        """Message-IDs received, by recipient address."""
        found: dict[str, list[str]] = {}
        with self.mailbox.lock:
            for message in self.mailbox.messages:
                found.setdefault(str(message["To"]).lower(), []).append(str(message["Message-ID"]))
        return found


# --- Content -----------------------------------------------------------------------------------


def last_week() -> tuple[str, datetime]:
    """The ISO week before this one, and its default send moment (Monday 07:00 UTC)."""
    week = week_of((utcnow() - timedelta(days=7)).date())
    return week, Schedule().send_at(week)


def busy_week(kit: Kit, send_at: datetime) -> tuple[Member, Member]:
    """Two cardiologists, and a discussion with a reply in the week a digest sent at `send_at`
    covers: something for every cardiologist's digest."""
    with kit.app.app_context():
        ensure_communities()
    author, colleague = kit.member(), kit.member()
    with time_machine.travel(send_at - timedelta(days=2), tick=False):
        thread_id = kit.discussion(author, title="Anticoagulation after a fall at home")
        kit.reply(colleague, thread_id, "Weigh the bleeding risk against the stroke risk.")
    return author, colleague


# --- The site: a database, its app, and the processes run against it ----------------------------


@dataclass
class Site:
    """One database with the app's tables, and the means to run the server and CLI on it."""

    kind: str
    url: str
    folder: Path
    smtp_port: int
    app: Flask
    watcher: sa.Engine
    processes: list[Process] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """The deployment's settings, as FORUM_* variables."""
        return {
            **os.environ,
            "FORUM_ENV": "development",
            "FORUM_SECRET_KEY": TEST_SECRET_KEY,
            "FORUM_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY,
            "FORUM_DATABASE_URL": self.url,
            "FORUM_INSTANCE_PATH": str(self.folder / "instance"),
            "FORUM_BASE_URL": "http://curbside.example",
            "FORUM_MAIL_BACKEND": "smtp",
            "FORUM_SMTP_HOST": "127.0.0.1",
            "FORUM_SMTP_PORT": str(self.smtp_port),
            "FORUM_SMTP_SECURITY": "none",
            "FORUM_LOG_LEVEL": "WARNING",
            # Every member signs in from 127.0.0.1; per-address limits are not under test here.
            "FORUM_RATELIMIT_SIGN_IN": "10000 per minute",
            "FORUM_RATELIMIT_TOTP": "10000 per minute",
            "PGAPPNAME": CHILD_APPLICATION,
        }

    def _spawn(self, command: list[str], name: str) -> Process:
        log = self.folder / f"{name}-{len(self.processes)}.log"
        with log.open("wb") as handle:
            popen = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = Process(popen, log)
        self.processes.append(process)
        return process

    def spawn(self, *args: str) -> Process:
        """`flask --app app ARGS` in the background."""
        return self._spawn([str(BIN / "flask"), "--app", "app", *args], "flask")

    def flask(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`flask --app app ARGS` to the end: its exit code and output."""
        return subprocess.run(
            [str(BIN / "flask"), "--app", "app", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def serve(self, port: int | None = None, workers: int = 2) -> Server:
        """gunicorn with sync workers, as the README deploys it; returns once it answers."""
        port = port or free_port()
        command = [
            str(BIN / "gunicorn"), "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
            # No control socket: its default path is shared by every gunicorn of the user.
            "--no-control-socket", "app:app",
        ]  # fmt: skip
        process = self._spawn(command, "gunicorn")

        def up() -> bool:
            assert process.alive(), f"gunicorn stopped:\n{process.output()}"
            return answers(port) == 200

        wait_until(up, timeout=STARTUP_SECONDS)
        return Server(process, port)

    def scalar(self, sql: str, **params: Any) -> Any:
        """One value, read on a connection of the test's own (no app, no locks held after)."""
        with self.watcher.connect() as connection:
            return connection.execute(sa.text(sql), params).scalar()

    def child_connections(self) -> int:
        """PostgreSQL sessions the server and CLI processes still hold (0 on SQLite)."""
        if self.kind != "postgresql":
            return 0
        return int(
            self.scalar(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = :name",
                name=CHILD_APPLICATION,
            )
        )

    def settle(self) -> None:
        """Wait until the killed processes' database sessions have ended (PostgreSQL rolls
        back what each had not committed as it notices its client is gone)."""
        wait_until(lambda: self.child_connections() == 0, timeout=30)

    def close(self) -> None:
        for process in self.processes:
            process.kill()
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()
        self.watcher.dispose()


@pytest.fixture(params=DATABASES)
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    """A fresh database of the parametrised kind with the app's tables; tidied after."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'site.sqlite3'}"
    else:
        url = create_pg_database("curbside_faults")
    smtp_port = free_port()
    try:
        app = make_app(tmp_path, url, smtp_port)
        instance = Path(app.instance_path)
        watcher = sa.create_engine(database_url({"DATABASE_URL": url}, instance))
        made = Site(request.param, url, tmp_path, smtp_port, app, watcher)
        yield made
        made.close()
    finally:
        if request.param != "sqlite":
            drop_pg_database(url)

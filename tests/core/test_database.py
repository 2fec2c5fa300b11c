"""The databases: SQLite's connection settings, UTC timestamps, and migrations in step."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from forum import ROOT
from forum.access import public
from forum.accounts.models import RecoveryCode, User
from forum.audit import AuditEvent
from forum.extensions import db, writes_on_get
from tests.conftest import (
    DATABASES,
    TEST_ENCRYPTION_KEY,
    TEST_SECRET_KEY,
    create_pg_database,
    drop_pg_database,
)
from tests.factories import make_user

# --- SQLite connection settings -----------------------------------------------------------------


@pytest.fixture
def sqlite_app(build_app: Callable[..., Flask]) -> Flask:
    return build_app(SQLITE_BUSY_TIMEOUT_MS=4321)


def _pragma(name: str) -> object:
    with db.engine.connect() as connection:
        return connection.exec_driver_sql(f"PRAGMA {name}").scalar()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_runs_in_wal_mode(sqlite_app: Flask) -> None:
    with sqlite_app.app_context():
        assert _pragma("journal_mode") == "wal"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_waits_for_the_configured_busy_timeout(sqlite_app: Flask) -> None:
    with sqlite_app.app_context():
        assert _pragma("busy_timeout") == 4321


def _begins_for(application: Flask, method: str, path: str) -> list[str]:
    """The BEGIN statements SQLite saw while one request ran."""
    seen: list[str] = []
    with application.app_context():
        engine = db.engine

    def capture(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.startswith("BEGIN"):
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        application.test_client().open(path, method=method)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    return seen


def _add_touching_routes(application: Flask) -> None:
    def touch() -> str:
        db.session.scalar(sa.select(sa.func.count()).select_from(User))
        return "ok"

    application.add_url_rule("/_touch", "touch", public(touch), methods=["GET", "POST"])
    writer = public(writes_on_get(lambda: touch()))
    application.add_url_rule("/_touch_writes", "touch_writes", writer)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_reads_defer_and_writes_lock_when_their_transaction_begins(
    build_app: Callable[..., Flask],
) -> None:
    application = build_app(WTF_CSRF_ENABLED=False)
    _add_touching_routes(application)
    assert _begins_for(application, "GET", "/_touch") == ["BEGIN"]
    assert _begins_for(application, "POST", "/_touch") == ["BEGIN IMMEDIATE"]
    assert _begins_for(application, "GET", "/_touch_writes") == ["BEGIN IMMEDIATE"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_enforces_foreign_keys(sqlite_app: Flask) -> None:
    with sqlite_app.app_context():
        assert _pragma("foreign_keys") == 1


def test_a_row_pointing_at_a_missing_member_is_refused(app: Flask) -> None:
    with app.app_context():
        db.session.add(RecoveryCode(user_id=999_999, code_hash="0" * 64))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()
        db.session.rollback()


# --- Timestamps ---------------------------------------------------------------------------------


def test_timestamps_come_back_timezone_aware_in_utc(app: Flask) -> None:
    with app.app_context():
        member = make_user()
        db.session.remove()
        user = db.session.get(User, member.id)
        assert user is not None
        for value in (user.created_at, user.email_confirmed_at, user.totp_confirmed_at):
            assert value is not None
            assert value.tzinfo is not None
            assert value.utcoffset() == timedelta(0)


def test_a_time_in_another_zone_is_stored_as_the_same_instant_in_utc(app: Flask) -> None:
    moment = datetime(2025, 3, 9, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    with app.app_context():
        member = make_user()
        user = db.session.get(User, member.id)
        assert user is not None
        user.last_sign_in_at = moment
        db.session.commit()
        db.session.remove()

        stored = db.session.get(User, member.id)
        assert stored is not None
        assert stored.last_sign_in_at == moment
        assert stored.last_sign_in_at == datetime(2025, 3, 10, 4, 30, tzinfo=UTC)
        assert stored.last_sign_in_at.utcoffset() == timedelta(0)


def test_a_naive_timestamp_is_refused(app: Flask) -> None:
    with app.app_context():
        member = make_user()
        user = db.session.get(User, member.id)
        assert user is not None
        user.last_sign_in_at = datetime(2025, 1, 1, 12, 0)
        with pytest.raises(sa.exc.StatementError, match="naive datetime"):
            db.session.commit()
        db.session.rollback()


def test_audit_timestamps_come_back_timezone_aware_in_utc(app: Flask) -> None:
    with app.app_context():
        db.session.add(AuditEvent(action="test.clock", details={}))
        db.session.commit()
        db.session.remove()
        event = db.session.scalars(sa.select(AuditEvent)).one()
        assert event.created_at.utcoffset() == timedelta(0)
        assert abs(datetime.now(UTC) - event.created_at) < timedelta(hours=1)


# --- Migrations ---------------------------------------------------------------------------------


@pytest.fixture(params=DATABASES)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all, of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    url = create_pg_database("curbside_migrate")
    yield url
    drop_pg_database(url)


def flask_command(database_url: str, instance: Path, *args: str) -> subprocess.CompletedProcess:
    """Run `flask --app app ...` in a child process, configured only by FORUM_* variables."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FORUM_")}
    environ.update(
        FORUM_DATABASE_URL=database_url,
        FORUM_INSTANCE_PATH=str(instance),
        FORUM_SECRET_KEY=TEST_SECRET_KEY,
        FORUM_ENCRYPTION_KEYS=TEST_ENCRYPTION_KEY,
    )
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _engine_for(url: str) -> sa.Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sa.create_engine(url)


def test_migrations_build_a_fresh_database_that_matches_the_models(
    empty_database: str, tmp_path: Path
) -> None:
    upgrade = flask_command(empty_database, tmp_path / "instance", "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr

    check = flask_command(empty_database, tmp_path / "instance", "db", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr

    engine = _engine_for(empty_database)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"user_account", "recovery_code", "audit_event", "alembic_version"} <= tables


def test_migrations_go_down_to_nothing_and_up_again(empty_database: str, tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    for args in (("db", "upgrade"), ("db", "downgrade", "base"), ("db", "upgrade")):
        done = flask_command(empty_database, instance, *args)
        assert done.returncode == 0, f"{args}: {done.stderr}"
    check = flask_command(empty_database, instance, "db", "check")
    assert "No new upgrade operations detected" in check.stdout + check.stderr


def test_a_migrated_database_refuses_to_change_or_delete_audit_events(
    empty_database: str, tmp_path: Path
) -> None:
    upgrade = flask_command(empty_database, tmp_path / "instance", "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    engine = _engine_for(empty_database)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO audit_event (created_at, action, details) "
                    "VALUES (:when, 'test.kept', '{}')"
                ),
                {"when": datetime(2025, 1, 1, tzinfo=UTC)},
            )
        for statement in (
            "UPDATE audit_event SET action = 'test.rewritten'",
            "DELETE FROM audit_event",
        ):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as c:
                c.exec_driver_sql(statement)
        with engine.connect() as connection:
            actions = connection.exec_driver_sql("SELECT action FROM audit_event").scalars().all()
        assert actions == ["test.kept"]
    finally:
        engine.dispose()

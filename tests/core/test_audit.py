"""The audit log: written with what it records, free of secrets, and never rewritten."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from forum import audit
from forum.accounts.models import User
from forum.audit import AuditEvent
from forum.extensions import db
from tests.core.helpers import audit_rows
from tests.factories import make_user


def a_member() -> User:
    """A member loaded in the current app context."""
    user = db.session.get(User, make_user().id)
    assert user is not None
    return user


def test_an_event_is_written_when_the_caller_commits(app: Flask) -> None:
    with app.app_context():
        user = a_member()
        event = audit.record(user, "test.recorded", user, reason="testing")
        db.session.commit()
        assert event.id is not None

    with app.app_context():
        (stored,) = audit_rows("test.recorded")
        assert stored.actor_id == stored.target_id
        assert stored.target_type == "user_account"
        assert stored.details == {"reason": "testing"}
        assert stored.ip is None  # recorded from the shell, not a request


def test_an_event_is_discarded_with_the_transaction_it_belongs_to(app: Flask) -> None:
    with app.app_context():
        user = a_member()
        user_id = user.id
        user.display_name = "Dr Changed"
        audit.record(user, "test.rolled_back", user)
        db.session.rollback()

    with app.app_context():
        assert audit_rows("test.rolled_back") == []
        unchanged = db.session.get(User, user_id)
        assert unchanged is not None
        assert unchanged.display_name != "Dr Changed"


def test_a_request_records_where_it_came_from(app: Flask) -> None:
    with app.test_request_context(
        "/", environ_base={"REMOTE_ADDR": "192.0.2.7"}, headers={"User-Agent": "ClinicBrowser/1"}
    ):
        event = audit.record(None, "test.from_request")
        db.session.commit()
        assert (event.ip, event.user_agent) == ("192.0.2.7", "ClinicBrowser/1")


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "new_password",
        "PasswordHash",
        "token",
        "reset_token",
        "secret",
        "totp_secret",
        "code",
        "recovery_code",
        "otp",
    ],
)
def test_details_that_would_carry_a_secret_are_refused(app: Flask, key: str) -> None:
    with app.app_context():
        with pytest.raises(ValueError, match="secrets"):
            audit.record(None, "test.leaky", **{key: "hunter2"})
        db.session.commit()
        assert audit_rows("test.leaky") == []


def test_ordinary_details_are_kept(app: Flask) -> None:
    with app.app_context():
        audit.record(None, "test.details", role="moderator", minutes=15, reason="wrong password")
        db.session.commit()
        (event,) = audit_rows("test.details")
        assert event.details == {"role": "moderator", "minutes": 15, "reason": "wrong password"}


# --- Append-only --------------------------------------------------------------------------------


def _one_event() -> int:
    event = audit.record(None, "test.original", note="first")
    db.session.commit()
    return event.id


def test_the_orm_refuses_to_change_an_event(app: Flask) -> None:
    with app.app_context():
        event_id = _one_event()
        event = db.session.get(AuditEvent, event_id)
        assert event is not None
        event.action = "test.rewritten"
        with pytest.raises(RuntimeError, match="append-only"):
            db.session.commit()
        db.session.rollback()
        assert [e.action for e in audit_rows()] == ["test.original"]


def test_the_orm_refuses_to_delete_an_event(app: Flask) -> None:
    with app.app_context():
        event_id = _one_event()
        event = db.session.get(AuditEvent, event_id)
        db.session.delete(event)
        with pytest.raises(RuntimeError, match="append-only"):
            db.session.commit()
        db.session.rollback()
        assert [e.id for e in audit_rows()] == [event_id]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET action = 'test.rewritten'",
        "UPDATE audit_event SET details = '{}'",
        "DELETE FROM audit_event",
    ],
)
def test_the_database_refuses_to_change_or_delete_events(app: Flask, statement: str) -> None:
    # The tables here come from create_all, not the migrations: they must carry the triggers too.
    with app.app_context():
        _one_event()
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            db.session.execute(sa.text(statement))
        db.session.rollback()
        (event,) = audit_rows()
        assert (event.action, event.details) == ("test.original", {"note": "first"})


def test_a_bulk_orm_update_is_refused_by_the_database(app: Flask) -> None:
    with app.app_context():
        _one_event()
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            db.session.execute(sa.update(AuditEvent).values(action="test.rewritten"))
        db.session.rollback()
        assert [e.action for e in audit_rows()] == ["test.original"]


def test_new_events_can_still_be_added_after_a_refusal(app: Flask) -> None:
    with app.app_context():
        _one_event()
        with pytest.raises(sa.exc.DBAPIError):
            db.session.execute(sa.text("DELETE FROM audit_event"))
        db.session.rollback()
        audit.record(None, "test.later")
        db.session.commit()
        assert [e.action for e in audit_rows()] == ["test.original", "test.later"]

"""Append-only audit events, written in the same transaction as what they record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import has_request_context, request
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum.accounts.models import User
from forum.extensions import Model, UTCDateTime, db, utcnow

# Detail keys that would carry a secret; record() refuses them outright.
_FORBIDDEN_DETAIL_WORDS = ("password", "secret", "token", "code", "otp")


class AuditEvent(Model):
    """Who did what to which record, from where, and when."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(sa.String(32))
    target_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    user_agent: Mapped[str | None] = mapped_column(sa.String(255))
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    actor: Mapped[User | None] = relationship()

    __table_args__ = (sa.Index("ix_audit_event_target", "target_type", "target_id"),)


def _target_of(target: Any) -> tuple[str | None, int | None]:
    if target is None:
        return None, None
    table = getattr(target, "__tablename__", type(target).__name__.lower())
    return str(table), getattr(target, "id", None)


def record(
    actor: User | None, action: str, target: Any = None, keep_origin: bool = True, **details: Any
) -> AuditEvent:
    """Add an audit event to the current transaction; the caller's commit writes it. The
    request's address and browser are kept unless keep_origin is False (an anonymous act)."""
    for key in details:
        if any(word in key.lower() for word in _FORBIDDEN_DETAIL_WORDS):
            raise ValueError(f"audit details must not carry secrets ({key})")
    target_type, target_id = _target_of(target)
    event = AuditEvent(
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=details,
        created_at=utcnow(),
    )
    if keep_origin and has_request_context():
        event.ip = request.remote_addr
        event.user_agent = (request.user_agent.string or "")[:255] or None
    db.session.add(event)
    return event


@sa.event.listens_for(AuditEvent, "before_update")
def _refuse_update(*_: Any) -> None:
    raise RuntimeError("audit events are append-only")


@sa.event.listens_for(AuditEvent, "before_delete")
def _refuse_delete(*_: Any) -> None:
    raise RuntimeError("audit events are append-only")


# The database refuses changes too, so no code path (or stray SQL) can rewrite history.
_TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event "
        "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
        "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event "
        "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$",
        "CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()",
    ],
}


def append_only_ddl(dialect: str) -> list[str]:
    """The statements that make audit_event append-only on this database (for migrations)."""
    return _TRIGGERS.get(dialect, [])


@sa.event.listens_for(AuditEvent.__table__, "after_create")
def _create_triggers(_table: sa.Table, connection: sa.Connection, **_: Any) -> None:
    for statement in append_only_ddl(connection.dialect.name):
        connection.exec_driver_sql(statement)

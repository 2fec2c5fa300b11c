"""Queries behind the administration pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from forum.accounts.models import User
from forum.audit import AuditEvent
from forum.extensions import db

PAGE_SIZE = 50


@dataclass(frozen=True)
class AuditFilter:
    """What an admin narrowed the audit log to; empty fields match everything."""

    action: str = ""
    actor: str = ""
    target: str = ""
    ip: str = ""
    since: date | None = None
    until: date | None = None


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _actor_clause(actor: str) -> sa.ColumnElement[bool]:
    actor = actor.strip()
    if actor.startswith("#") and actor[1:].isdigit():
        return AuditEvent.actor_id == int(actor[1:])
    emails = sa.select(User.id).where(User.email == actor.lower())
    return AuditEvent.actor_id.in_(emails)


def _target_clause(target: str) -> sa.ColumnElement[bool]:
    kind, _, ident = target.strip().partition(":")
    clause = AuditEvent.target_type == kind
    if ident.isdigit():
        clause = sa.and_(clause, AuditEvent.target_id == int(ident))
    return clause


def audit_events(chosen: AuditFilter, before_id: int | None) -> list[AuditEvent]:
    """One page of audit events, newest first, with their actors loaded in the same query."""
    query = sa.select(AuditEvent).options(joinedload(AuditEvent.actor))
    if chosen.action:
        query = query.where(AuditEvent.action == chosen.action)
    if chosen.actor:
        query = query.where(_actor_clause(chosen.actor))
    if chosen.target:
        query = query.where(_target_clause(chosen.target))
    if chosen.ip:
        query = query.where(AuditEvent.ip == chosen.ip.strip())
    if chosen.since:
        query = query.where(AuditEvent.created_at >= _start_of(chosen.since))
    if chosen.until:
        query = query.where(AuditEvent.created_at < _start_of(chosen.until + timedelta(days=1)))
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    query = query.order_by(AuditEvent.id.desc()).limit(PAGE_SIZE + 1)
    return list(db.session.scalars(query))


def audit_actions() -> list[str]:
    """Every action the log holds, for the filter's menu."""
    return list(db.session.scalars(sa.select(AuditEvent.action).distinct().order_by("action")))


def find_members(text: str, before_id: int | None) -> list[User]:
    """Members whose address or names contain the text, newest first."""
    query = sa.select(User)
    text = text.strip().lower()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            sa.or_(
                User.email.like(pattern, escape="\\"),
                User.display_name_key.like(pattern, escape="\\"),
                sa.func.lower(User.last_name).like(pattern, escape="\\"),
            )
        )
    if before_id is not None:
        query = query.where(User.id < before_id)
    return list(db.session.scalars(query.order_by(User.id.desc()).limit(PAGE_SIZE + 1)))

"""The member's side: the list, the unread count, marking read, preferences, and poll closings.

Notification titles are clinical content: members who are not verified physicians (yet, or any
longer) see only the kinds that are not (their verification decisions).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import url_for

from forum.accounts.models import Role, User
from forum.cases.models import Poll, Thread, Visibility
from forum.extensions import db, utcnow
from forum.notifications import fanout
from forum.notifications.models import (
    CLINICAL_KINDS,
    KIND_RULES,
    Channel,
    Kind,
    Notification,
    NotificationPreference,
)
from forum.notifications.texts import describe

log = logging.getLogger(__name__)

PAGE_SIZE = 20
MAX_PAGE = 500


@dataclass(frozen=True)
class Row:
    """One notification as the list shows it."""

    id: int
    text: str
    reason: str | None
    link: str
    created_at: datetime
    unread: bool


@dataclass(frozen=True)
class Listing:
    """One page of a member's notifications, newest first."""

    rows: list[Row]
    page: int
    has_next: bool


def _visible(member: User, clinical: bool) -> sa.ColumnElement[bool]:
    """The member's notifications they may see now (clinical kinds for physicians only)."""
    mine = Notification.user_id == member.id
    return mine if clinical else sa.and_(mine, Notification.kind.not_in(CLINICAL_KINDS))


def unread_count(member: User, *, clinical: bool) -> int:
    """How many of the member's notifications are unread (the header badge)."""
    query = sa.select(sa.func.count(Notification.id)).where(
        _visible(member, clinical), Notification.read_at.is_(None)
    )
    return int(db.session.scalar(query) or 0)


def _title(member: User, kind: str, title: str | None, visibility: str | None, author: int) -> str:
    """The thread's title while every member may read it; otherwise no title at all."""
    if title is not None and visibility == Visibility.PUBLISHED:
        return title
    if author == member.id or member.has_role(Role.MODERATOR):
        return "your thread" if author == member.id else "a held thread"
    return "a thread no longer shown"


def _link(notification: Notification) -> str:
    if notification.kind == Kind.VERIFICATION:
        return url_for("verification.status")
    if notification.kind == Kind.OUTCOME_REMINDER:
        return url_for("cases.outcome", thread_id=notification.thread_id)
    if notification.post_id is not None and notification.kind != Kind.SPECIALTY_ALERT:
        return url_for("cases.jump", post_id=notification.post_id)
    return url_for("cases.thread", thread_id=notification.thread_id)


def page(member: User, number: int, *, clinical: bool) -> Listing:
    """One page of the member's notifications, newest first, text built from title and kind."""
    query = (
        sa.select(Notification, Thread.title, Thread.visibility, Thread.author_id)
        .outerjoin(Thread, Thread.id == Notification.thread_id)
        .where(_visible(member, clinical))
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .offset((number - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    )
    rows: list[Row] = []
    for notification, title, visibility, author in db.session.execute(query):
        shown = _title(member, notification.kind, title, visibility, author)
        rows.append(
            Row(
                id=notification.id,
                text=describe(
                    notification.kind, shown, notification.actor_label, notification.decision
                ),
                reason=notification.reason,
                link=_link(notification),
                created_at=notification.created_at,
                unread=notification.is_unread,
            )
        )
    return Listing(rows[:PAGE_SIZE], number, len(rows) > PAGE_SIZE)


def mark_read(member: User, notification_id: int) -> bool:
    """Mark one of the member's notifications read; False when there is no such one; commits."""
    if not 0 < notification_id < 2**31:
        return False
    found = db.session.scalar(
        sa.select(Notification.id).where(
            Notification.id == notification_id, Notification.user_id == member.id
        )
    )
    if found is None:
        return False
    db.session.execute(
        sa.update(Notification)
        .where(Notification.id == notification_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    db.session.commit()
    return True


def mark_all_read(member: User, *, clinical: bool) -> int:
    """Mark every notification the member can see read; returns how many changed; commits."""
    changed = db.session.execute(
        sa.update(Notification)
        .where(_visible(member, clinical), Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    db.session.commit()
    return int(getattr(changed, "rowcount", 0) or 0)


# --- Preferences ---------------------------------------------------------------------------------


def preferences(member: User) -> dict[Kind, Channel]:
    """The member's channel for every kind (the default where they chose nothing)."""
    stored = dict(
        db.session.execute(
            sa.select(NotificationPreference.kind, NotificationPreference.channel).where(
                NotificationPreference.user_id == member.id
            )
        ).all()
    )
    return {kind: fanout.channel_for(stored.get(str(kind)), kind) for kind in Kind}


def set_preferences(member: User, choices: Mapping[Kind, Channel]) -> None:
    """Store the member's channel for each kind given (only channels the kind offers); commits."""
    for kind, channel in choices.items():
        if channel not in KIND_RULES[kind].channels:
            raise ValueError(f"{channel} is not offered for {kind}")
    db.session.execute(
        sa.delete(NotificationPreference).where(
            NotificationPreference.user_id == member.id,
            NotificationPreference.kind.in_([str(kind) for kind in choices]),
        )
    )
    db.session.add_all(
        NotificationPreference(user_id=member.id, kind=str(kind), channel=str(channel))
        for kind, channel in choices.items()
    )
    db.session.commit()


# --- Poll closings (cron) -----------------------------------------------------------------------


def announce_closed_polls(now: datetime | None = None) -> int:
    """Tell voters and authors of polls that have closed; each poll once; returns how many.

    Each poll is claimed (closed_notified_at set) in the same transaction as its notifications,
    so two runs at once never both announce it and a failed run leaves it for the next.
    """
    now = now or utcnow()
    due = list(
        db.session.scalars(
            sa.select(Poll.id)
            .where(Poll.closes_at <= now, Poll.closed_notified_at.is_(None))
            .order_by(Poll.id)
        )
    )
    db.session.commit()
    announced = 0
    for poll_id in due:
        claimed = db.session.execute(
            sa.update(Poll)
            .where(Poll.id == poll_id, Poll.closed_notified_at.is_(None))
            .values(closed_notified_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            db.session.rollback()
            continue
        poll = db.session.get(Poll, poll_id)
        thread = db.session.get(Thread, poll.thread_id) if poll is not None else None
        if thread is not None and thread.is_published:
            fanout.poll_closed(thread)
            announced += 1
        db.session.commit()
    log.info("%s closed poll(s) announced", announced)
    return announced

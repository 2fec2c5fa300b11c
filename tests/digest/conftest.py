"""Digest tests: a week of content made at fixed moments, and runs of the sender with a fixed now.

Content is written through the cases services while the clock stands in ISO week 2026-W48; the
digest for week 2026-W49 (Monday 30 November, 07:00 UTC by default) covers those seven days.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask

from forum.accounts.models import User
from forum.cases import services
from forum.cases.communities import ensure_communities
from forum.cases.models import Poll, Post, Visibility
from forum.digest import services as digest
from forum.digest.models import DigestDelivery
from forum.extensions import db
from tests.cases.conftest import Kit
from tests.factories import Member

WEEK = "2026-W49"
SEND_AT = datetime(2026, 11, 30, 7, tzinfo=UTC)  # Monday 07:00 UTC: the default send moment
AFTER_SEND = SEND_AT + timedelta(hours=1)
IN_THE_WEEK = datetime(2026, 11, 25, 12, tzinfo=UTC)  # Wednesday of the week the digest covers


@contextmanager
def at(moment: datetime) -> Iterator[None]:
    """Write content as if at `moment` (the clock ticks on from there)."""
    with time_machine.travel(moment, tick=True):
        yield


@dataclass
class DigestKit(Kit):
    """The cases kit plus what digests need: follows, votes, polls, held content, runs."""

    def follow(self, member: Member, thread_id: int) -> None:
        with self.db():
            services.set_follow(self.user(member), self.thread(thread_id), True)

    def helpful(self, voter: Member, post_id: int) -> None:
        with self.db():
            services.set_helpful(self.user(voter), self.post(post_id), True)

    def poll(self, thread_id: int, question: str, closes_at: datetime) -> None:
        with self.db():
            db.session.add(Poll(thread_id=thread_id, question=question, closes_at=closes_at))
            db.session.commit()

    def hold_post(self, post_id: int, visibility: Visibility = Visibility.PENDING) -> None:
        """Put a post in the state a moderator's queue (or removal) leaves it in."""
        with self.db():
            post = self.post(post_id)
            post.visibility = visibility
            services.refresh_thread(post.thread)
            db.session.commit()

    def hold_thread(self, thread_id: int, visibility: Visibility = Visibility.PENDING) -> None:
        with self.db():
            thread = self.thread(thread_id)
            thread.visibility = visibility
            self.opening(thread_id).visibility = visibility
            db.session.commit()

    def set_user(self, member: Member, **values: Any) -> None:
        with self.db():
            user = self.user(member)
            for name, value in values.items():
                setattr(user, name, value)
            db.session.commit()

    def send(
        self, now: datetime = AFTER_SEND, app: Flask | None = None, **options: Any
    ) -> digest.SendReport:
        with (app or self.app).app_context():
            return digest.send_digests(now, **options)

    def deliveries(self) -> dict[int, DigestDelivery]:
        """Delivery rows by member id (detached copies)."""
        with self.db():
            rows = db.session.scalars(sa.select(DigestDelivery)).all()
            db.session.expunge_all()
            return {row.user_id: row for row in rows}

    def weeks(self, member: Member) -> list[str]:
        """The weeks the member has a delivery row for."""
        with self.db():
            return list(
                db.session.scalars(
                    sa.select(DigestDelivery.iso_week)
                    .where(DigestDelivery.user_id == member.id)
                    .order_by(DigestDelivery.iso_week)
                )
            )

    def reply_ids(self, thread_id: int) -> list[int]:
        with self.db():
            return list(
                db.session.scalars(
                    sa.select(Post.id).where(Post.thread_id == thread_id).order_by(Post.id)
                )
            )

    def thread_title(self, thread_id: int) -> str:
        with self.db():
            return self.thread(thread_id).title

    def get_user(self, member: Member) -> User:
        with self.db():
            user = self.user(member)
            db.session.expunge(user)
            return user


@pytest.fixture
def kit(app: Flask) -> DigestKit:
    """Communities in place; the kit makes members and content."""
    with app.app_context():
        ensure_communities()
    return DigestKit(app)

"""The search outbox: what changed, written in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from forum.extensions import Model, UTCDateTime, utcnow


class SearchOutbox(Model):
    """A post, or every post of a thread, whose indexed form may have changed.

    Rows carry ids only (never text), so the outbox holds nothing a purge must reach; draining
    reads the current state of the posts and indexes or removes them.
    """

    __tablename__ = "search_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int | None] = mapped_column()
    thread_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.CheckConstraint(
            "post_id IS NOT NULL OR thread_id IS NOT NULL", name="names_post_or_thread"
        ),
    )

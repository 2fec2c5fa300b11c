"""Review items, flags, watched words, allowed terms, thread locks and posting suspensions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum.accounts.models import User
from forum.cases.models import Post, Thread
from forum.extensions import Model, UTCDateTime, utcnow


class ReviewReason(StrEnum):
    """Why something waits in the review queue."""

    PHI = "phi"  # the PHI gate was unsure
    IMAGE = "image"  # every image is looked at
    FLAGS = "flags"  # members flagged it
    WATCHED = "watched"  # a watched word matched
    RESUBMITTED = "resubmitted"  # the author rewrote a rejected post


class ReviewStatus(StrEnum):
    """Open until a moderator decides."""

    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"


class ReviewItem(Model):
    """Something held (or flagged) for a moderator: a post, or a case's outcome."""

    __tablename__ = "review_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("thread.id", ondelete="CASCADE"))
    # None when the item is the thread's outcome rather than a post.
    post_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("post.id", ondelete="CASCADE"), index=True
    )
    # Comma-separated ReviewReason values, in the order they arrived.
    reasons: Mapped[str] = mapped_column(sa.String(80))
    status: Mapped[str] = mapped_column(sa.String(16), default=ReviewStatus.OPEN)
    # Findings by field: [{"field", "start", "end", "kind", "action", "reason"}]; never the text.
    findings: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    decision_reason: Mapped[str | None] = mapped_column(sa.String(500))

    thread: Mapped[Thread] = relationship()
    post: Mapped[Post | None] = relationship()

    __table_args__ = (sa.Index("ix_review_item_status_created", "status", "created_at"),)

    @property
    def reason_list(self) -> list[str]:
        """The reasons, in order."""
        return [reason for reason in self.reasons.split(",") if reason]

    @property
    def is_open(self) -> bool:
        """Waiting for a decision."""
        return self.status == ReviewStatus.OPEN


class FlagReason(StrEnum):
    """What a member says is wrong with a post."""

    PATIENT_IDENTIFIERS = "patient identifiers"
    UNPROFESSIONAL = "unprofessional"
    MISINFORMATION = "misinformation"
    SPAM = "spam"
    OTHER = "other"


class Flag(Model):
    """A member's flag on a post: one per member per post."""

    __tablename__ = "flag"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(sa.ForeignKey("post.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    reason: Mapped[str] = mapped_column(sa.String(32))
    note: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    __table_args__ = (sa.UniqueConstraint("post_id", "user_id"),)


class WatchAction(StrEnum):
    """What the gate does when a watched word matches."""

    BLOCK = "block"  # send the text back, nothing stored
    HOLD = "hold"  # store it pending, for a moderator
    FLAG = "flag"  # publish, and put it in the review queue


class WatchedWord(Model):
    """A word, phrase or (restricted) regular expression the gate watches for."""

    __tablename__ = "watched_word"

    id: Mapped[int] = mapped_column(primary_key=True)
    pattern: Mapped[str] = mapped_column(sa.String(100))
    is_regex: Mapped[bool] = mapped_column(default=False)
    action: Mapped[str] = mapped_column(sa.String(16))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("pattern", "is_regex"),)


class AllowedTerm(Model):
    """A term moderators marked as a false positive; the PHI gate lets it through."""

    __tablename__ = "allowed_term"

    id: Mapped[int] = mapped_column(primary_key=True)
    term: Mapped[str] = mapped_column(sa.String(120), unique=True)  # case-folded
    added_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ThreadLock(Model):
    """A locked thread takes no new replies or edits until a moderator unlocks it."""

    __tablename__ = "thread_lock"

    thread_id: Mapped[int] = mapped_column(
        sa.ForeignKey("thread.id", ondelete="CASCADE"), primary_key=True
    )
    locked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    locked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(sa.String(500), default="")


class PostingSuspension(Model):
    """A member who may read but not post until a time."""

    __tablename__ = "posting_suspension"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(sa.String(500))
    suspended_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

"""Notifications (one row per member per event) and each member's channel for each kind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from forum.extensions import Model, UTCDateTime, utcnow


class Kind(StrEnum):
    """What a notification is about; members choose a channel for each."""

    REPLY = "reply"
    MENTION = "mention"
    ACCEPTED = "accepted"
    POLL_CLOSED = "poll_closed"
    OUTCOME_REMINDER = "outcome_reminder"
    VERIFICATION = "verification"
    MODERATION = "moderation"
    SPECIALTY_ALERT = "specialty_alert"


class Channel(StrEnum):
    """How a member hears of a kind: in the list, in the list and by e-mail, or not at all."""

    APP = "app"
    EMAIL = "email"
    OFF = "off"


class Decision(StrEnum):
    """What a moderator or verifier decided, for the decision kinds."""

    APPROVED = "approved"
    REJECTED = "rejected"
    HIDDEN = "hidden"


@dataclass(frozen=True)
class KindRule:
    """How members meet a kind: its label, default channel and the channels on offer."""

    label: str
    default: Channel
    channels: tuple[Channel, ...]
    # About a thread: its title is clinical content, shown to verified physicians only.
    clinical: bool = True


_ALL = (Channel.APP, Channel.EMAIL, Channel.OFF)
# Verification and moderation decisions were e-mailed before notifications existed, and still
# are whatever the preference (they are about the member's own account and posts); here the
# member only chooses whether they also appear in the list. The outcome reminder was e-mailed
# too, so its default keeps the e-mail (choosing "in app" or "off" now stops it).
KIND_RULES: dict[Kind, KindRule] = {
    Kind.REPLY: KindRule("Replies in threads you follow", Channel.APP, _ALL),
    Kind.MENTION: KindRule("Mentions of you", Channel.APP, _ALL),
    Kind.ACCEPTED: KindRule("Your reply accepted as the answer", Channel.APP, _ALL),
    Kind.POLL_CLOSED: KindRule("Polls you voted in or started, closed", Channel.APP, _ALL),
    Kind.OUTCOME_REMINDER: KindRule("Reminders to add a case's outcome", Channel.EMAIL, _ALL),
    Kind.VERIFICATION: KindRule(
        "Verification decisions (always e-mailed too)",
        Channel.APP,
        (Channel.APP, Channel.OFF),
        clinical=False,
    ),
    Kind.MODERATION: KindRule(
        "Moderators' decisions on your posts (approvals and rejections are always e-mailed too)",
        Channel.APP,
        (Channel.APP, Channel.OFF),
    ),
    Kind.SPECIALTY_ALERT: KindRule("New cases in your specialty", Channel.OFF, _ALL),
}
CLINICAL_KINDS = tuple(str(kind) for kind, rule in KIND_RULES.items() if rule.clinical)


class Notification(Model):
    """Something a member should hear of; its text is built when shown, from kind and title."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(24))
    thread_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("thread.id", ondelete="CASCADE"), index=True
    )
    post_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("post.id", ondelete="CASCADE"), index=True
    )
    # The author's public label (the alias when anonymous): never an anonymous author's name.
    actor_label: Mapped[str | None] = mapped_column(sa.String(80))
    decision: Mapped[str | None] = mapped_column(sa.String(16))
    # A moderator's or verifier's reason, written for the member (never post text).
    reason: Mapped[str | None] = mapped_column(sa.String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # The header's unread count, and "mark all read".
        sa.Index("ix_notification_user_read", "user_id", "read_at"),
        # The list, newest first, and the daily cap on specialty alerts.
        sa.Index("ix_notification_user_created", "user_id", "created_at"),
    )

    @property
    def is_unread(self) -> bool:
        """Not yet marked read."""
        return self.read_at is None


class NotificationPreference(Model):
    """A member's channel for one kind; without a row the kind's default applies."""

    __tablename__ = "notification_preference"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(sa.String(24), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(8))

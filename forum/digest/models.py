"""Digest preferences and one delivery row per member per ISO week."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from forum.extensions import Model, UTCDateTime

DEFAULT_WEEKDAY = 0  # Monday
DEFAULT_HOUR = 7
DEFAULT_TIME_ZONE = "UTC"  # used when a member's practice state says nothing better


class DeliveryStatus(StrEnum):
    """Where one member's digest for one week stands."""

    CLAIMED = "claimed"  # a run took it and is building or sending it
    SENT = "sent"
    FAILED = "failed"  # the server refused it or was unreachable; retried after next_attempt_at
    SKIPPED_EMPTY = "skipped-empty"  # nothing to say this week: no e-mail


def is_time_zone(name: str) -> bool:
    """An IANA time zone name this machine knows."""
    if not name or name not in available_timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


class DigestPreference(Model):
    """When a member wants the digest (weekday and hour in their time zone), or not at all."""

    __tablename__ = "digest_preference"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    weekday: Mapped[int] = mapped_column(default=DEFAULT_WEEKDAY)  # 0 Monday .. 6 Sunday
    hour: Mapped[int] = mapped_column(default=DEFAULT_HOUR)  # 0-23, local time
    time_zone: Mapped[str] = mapped_column(sa.String(64), default=DEFAULT_TIME_ZONE)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        sa.CheckConstraint("hour BETWEEN 0 AND 23", name="hour"),
    )


class DigestDelivery(Model):
    """One member's digest for one ISO week; the unique pair is what makes sending idempotent."""

    __tablename__ = "digest_delivery"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    iso_week: Mapped[str] = mapped_column(sa.String(8))  # "2026-W49"
    status: Mapped[str] = mapped_column(sa.String(16), default=DeliveryStatus.CLAIMED)
    attempts: Mapped[int] = mapped_column(default=1)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The kind of failure ("recipient-refused", "SMTPServerDisconnected"): never message text.
    last_error: Mapped[str | None] = mapped_column(sa.String(64))

    __table_args__ = (
        sa.UniqueConstraint("user_id", "iso_week"),
        # Retry runs look for failed rows of a week whose time has come.
        sa.Index("ix_digest_delivery_week_status", "iso_week", "status"),
    )

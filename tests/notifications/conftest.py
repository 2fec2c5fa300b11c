"""Notification tests: the case kit (members, content, a stand-in scanner), a fresh TOTP step,
and small readers of what each member was told."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from forum.accounts.models import User
from forum.cases import services as cases
from forum.cases.models import Thread
from forum.extensions import db
from forum.notifications import services
from forum.notifications.models import Channel, Kind, Notification
from tests.cases.conftest import Kit, kit, quiet_detector, scanner, text  # noqa: F401
from tests.factories import Member

__all__ = ["Kit", "follow", "kinds_of", "prefer", "text", "told"]


@pytest.fixture(autouse=True)
def _clock(early_in_a_totp_step: None) -> None:
    """See tests/conftest.py: early_in_a_totp_step."""


@pytest.fixture(autouse=True)
def _quiet(quiet_detector: None) -> None:  # noqa: F811
    """The PHI gate finds nothing unless a test flags a word (the detector has its own tests)."""


def told(kit: Kit, member: Member, kind: Kind | None = None) -> list[Notification]:  # noqa: F811
    """The member's notifications (of one kind), oldest first, detached."""
    with kit.db():
        query = sa.select(Notification).where(Notification.user_id == member.id)
        if kind is not None:
            query = query.where(Notification.kind == kind)
        found = list(db.session.scalars(query.order_by(Notification.id)))
        for row in found:
            db.session.expunge(row)
        return found


def kinds_of(kit: Kit, member: Member) -> list[str]:  # noqa: F811
    """The kinds of the member's notifications, oldest first."""
    return [row.kind for row in told(kit, member)]


def follow(kit: Kit, member: Member, thread_id: int) -> None:  # noqa: F811
    """The member follows the thread, through the service."""
    with kit.db():
        cases.set_follow(kit.user(member), db.session.get(Thread, thread_id), True)  # type: ignore[arg-type]


def prefer(kit: Kit, member: Member, kind: Kind, channel: Channel) -> None:  # noqa: F811
    """Set one of the member's channels, through the service."""
    with kit.db():
        user = db.session.get(User, member.id)
        assert user is not None
        services.set_preferences(user, {kind: channel})

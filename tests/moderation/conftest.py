"""Moderation tests: the case kit (members, content, a stand-in scanner) and a fresh TOTP step."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from forum.accounts.models import Role
from forum.extensions import db
from forum.moderation.models import ReviewItem, ReviewStatus
from tests.cases.conftest import Kit, kit, quiet_detector, scanner, text  # noqa: F401
from tests.factories import Member

__all__ = ["Kit", "open_items", "text"]


@pytest.fixture(autouse=True)
def _clock(early_in_a_totp_step: None) -> None:
    """See tests/conftest.py: early_in_a_totp_step."""


@pytest.fixture
def moderator(kit: Kit) -> Member:  # noqa: F811
    """A moderator (who is also a verified physician)."""
    return kit.member(roles=(Role.MODERATOR,), display_name="Dr Moderator")


def open_items(kit: Kit) -> list[ReviewItem]:  # noqa: F811
    """The open review items, oldest first (detached: read their columns only)."""
    with kit.db():
        items = list(
            db.session.scalars(
                sa.select(ReviewItem)
                .where(ReviewItem.status == ReviewStatus.OPEN)
                .order_by(ReviewItem.id)
            )
        )
        for item in items:
            db.session.expunge(item)
        return items


Scanner = Callable[[str, object], None]

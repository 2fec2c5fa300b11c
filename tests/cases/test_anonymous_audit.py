"""The audit rows of an anonymous author's own acts name nobody and keep no address."""

from __future__ import annotations

import sqlalchemy as sa

from forum.audit import AuditEvent
from forum.cases.models import Post, Visibility
from forum.extensions import db
from tests.cases.conftest import Kit

DOUBTFUL = "Saw Shravyo today about the biopsy results; what next?"  # a possible name: held


def held_audit_rows(kit: Kit) -> list[AuditEvent]:
    with kit.db():
        rows = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "post.held_for_review")
        ).all()
        db.session.expunge_all()
        return list(rows)


def test_an_anonymous_reply_held_for_review_is_logged_without_its_author_or_address(
    kit: Kit,
) -> None:
    author, colleague = kit.member(), kit.member()
    thread_id = kit.case(colleague)
    client = kit.client(author)

    client.post(f"/t/{thread_id}/reply", data={"body": DOUBTFUL, "anonymous": "y"})

    with kit.db():
        (post,) = db.session.scalars(sa.select(Post).where(Post.author_id == author.id))
        assert (post.anonymous, post.visibility) == (True, Visibility.PENDING)
    (row,) = held_audit_rows(kit)
    assert (row.actor_id, row.ip, row.user_agent) == (None, None, None)


def test_a_named_reply_held_for_review_is_logged_with_its_author_and_address(kit: Kit) -> None:
    author, colleague = kit.member(), kit.member()
    thread_id = kit.case(colleague)

    kit.client(author).post(f"/t/{thread_id}/reply", data={"body": DOUBTFUL})

    (row,) = held_audit_rows(kit)
    assert row.actor_id == author.id
    assert row.ip == "127.0.0.1"

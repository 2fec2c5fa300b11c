"""Moderator actions (lock, move, hide, suspend), their audit rows, the log, and who may act."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from forum.audit import AuditEvent
from forum.cases.communities import community_by_slug
from forum.cases.models import Community, Post, Visibility
from forum.extensions import db
from forum.moderation.models import ThreadLock
from tests.factories import Member
from tests.moderation.conftest import Kit, text


def _actions(kit: Kit) -> list[str]:
    with kit.db():
        query = sa.select(AuditEvent.action).where(AuditEvent.action.like("moderation.%"))
        return list(db.session.scalars(query.order_by(AuditEvent.id)))


def test_members_are_refused_every_moderation_page(
    app: Flask, kit: Kit, quiet_detector: None
) -> None:
    client = kit.client(kit.member())
    thread_id = kit.case(kit.member())
    with kit.db():
        post_id = kit.opening(thread_id).id
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("moderation."):
            continue
        values = {
            name: {"thread_id": thread_id, "post_id": post_id}.get(name, 1)
            for name in rule.arguments
        }
        url = rule.build(values)[1]  # type: ignore[index]
        method = "POST" if "POST" in (rule.methods or ()) else "GET"
        response = client.open(url, method=method, data={"csrf_token": client.csrf_token()})
        assert response.status_code == 403, (rule.endpoint, response.status_code)
    assert not kit.count(ThreadLock)


def test_a_locked_thread_takes_no_replies_until_unlocked(
    kit: Kit, quiet_detector: None, moderator: Member
) -> None:
    thread_id = kit.case(kit.member())
    mod = kit.client(moderator)
    assert (
        mod.post(f"/moderation/threads/{thread_id}/lock", data={"reason": "Heated"}).status_code
        == 302
    )
    member = kit.client(kit.member())
    page = text(member.get(f"/t/{thread_id}"))
    assert "This thread is locked" in page
    before = kit.count(Post)
    refused = member.post(f"/t/{thread_id}/reply", data={"body": "One more thing."})
    assert refused.status_code == 422
    assert "locked" in text(refused)
    assert kit.count(Post) == before
    assert mod.post(f"/moderation/threads/{thread_id}/unlock").status_code == 302
    assert member.post(f"/t/{thread_id}/reply", data={"body": "One more thing."}).status_code == 302
    assert kit.count(Post) == before + 1
    assert _actions(kit)[-2:] == ["moderation.thread_locked", "moderation.thread_unlocked"]


def test_moving_a_thread_refreshes_both_communities_counts(
    kit: Kit, quiet_detector: None, moderator: Member
) -> None:
    thread_id = kit.case(kit.member())
    with kit.db():
        target = community_by_slug("neurology")
        assert target is not None
        target_id = target.id
    response = kit.client(moderator).post(
        f"/moderation/threads/{thread_id}/move", data={"community": target_id}
    )
    assert response.status_code == 302
    with kit.db():
        counts = dict(db.session.execute(sa.select(Community.slug, Community.thread_count)).all())
        assert counts["cardiology"] == 0
        assert counts["neurology"] == 1
        assert kit.thread(thread_id).community_id == target_id
    assert "moderation.thread_moved" in _actions(kit)


def test_hiding_and_restoring_a_post(kit: Kit, quiet_detector: None, moderator: Member) -> None:
    thread_id = kit.case(kit.member())
    post_id = kit.reply(kit.member(), thread_id, "A contentious aside.")
    mod = kit.client(moderator)
    assert (
        mod.post(f"/moderation/posts/{post_id}/hide", data={"reason": "Off topic"}).status_code
        == 302
    )
    with kit.db():
        assert kit.post(post_id).visibility == Visibility.REMOVED
        assert kit.thread(thread_id).reply_count == 0
    assert "A contentious aside." not in text(kit.client(kit.member()).get(f"/t/{thread_id}"))
    assert mod.post(f"/moderation/posts/{post_id}/restore").status_code == 302
    with kit.db():
        assert kit.post(post_id).visibility == Visibility.PUBLISHED
        assert kit.thread(thread_id).reply_count == 1
    assert _actions(kit)[-2:] == ["moderation.post_hidden", "moderation.post_restored"]


def test_a_suspended_member_reads_but_cannot_post_until_the_time_is_up(
    kit: Kit, quiet_detector: None, moderator: Member
) -> None:
    thread_id = kit.case(kit.member())
    member = kit.member()
    response = kit.client(moderator).post(
        f"/moderation/members/{member.id}", data={"days": "3", "reason": "Repeated rudeness"}
    )
    assert response.status_code == 302
    client = kit.client(member)
    assert client.get(f"/t/{thread_id}").status_code == 200
    refused = client.post(f"/t/{thread_id}/reply", data={"body": "Let me add."})
    assert refused.status_code == 422
    assert "Repeated rudeness" in text(refused)
    new_case = client.post(
        "/c/cardiology/new-discussion", data={"title": "A question", "body": "Hi"}
    )
    assert new_case.status_code == 422

    assert (
        kit.client(moderator).post(f"/moderation/members/{member.id}/unsuspend").status_code == 302
    )
    assert client.post(f"/t/{thread_id}/reply", data={"body": "Let me add."}).status_code == 302
    assert _actions(kit)[-2:] == ["moderation.member_suspended", "moderation.member_unsuspended"]


def test_the_log_lists_moderation_and_post_events(
    kit: Kit, quiet_detector: None, moderator: Member
) -> None:
    thread_id = kit.case(kit.member(), anonymous=True)
    mod = kit.client(moderator)
    mod.post(f"/moderation/threads/{thread_id}/lock", data={"reason": ""})
    with kit.db():
        post_id = kit.opening(thread_id).id
    mod.post(f"/p/{post_id}/reveal", data={"reason": "Legal request"})
    page = text(mod.get("/moderation/log"))
    assert "moderation.thread_locked" in page
    assert "post.author_revealed" in page

"""Flags: one per member per post; three members, or a moderator's identifier flag, hide a post."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from forum.cases.models import Visibility
from forum.extensions import db, utcnow
from forum.moderation import services
from forum.moderation.models import Flag
from forum.phi import Action
from tests.factories import Member
from tests.moderation.conftest import Kit, open_items, text

Scan = Callable[[str, Action], None]


def _flag(kit: Kit, member: Member, post_id: int, reason: str = "spam", note: str = "") -> None:
    with kit.db():
        services.flag_post(kit.user(member), kit.post(post_id), reason, note)


def test_three_flags_from_different_members_hide_a_post_until_reviewed(
    kit: Kit, quiet_detector: None
) -> None:
    thread_id = kit.case(kit.member())
    post_id = kit.reply(kit.member(), thread_id)
    for member in (kit.member(), kit.member()):
        _flag(kit, member, post_id)
    with kit.db():
        assert kit.post(post_id).visibility == Visibility.PUBLISHED
    [item] = open_items(kit)
    assert item.reason_list == ["flags"]

    client = kit.client(kit.member())
    response = client.post(f"/p/{post_id}/flag", data={"reason": "misinformation", "note": ""})
    assert response.status_code == 302
    with kit.db():
        assert kit.post(post_id).visibility == Visibility.PENDING
        assert kit.thread(thread_id).reply_count == 0
    assert len(open_items(kit)) == 1
    assert "Consider an echo." not in text(kit.client(kit.member()).get(f"/t/{thread_id}"))


def test_a_member_flags_a_post_once(kit: Kit, quiet_detector: None) -> None:
    thread_id = kit.case(kit.member())
    post_id = kit.reply(kit.member(), thread_id)
    member = kit.member()
    _flag(kit, member, post_id)
    with pytest.raises(services.ModerationError, match="already flagged"):
        _flag(kit, member, post_id)
    with kit.db():  # the database refuses it too
        db.session.add(Flag(post_id=post_id, user_id=member.id, reason="spam", created_at=utcnow()))
        with pytest.raises(IntegrityError):
            db.session.flush()


def test_a_moderators_patient_identifier_flag_hides_at_once(
    kit: Kit, quiet_detector: None, moderator: Member
) -> None:
    thread_id = kit.case(kit.member())
    post_id = kit.reply(kit.member(), thread_id)
    _flag(kit, kit.member(), post_id, "patient identifiers")
    with kit.db():
        assert kit.post(post_id).visibility == Visibility.PUBLISHED
    _flag(kit, moderator, post_id, "patient identifiers")
    with kit.db():
        assert kit.post(post_id).visibility == Visibility.PENDING


def test_a_flag_note_goes_through_the_gate(kit: Kit, scanner: Scan) -> None:
    thread_id = kit.case(kit.member())
    post_id = kit.reply(kit.member(), thread_id)
    scanner("Tolstoy", Action.REVIEW)
    with pytest.raises(services.ModerationError, match="identify a patient"):
        _flag(kit, kit.member(), post_id, "other", "This is about Tolstoy.")
    assert kit.count(Flag) == 0


def test_a_note_is_limited_and_members_cannot_flag_their_own_post(
    kit: Kit, quiet_detector: None
) -> None:
    author = kit.member()
    thread_id = kit.case(kit.member())
    post_id = kit.reply(author, thread_id)
    with pytest.raises(services.ModerationError, match="500"):
        _flag(kit, kit.member(), post_id, "other", "x" * 501)
    with pytest.raises(services.ModerationError, match="own post"):
        _flag(kit, author, post_id)
    with kit.db():
        assert db.session.scalar(sa.select(sa.func.count(Flag.id))) == 0


def test_the_flag_page_takes_a_reason_and_keeps_the_form_on_a_problem(
    kit: Kit, quiet_detector: None
) -> None:
    author, member = kit.member(), kit.member()
    thread_id = kit.case(kit.member())
    post_id = kit.reply(author, thread_id)
    client = kit.client(member)
    thread_page = text(client.get(f"/t/{thread_id}"))
    assert f'href="/p/{post_id}/flag"' in thread_page

    page = client.get(f"/p/{post_id}/flag")
    assert page.status_code == 200
    assert "Flag a post for the moderators" in text(page)

    too_long = client.post(f"/p/{post_id}/flag", data={"reason": "other", "note": "y" * 501})
    assert too_long.status_code == 422
    assert "y" * 501 in text(too_long)  # the note stays in the form
    unknown = client.post(f"/p/{post_id}/flag", data={"reason": "boredom", "note": ""})
    assert unknown.status_code == 422

    own = kit.client(author).post(f"/p/{post_id}/flag", data={"reason": "spam", "note": ""})
    assert own.status_code == 422
    assert "own post" in text(own)
    with kit.db():
        assert db.session.scalar(sa.select(sa.func.count(Flag.id))) == 0

    done = client.post(f"/p/{post_id}/flag", data={"reason": "spam", "note": ""})
    assert done.status_code == 302
    with kit.db():
        assert db.session.scalar(sa.select(sa.func.count(Flag.id))) == 1

"""The home feed (the member's community and followed threads, with unread markers) and the
community pages, 20 threads a page by latest activity."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine

from forum.accounts.models import Role
from forum.cases.models import ThreadRead
from forum.extensions import db, utcnow
from tests.cases.conftest import Kit, text

pytestmark = pytest.mark.usefixtures("quiet_detector")


def titles(page: str) -> list[str]:
    return re.findall(r'class="thread-row__title" href="/t/\d+">([^<]+)</a>', page)


def unread_titles(page: str) -> list[str]:
    rows = re.findall(r'<li class="thread-row thread-row--unread">(.*?)</li>', page, re.S)
    return [title for row in rows for title in titles(row)]


def test_the_feed_holds_the_members_community_and_followed_threads(kit: Kit) -> None:
    member, colleague = kit.member("cardiology"), kit.member("neurology")
    kit.case(colleague, "cardiology", title="Home community case")
    followed = kit.case(colleague, "neurology", title="Followed neurology case")
    kit.case(colleague, "neurology", title="Unfollowed neurology case")
    client = kit.client(member)
    client.post(f"/t/{followed}/follow", data={"state": "on"})

    page = text(client.get("/"))

    assert titles(page) == ["Followed neurology case", "Home community case"]
    assert "Present a case" in page


def test_the_feed_is_ordered_by_latest_activity(kit: Kit) -> None:
    member, colleague = kit.member(), kit.member()
    older = kit.case(colleague, title="Older case")
    kit.case(colleague, title="Newer case")
    assert titles(text(kit.client(member).get("/"))) == ["Newer case", "Older case"]
    with time_machine.travel(utcnow() + timedelta(minutes=5), tick=True):
        kit.reply(colleague, older, "Bumps it.")
        assert titles(text(kit.client(member).get("/"))) == ["Older case", "Newer case"]


def test_unread_markers_follow_what_the_member_has_read(kit: Kit) -> None:
    member, colleague = kit.member(), kit.member()
    theirs = kit.case(colleague, title="Their case")
    kit.case(member, title="My own case")
    client = kit.client(member)

    first = text(client.get("/"))
    assert unread_titles(first) == ["Their case"]
    assert 'New<span class="visually-hidden"> activity</span>' in first

    client.get(f"/t/{theirs}")
    assert unread_titles(text(client.get("/"))) == []
    with kit.db():
        assert db.session.get(ThreadRead, (theirs, member.id)) is not None

    with time_machine.travel(utcnow() + timedelta(minutes=1), tick=True):
        kit.reply(colleague, theirs, "Something new.")
        assert unread_titles(text(client.get("/"))) == ["Their case"]
        client.post(f"/t/{theirs}/reply", data={"body": "My answer."})
        assert unread_titles(text(client.get("/"))) == []


def test_the_feed_and_community_pages_show_20_threads_a_page(kit: Kit) -> None:
    member, colleague = kit.member(), kit.member()
    for number in range(21):
        kit.discussion(colleague, title=f"Discussion {number:02d}")
    client = kit.client(member)

    for path in ("/", "/c/cardiology"):
        first = text(client.get(path))
        assert len(titles(first)) == 20
        assert titles(first)[0] == "Discussion 20"
        assert 'rel="next"' in first
        second = text(client.get(f"{path}?page=2"))
        assert titles(second) == ["Discussion 00"]
        assert 'rel="next"' not in second
        assert 'rel="prev"' in second
    assert client.get("/?page=0").status_code == 404
    assert client.get("/c/cardiology?page=-1").status_code == 404


def test_the_community_page_shows_replies_status_tags_and_the_author_label(kit: Kit) -> None:
    author, colleague = kit.member(display_name="Dr Shown Name"), kit.member()
    named = kit.case(author, title="Named case")
    kit.case(author, title="Anonymous case", anonymous=True)
    kit.reply(colleague, named)
    kit.reply(colleague, named)

    page = text(kit.client(colleague).get("/c/cardiology"))

    assert titles(page) == ["Named case", "Anonymous case"]
    rows = page.split('<li class="thread-row')[1:]
    assert "Dr Shown Name" in rows[0]
    assert "2 replies" in rows[0]
    assert "Answered" in rows[0]
    assert "chest-pain" in rows[0]
    assert "Anonymous cardiologist 1" in rows[1]
    assert "Open" in rows[1]
    assert "Dr Shown Name" not in rows[1]


def test_a_physician_without_a_community_sees_followed_threads_only(kit: Kit) -> None:
    member, colleague = kit.member(None), kit.member()
    thread_id = kit.case(colleague, title="Somewhere")
    client = kit.client(member)
    page = text(client.get("/"))
    assert titles(page) == []
    assert "Browse the communities" in page
    client.post(f"/t/{thread_id}/follow", data={"state": "on"})
    assert titles(text(client.get("/"))) == ["Somewhere"]


def test_the_home_page_is_unchanged_for_visitors_and_unverified_members(kit: Kit) -> None:
    kit.case(kit.member(), title="Clinical content")
    stranger = kit.app.test_client()
    landing = stranger.get("/")
    assert landing.status_code == 200
    assert "Clinical content" not in text(landing)
    newcomer = kit.client(kit.member(verified=False))
    assert newcomer.get("/").headers["Location"] == "/verification/"


def test_staff_still_find_their_tools_on_the_home_page(kit: Kit) -> None:
    admin = kit.client(kit.member(roles=(Role.ADMIN,)))
    page = text(admin.get("/"))
    assert "Staff tools" in page
    assert "/admin/" in page

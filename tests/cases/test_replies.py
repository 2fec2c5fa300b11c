"""Replies: Markdown, quotes, edits with history, soft delete, helpful votes, follows, bookmarks,
@mentions, and every mutation a POST with CSRF that returns to the post's anchor."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from forum.accounts.models import Role
from forum.audit import AuditEvent
from forum.cases.models import (
    Bookmark,
    Follow,
    HelpfulVote,
    Mention,
    Post,
    PostRevision,
    Visibility,
)
from forum.extensions import db
from forum.phi import Action
from tests.cases.conftest import CASE_FORM, Kit, text

pytestmark = pytest.mark.usefixtures("quiet_detector")

Flag = Callable[[str, Action], None]


def newest_post_id(kit: Kit) -> int:
    with kit.db():
        found = db.session.scalar(sa.select(sa.func.max(Post.id)))
    assert found is not None
    return int(found)


# --- Replying ----------------------------------------------------------------------------------


def test_a_reply_stores_markdown_and_its_cooked_html_and_returns_to_its_anchor(kit: Kit) -> None:
    author, colleague = kit.member(), kit.member()
    thread_id = kit.case(author)
    client = kit.client(colleague)

    response = client.post(f"/t/{thread_id}/reply", data={"body": "Try **adenosine**."})

    post_id = newest_post_id(kit)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/t/{thread_id}#p{post_id}"
    with kit.db():
        post = kit.post(post_id)
        assert post.source == "Try **adenosine**."
        assert post.html == "<p>Try <strong>adenosine</strong>.</p>"
        assert kit.thread(thread_id).reply_count == 1
        assert kit.thread(thread_id).last_activity_at == post.created_at
    assert f'id="p{post_id}"' in text(client.get(f"/t/{thread_id}"))


def test_an_empty_or_oversized_reply_comes_back_with_the_text(kit: Kit) -> None:
    thread_id = kit.case(kit.member())
    client = kit.client(kit.member())
    assert client.post(f"/t/{thread_id}/reply", data={"body": "  "}).status_code == 422
    body = "long " * 4001
    response = client.post(f"/t/{thread_id}/reply", data={"body": body})
    assert response.status_code == 422
    assert 'id="body-error"' in text(response)
    assert body.strip() in text(response)
    assert kit.count(Post) == 1


def test_the_thread_page_shows_20_posts_a_page_and_replies_return_to_their_page(kit: Kit) -> None:
    author, colleague = kit.member(), kit.member()
    thread_id = kit.case(author)
    for number in range(19):
        kit.reply(colleague, thread_id, f"Reply number {number}.")
    client = kit.client(colleague)

    response = client.post(f"/t/{thread_id}/reply", data={"body": "Reply on page two."})

    post_id = newest_post_id(kit)
    assert response.headers["Location"] == f"/t/{thread_id}?page=2#p{post_id}"
    first, second = text(client.get(f"/t/{thread_id}")), text(client.get(response.location))
    assert first.count('<article class="post') == 20
    assert "Page 1 of 2" in first
    assert second.count('<article class="post') == 1
    assert "Reply on page two." in second
    assert client.get(f"/p/{post_id}").headers["Location"] == f"/t/{thread_id}?page=2#p{post_id}"


def test_quote_reply_prefills_the_quote_with_a_link_and_remembers_the_quoted_post(
    kit: Kit,
) -> None:
    author, colleague = kit.member(), kit.member()
    thread_id = kit.case(author)
    quoted = kit.reply(author, thread_id, "First line.\nSecond line.", anonymous=True)
    client = kit.client(colleague)

    page = client.get(f"/t/{thread_id}?quote={quoted}").get_data(as_text=True)

    assert f"&gt; [Anonymous cardiologist 1 wrote](/p/{quoted}):" in page
    assert "&gt; First line.\n&gt; Second line." in page
    assert f'name="quoted_post_id" type="hidden" value="{quoted}"' in page
    body = f"> [Anonymous cardiologist 1 wrote](/p/{quoted}):\n>\n> First line.\n\nAgreed."
    client.post(f"/t/{thread_id}/reply", data={"body": body, "quoted_post_id": str(quoted)})
    with kit.db():
        reply = kit.post(newest_post_id(kit))
        assert reply.quoted_post_id == quoted
        assert "<blockquote>" in reply.html
        assert f'href="/p/{quoted}"' in reply.html


def test_a_quote_of_a_post_in_another_thread_is_ignored(kit: Kit) -> None:
    author = kit.member()
    here, elsewhere = kit.case(author), kit.case(author, title="Other")
    foreign = kit.reply(author, elsewhere, "Not here.")
    client = kit.client(kit.member())
    assert "Not here." not in text(client.get(f"/t/{here}?quote={foreign}"))
    client.post(f"/t/{here}/reply", data={"body": "Hi.", "quoted_post_id": str(foreign)})
    with kit.db():
        assert kit.post(newest_post_id(kit)).quoted_post_id is None


# --- Edits and history -------------------------------------------------------------------------


def test_an_edit_keeps_the_previous_text_as_a_revision(kit: Kit) -> None:
    author, colleague = kit.member(), kit.member()
    moderator = kit.member(roles=(Role.MODERATOR,))
    thread_id = kit.case(author)
    reply_id = kit.reply(colleague, thread_id, "Give 5 mg.")
    client = kit.client(colleague)
    assert "Give 5 mg." in text(client.get(f"/p/{reply_id}/edit"))

    response = client.post(f"/p/{reply_id}/edit", data={"body": "Give *2.5* mg."})

    assert response.headers["Location"] == f"/t/{thread_id}#p{reply_id}"
    with kit.db():
        post = kit.post(reply_id)
        assert (post.source, post.html) == ("Give *2.5* mg.", "<p>Give <em>2.5</em> mg.</p>")
        assert post.edited_at is not None
        revisions = list(db.session.scalars(sa.select(PostRevision)))
        assert [(r.post_id, r.source, r.editor_id) for r in revisions] == [
            (reply_id, "Give 5 mg.", colleague.id)
        ]
    for viewer in (colleague, moderator):
        page = text(kit.client(viewer).get(f"/p/{reply_id}/history"))
        assert "Give 5 mg." in page
        assert "Give *2.5* mg." in page
    assert kit.client(author).get(f"/p/{reply_id}/history").status_code == 403
    assert "/history" not in text(kit.client(author).get(f"/t/{thread_id}"))


def test_only_the_author_edits_a_post(kit: Kit) -> None:
    author = kit.member()
    thread_id = kit.case(author)
    reply_id = kit.reply(author, thread_id, "Mine.")
    other = kit.client(kit.member(roles=(Role.MODERATOR,)))
    assert other.get(f"/p/{reply_id}/edit").status_code == 403
    assert other.post(f"/p/{reply_id}/edit", data={"body": "Theirs."}).status_code == 403
    with kit.db():
        assert kit.post(reply_id).source == "Mine."


def test_an_edit_goes_through_the_gate_again(kit: Kit, scanner: Flag) -> None:
    author = kit.member()
    thread_id = kit.case(author)
    reply_id = kit.reply(author, thread_id, "Fine.")
    client = kit.client(author)

    scanner("Jane", Action.BLOCK)
    blocked = client.post(f"/p/{reply_id}/edit", data={"body": "Jane is fine."})
    assert blocked.status_code == 422
    assert "<mark>Jane</mark> is fine." in blocked.get_data(as_text=True)
    with kit.db():
        assert kit.post(reply_id).source == "Fine."
    assert kit.count(PostRevision) == 0

    scanner("Leeds", Action.REVIEW)
    client.post(f"/p/{reply_id}/edit", data={"body": "Moved to Leeds."})
    with kit.db():
        assert kit.post(reply_id).visibility == Visibility.PENDING
        assert kit.thread(thread_id).reply_count == 0
    assert "Moved to Leeds." not in text(kit.client(kit.member()).get(f"/t/{thread_id}"))


def test_the_author_edits_the_case_and_the_revision_holds_the_old_case(kit: Kit) -> None:
    author = kit.member()
    client = kit.client(author)
    response = client.post("/c/cardiology/new-case", data=CASE_FORM)
    thread_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with kit.db():
        opening_id = kit.opening(thread_id).id
    form = client.get(f"/p/{opening_id}/edit")
    assert CASE_FORM["presenting"] in text(form)

    edited = {**CASE_FORM, "presenting": "Three episodes of syncope.", "tags": "syncope"}
    assert client.post(f"/p/{opening_id}/edit", data=edited).status_code == 302

    with kit.db():
        thread = kit.thread(thread_id)
        assert thread.section_map()["presenting"].source == "Three episodes of syncope."
        assert [t.tag for t in thread.tags] == ["syncope"]
        revision = db.session.scalar(sa.select(PostRevision))
        assert revision is not None
        assert CASE_FORM["presenting"] in revision.source
        assert "Three episodes of syncope." in kit.opening(thread_id).source


def test_the_author_edits_a_discussion(kit: Kit) -> None:
    author = kit.member()
    thread_id = kit.discussion(author)
    client = kit.client(author)
    with kit.db():
        opening_id = kit.opening(thread_id).id
    data = {"title": "Falls and anticoagulation", "body": "Revised question.", "tags": "falls"}
    assert client.post(f"/p/{opening_id}/edit", data=data).status_code == 302
    with kit.db():
        thread = kit.thread(thread_id)
        assert thread.title == "Falls and anticoagulation"
        assert kit.opening(thread_id).source == "Revised question."


# --- Deleting ----------------------------------------------------------------------------------


def test_a_deleted_post_leaves_a_tombstone(kit: Kit) -> None:
    author, colleague = kit.member(), kit.member()
    thread_id = kit.case(author)
    reply_id = kit.reply(colleague, thread_id, "Regrettable advice.")
    client = kit.client(colleague)

    response = client.post(f"/p/{reply_id}/delete")

    assert response.headers["Location"] == f"/t/{thread_id}#p{reply_id}"
    page = text(kit.client(author).get(f"/t/{thread_id}"))
    assert "This post was deleted" in page
    assert "Regrettable advice." not in page
    with kit.db():
        assert kit.post(reply_id).deleted_at is not None
        assert kit.thread(thread_id).reply_count == 0
    assert kit.count(AuditEvent, AuditEvent.action == "post.deleted") == 0


def test_a_moderator_deletes_a_post_and_it_is_audited(kit: Kit) -> None:
    author, colleague = kit.member(), kit.member()
    moderator = kit.member(roles=(Role.MODERATOR,))
    thread_id = kit.case(author)
    reply_id = kit.reply(colleague, thread_id)
    assert kit.client(author).post(f"/p/{reply_id}/delete").status_code == 403
    kit.client(moderator).post(f"/p/{reply_id}/delete")
    with kit.db():
        assert kit.post(reply_id).deleted_at is not None
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "post.deleted"))
        assert event is not None
        assert (event.actor_id, event.target_id) == (moderator.id, reply_id)
    assert "Consider an echo." in text(kit.client(moderator).get(f"/t/{thread_id}"))


# --- Helpful votes -----------------------------------------------------------------------------


def test_a_helpful_vote_toggles_and_the_counter_keeps_in_step(kit: Kit) -> None:
    author, colleague = kit.member(), kit.member()
    thread_id = kit.case(author)
    reply_id = kit.reply(colleague, thread_id)
    client = kit.client(author)

    response = client.post(f"/p/{reply_id}/helpful", data={"state": "on"})

    assert response.headers["Location"] == f"/t/{thread_id}#p{reply_id}"
    with kit.db():
        assert kit.post(reply_id).helpful_count == 1
    assert "Remove helpful mark" in text(client.get(f"/t/{thread_id}"))
    client.post(f"/p/{reply_id}/helpful", data={"state": "off"})
    with kit.db():
        assert kit.post(reply_id).helpful_count == 0
    assert kit.count(HelpfulVote) == 0


def test_a_double_click_counts_one_helpful_vote(kit: Kit) -> None:
    author, colleague = kit.member(), kit.member()
    thread_id = kit.case(author)
    reply_id = kit.reply(colleague, thread_id)
    client = kit.client(author)

    first = client.post(f"/p/{reply_id}/helpful", data={"state": "on"})
    second = client.post(f"/p/{reply_id}/helpful", data={"state": "on"})

    assert (first.status_code, second.status_code) == (302, 302)
    assert kit.count(HelpfulVote) == 1
    with kit.db():
        assert kit.post(reply_id).helpful_count == 1


def test_the_database_refuses_a_second_helpful_vote(kit: Kit) -> None:
    author = kit.member()
    thread_id = kit.case(author)
    reply_id = kit.reply(kit.member(), thread_id)
    with kit.db():
        db.session.add(HelpfulVote(post_id=reply_id, user_id=author.id))
        db.session.commit()
        db.session.add(HelpfulVote(post_id=reply_id, user_id=author.id))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()


def test_nobody_marks_their_own_post_helpful(kit: Kit) -> None:
    author = kit.member()
    thread_id = kit.case(author)
    reply_id = kit.reply(author, thread_id)
    client = kit.client(author)
    assert "Helpful</button>" not in text(client.get(f"/t/{thread_id}"))
    response = client.post(f"/p/{reply_id}/helpful", data={"state": "on"})
    assert response.status_code == 302
    assert kit.count(HelpfulVote) == 0
    assert "cannot mark your own post" in text(client.get(response.location))


# --- Follows and bookmarks ---------------------------------------------------------------------


def test_members_follow_and_unfollow_threads(kit: Kit) -> None:
    author, colleague = kit.member(), kit.member("neurology")
    thread_id = kit.case(author)
    assert kit.count(Follow, Follow.user_id == author.id) == 1
    client = kit.client(colleague)
    assert "Chest pain at rest" not in text(client.get("/"))

    client.post(f"/t/{thread_id}/follow", data={"state": "on"})
    client.post(f"/t/{thread_id}/follow", data={"state": "on"})

    assert kit.count(Follow, Follow.user_id == colleague.id) == 1
    assert "Chest pain at rest" in text(client.get("/"))
    assert "Stop following" in text(client.get(f"/t/{thread_id}"))
    client.post(f"/t/{thread_id}/follow", data={"state": "off"})
    assert kit.count(Follow, Follow.user_id == colleague.id) == 0
    assert "Chest pain at rest" not in text(client.get("/"))


def test_bookmarks_are_listed_on_their_page(kit: Kit) -> None:
    author, colleague = kit.member(), kit.member()
    thread_id = kit.case(author)
    reply_id = kit.reply(colleague, thread_id, "Worth keeping.")
    client = kit.client(author)
    assert "no bookmarks yet" in text(client.get("/bookmarks"))

    response = client.post(f"/p/{reply_id}/bookmark", data={"state": "on"})

    assert response.headers["Location"] == f"/t/{thread_id}#p{reply_id}"
    page = text(client.get("/bookmarks"))
    assert "Worth keeping." in page
    assert "Chest pain at rest" in page
    client.post(f"/p/{reply_id}/bookmark", data={"state": "off"})
    assert kit.count(Bookmark) == 0


def test_a_bookmarked_post_that_is_deleted_shows_as_a_tombstone(kit: Kit) -> None:
    author, colleague = kit.member(), kit.member()
    thread_id = kit.case(author)
    reply_id = kit.reply(colleague, thread_id, "Soon gone.")
    client = kit.client(author)
    client.post(f"/p/{reply_id}/bookmark", data={"state": "on"})
    kit.client(colleague).post(f"/p/{reply_id}/delete")
    page = text(client.get("/bookmarks"))
    assert "Soon gone." not in page
    assert "This post was deleted." in page
    removed = client.post(f"/p/{reply_id}/bookmark", data={"state": "off", "next": "/bookmarks"})
    assert removed.headers["Location"] == "/bookmarks"
    assert kit.count(Bookmark) == 0
    refused = client.post(f"/p/{reply_id}/bookmark", data={"state": "on"})
    assert refused.status_code == 404
    assert kit.count(Bookmark) == 0


# --- Mentions ----------------------------------------------------------------------------------


def test_mentions_name_members_by_display_name(kit: Kit) -> None:
    author = kit.member()
    named = kit.member(display_name="Dr Ada Byron")
    other = kit.member(display_name="Dr Ada")
    thread_id = kit.case(author)
    body = "Ask @Dr Ada Byron, and @dr ada. Also @Nobody Here and @" + "x" * 50
    reply_id = kit.reply(author, thread_id, body)
    with kit.db():
        mentioned = set(db.session.scalars(sa.select(Mention.user_id)))
    assert mentioned == {named.id, other.id}
    assert reply_id


def test_a_member_cannot_mention_themselves_or_an_unverified_member(kit: Kit) -> None:
    author = kit.member(display_name="Dr Self Name")
    kit.member(display_name="Dr Not Verified", verified=False)
    thread_id = kit.case(author)
    kit.reply(author, thread_id, "@Dr Self Name and @Dr Not Verified")
    assert kit.count(Mention) == 0


# --- Every mutation is a POST with CSRF --------------------------------------------------------


def test_mutations_without_a_csrf_token_are_refused(kit: Kit) -> None:
    author, colleague = kit.member(), kit.member()
    thread_id = kit.case(author)
    reply_id = kit.reply(colleague, thread_id)
    client = kit.client(author)
    for path, data in [
        (f"/t/{thread_id}/reply", {"body": "Hi"}),
        (f"/t/{thread_id}/follow", {"state": "off"}),
        (f"/p/{reply_id}/helpful", {"state": "on"}),
        (f"/p/{reply_id}/bookmark", {"state": "on"}),
        (f"/p/{reply_id}/accept", {"state": "on"}),
        (f"/p/{reply_id}/delete", {}),
        ("/c/cardiology/new-case", CASE_FORM),
    ]:
        assert client.post(path, data=data, csrf=False).status_code == 400, path
    for path in (f"/p/{reply_id}/helpful", f"/p/{reply_id}/delete", f"/t/{thread_id}/follow"):
        assert client.get(path).status_code == 405
    assert kit.count(Post) == 2
    assert kit.count(HelpfulVote) == 0
    assert kit.count(Follow) == 1


def test_a_tampered_toggle_changes_nothing(kit: Kit) -> None:
    author = kit.member()
    thread_id = kit.case(author)
    reply_id = kit.reply(kit.member(), thread_id)
    client = kit.client(author)
    response = client.post(f"/p/{reply_id}/helpful", data={"state": "maybe"})
    assert response.status_code == 302
    assert kit.count(HelpfulVote) == 0
    assert re.fullmatch(rf"/t/{thread_id}#p{reply_id}", response.headers["Location"])

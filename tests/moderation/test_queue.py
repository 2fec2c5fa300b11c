"""The review queue: held posts wait oldest first; approve, edit and approve, reject, allow."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from forum.audit import AuditEvent
from forum.cases import services as cases
from forum.cases.models import Post, PostRevision, Thread, Visibility
from forum.extensions import db
from forum.moderation import services
from forum.moderation.models import AllowedTerm, ReviewItem, ReviewStatus
from forum.phi import Action
from tests.conftest import Mailbox, body_text
from tests.factories import Member
from tests.moderation.conftest import Kit, open_items, text

Scan = Callable[[str, Action], None]
HELD = "Seen by Tolstoy at home; echo shows LVH."


def _held_reply(kit: Kit, scanner: Scan, author: Member, body: str = HELD) -> tuple[int, int]:
    thread_id = kit.case(kit.member())
    scanner("Tolstoy", Action.REVIEW)
    return thread_id, kit.reply(author, thread_id, body)


def test_a_held_reply_waits_in_the_queue_with_its_finding_highlighted(
    kit: Kit, scanner: Scan, moderator: Member
) -> None:
    author = kit.member()
    thread_id, post_id = _held_reply(kit, scanner, author)
    [item] = open_items(kit)
    assert item.post_id == post_id
    assert item.reason_list == ["phi"]
    assert item.findings[0]["field"] == "body"
    assert "text" not in item.findings[0]  # offsets only: the text stays in the post

    page = text(kit.client(moderator).get("/moderation/queue"))
    assert "<mark>Tolstoy</mark>" in page
    assert 'Review queue <span class="badge">1' in page
    assert "Possible patient identifiers" in page

    own = text(kit.client(author).get(f"/t/{thread_id}"))
    assert "Waiting for review" in own
    assert "Tolstoy" in own
    other = text(kit.client(kit.member()).get(f"/t/{thread_id}"))
    assert "Tolstoy" not in other
    assert "Review queue" not in other


def test_the_queue_lists_the_oldest_first(kit: Kit, scanner: Scan) -> None:
    author = kit.member()
    thread_id, first = _held_reply(kit, scanner, author)
    second = kit.reply(author, thread_id, "Tolstoy again.")
    with kit.db():
        assert [item.post_id for item in services.queue()] == [first, second]
        assert services.open_count() == 2


def test_approving_publishes_refreshes_counts_and_tells_the_author(
    kit: Kit, scanner: Scan, moderator: Member, mailbox: Mailbox
) -> None:
    author = kit.member()
    thread_id, post_id = _held_reply(kit, scanner, author)
    [item] = open_items(kit)
    client = kit.client(moderator)
    response = client.post(f"/moderation/items/{item.id}/approve")
    assert response.status_code == 302
    with kit.db():
        assert kit.post(post_id).visibility == Visibility.PUBLISHED
        assert kit.thread(thread_id).reply_count == 1
        decided = db.session.get(ReviewItem, item.id)
        assert decided is not None
        assert decided.status == ReviewStatus.APPROVED
        assert db.session.scalar(
            sa.select(AuditEvent.id).where(AuditEvent.action == "moderation.approved")
        )
    message = body_text(mailbox.last_to(kit_email(kit, author)))
    assert "Chest pain at rest" in message
    assert "Tolstoy" not in message
    assert "Tolstoy" in text(kit.client(kit.member()).get(f"/t/{thread_id}"))


def kit_email(kit: Kit, member: Member) -> str:
    with kit.db():
        return kit.user(member).email


def test_edit_and_approve_redacts_in_place_and_keeps_no_held_text(
    kit: Kit, scanner: Scan, moderator: Member
) -> None:
    author = kit.member()
    thread_id, post_id = _held_reply(kit, scanner, author)
    with kit.db():  # an edit while held: the first held text became a revision
        cases.edit_post(kit.user(author), kit.post(post_id), HELD + " Tolstoy again.")
        assert db.session.scalar(sa.select(sa.func.count(PostRevision.id))) == 1
    [item] = open_items(kit)
    client = kit.client(moderator)
    form = text(client.get(f"/moderation/items/{item.id}"))
    assert f'<textarea class="input" name="body" id="edit-body" rows="8">{HELD}' in form
    response = client.post(
        f"/moderation/items/{item.id}/edit", data={"body": "Seen at home; echo shows **LVH**."}
    )
    assert response.status_code == 302
    with kit.db():
        post = kit.post(post_id)
        assert post.visibility == Visibility.PUBLISHED
        assert "Tolstoy" not in post.source
        assert "<strong>LVH</strong>" in post.html
        assert db.session.scalar(sa.select(sa.func.count(PostRevision.id))) == 0
    assert "Seen at home" in text(kit.client(kit.member()).get(f"/t/{thread_id}"))


def test_a_redaction_that_still_holds_an_identifier_is_refused_with_the_text_kept(
    kit: Kit, scanner: Scan, moderator: Member
) -> None:
    author = kit.member()
    _thread_id, post_id = _held_reply(kit, scanner, author)
    [item] = open_items(kit)
    scanner("Tolstoy", Action.BLOCK)
    redacted = "Seen by Dr Tolstoy at home; echo shows LVH."
    response = kit.client(moderator).post(
        f"/moderation/items/{item.id}/edit", data={"body": redacted}
    )
    assert response.status_code == 422
    page = text(response)
    assert "still looks like a patient identifier" in page
    assert redacted in page  # the moderator's text stays in the form
    with kit.db():
        post = kit.post(post_id)
        assert post.visibility == Visibility.PENDING
        assert post.source == HELD
    assert len(open_items(kit)) == 1


def test_rejecting_purges_the_text_everywhere_and_the_author_can_resubmit(
    kit: Kit, scanner: Scan, moderator: Member, mailbox: Mailbox
) -> None:
    author = kit.member()
    thread_id, post_id = _held_reply(kit, scanner, author)
    with kit.db():  # an edit while held: the first text becomes a revision
        cases.edit_post(kit.user(author), kit.post(post_id), "Tolstoy, seen at home.")
    [item] = open_items(kit)
    client = kit.client(moderator)
    response = client.post(
        f"/moderation/items/{item.id}/reject", data={"reason": "Names the patient."}
    )
    assert response.status_code == 302
    with kit.db():
        post = kit.post(post_id)
        assert post.visibility == Visibility.REJECTED
        assert post.source == ""
        assert "Tolstoy" not in post.html
        assert "Removed by a moderator" in post.html
        assert db.session.scalar(sa.select(sa.func.count(PostRevision.id))) == 0
        assert all(not row.findings for row in db.session.scalars(sa.select(ReviewItem)))
        stored = " ".join(
            str(value)
            for row in db.session.execute(sa.select(Post.source, Post.html))
            for value in row
        )
        assert "Tolstoy" not in stored
    message = body_text(mailbox.last_to(kit_email(kit, author)))
    assert "Names the patient." in message
    assert "Tolstoy" not in message
    assert "Removed by a moderator" in text(kit.client(author).get(f"/t/{thread_id}"))

    scanner("nothing-matches", Action.REVIEW)
    author_client = kit.client(author)
    response = author_client.post(f"/p/{post_id}/edit", data={"body": "Seen at home."})
    assert response.status_code == 302
    with kit.db():
        assert kit.post(post_id).visibility == Visibility.PENDING
    [again] = open_items(kit)
    assert again.post_id == post_id
    assert "resubmitted" in again.reason_list


def test_rejecting_an_opening_purges_the_title_and_sections(
    kit: Kit, scanner: Scan, moderator: Member
) -> None:
    author = kit.member()
    scanner("Tolstoy", Action.REVIEW)
    thread_id = kit.case(author, title="Tolstoy with chest pain", history="Tolstoy smokes.")
    with kit.db():
        assert kit.thread(thread_id).visibility == Visibility.PENDING
    [item] = open_items(kit)
    assert item.post_id is not None
    with kit.db():
        services.reject(kit.user(moderator), services.get_item(item.id), "Names the patient.")  # type: ignore[arg-type]
    with kit.db():
        thread = kit.thread(thread_id)
        assert thread.visibility == Visibility.REJECTED
        assert "Tolstoy" not in thread.title
        assert thread.sections == []
        assert kit.opening(thread_id).source == ""


def test_a_false_positive_joins_the_allow_list_and_the_gate_lets_it_through(
    kit: Kit, scanner: Scan, moderator: Member
) -> None:
    author = kit.member()
    thread_id, _ = _held_reply(kit, scanner, author)
    [item] = open_items(kit)
    start = HELD.index("Tolstoy")
    client = kit.client(moderator)
    response = client.post(
        f"/moderation/items/{item.id}/allow",
        data={"field": "body", "start": start, "end": start + len("Tolstoy")},
    )
    assert response.status_code == 302
    with kit.db():
        assert db.session.scalar(sa.select(AllowedTerm.term)) == "tolstoy"
    [still] = open_items(kit)
    assert still.findings == []
    later = kit.reply(author, thread_id, "TOLSTOY sign again.")
    with kit.db():
        assert kit.post(later).visibility == Visibility.PUBLISHED


def test_a_held_outcome_is_approved_from_the_queue(
    kit: Kit, scanner: Scan, moderator: Member
) -> None:
    author = kit.member()
    thread_id = kit.case(author)
    scanner("Tolstoy", Action.REVIEW)
    with kit.db():
        cases.set_outcome(kit.user(author), kit.thread(thread_id), "Tolstoy recovered.")
    [item] = open_items(kit)
    assert item.post_id is None
    with kit.db():
        services.approve(kit.user(moderator), services.get_item(item.id))  # type: ignore[arg-type]
    with kit.db():
        thread = db.session.get(Thread, thread_id)
        assert thread is not None
        assert thread.outcome_visibility == Visibility.PUBLISHED

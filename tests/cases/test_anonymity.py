"""Anonymous posting: stable per-thread aliases, no trace of the author on any page, and the
moderators' audited reveal."""

from __future__ import annotations

import re
import threading

import pytest
import sqlalchemy as sa

from forum.accounts.models import Role, User
from forum.audit import AuditEvent
from forum.cases import services
from forum.cases.models import Mention, ThreadAlias
from forum.extensions import db
from tests.cases.conftest import Kit, text
from tests.factories import Member

pytestmark = pytest.mark.usefixtures("quiet_detector")


def label(kit: Kit, post_id: int) -> str:
    with kit.db():
        return kit.post(post_id).author_label


# --- Aliases -----------------------------------------------------------------------------------


def test_aliases_are_numbered_in_order_and_stable_within_a_thread(kit: Kit) -> None:
    author, second, third = kit.member(), kit.member("neurology"), kit.member("paediatrics")
    thread_id = kit.case(author, anonymous=True)
    with kit.db():
        opening = kit.opening(thread_id).id

    b1 = kit.reply(second, thread_id, anonymous=True)
    c1 = kit.reply(third, thread_id, anonymous=True)
    b2 = kit.reply(second, thread_id, anonymous=True)
    named = kit.reply(third, thread_id, "Under my own name.")
    a2 = kit.reply(author, thread_id, anonymous=True)

    assert label(kit, opening) == "Anonymous cardiologist 1"
    assert label(kit, b1) == label(kit, b2) == "Anonymous neurologist 2"
    assert label(kit, c1) == "Anonymous paediatrician 3"
    assert label(kit, a2) == "Anonymous cardiologist 1"
    with kit.db():
        assert label(kit, named) == kit.user(third).display_name
    assert kit.count(ThreadAlias, ThreadAlias.thread_id == thread_id) == 3


def test_alias_numbers_are_unrelated_across_threads(kit: Kit) -> None:
    author, second, third = kit.member(), kit.member("neurology"), kit.member("surgery")
    first_thread = kit.case(author, anonymous=True)
    kit.reply(second, first_thread, anonymous=True)
    there = kit.reply(third, first_thread, anonymous=True)
    other_thread = kit.discussion(second, slug="surgery", title="Elsewhere")
    here = kit.reply(third, other_thread, anonymous=True)

    assert label(kit, there) == "Anonymous surgeon 3"
    assert label(kit, here) == "Anonymous surgeon 1"


def test_the_label_keeps_the_specialty_the_author_had_when_posting(kit: Kit) -> None:
    author, colleague = kit.member(), kit.member("neurology")
    thread_id = kit.case(author)
    before = kit.reply(colleague, thread_id, anonymous=True)
    with kit.db():
        kit.user(colleague).specialty = "psychiatry"
        db.session.commit()
    after = kit.reply(colleague, thread_id, anonymous=True)
    assert label(kit, before) == "Anonymous neurologist 1"
    assert label(kit, after) == "Anonymous psychiatrist 1"


def test_two_members_taking_the_same_number_at_once_retry_with_the_next(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    author, colleague = kit.member(), kit.member("neurology")
    thread_id = kit.case(author, anonymous=True)
    real = services._next_alias_number
    calls: list[int] = []

    def stale_first(thread: int) -> int:
        calls.append(thread)
        return 1 if len(calls) == 1 else real(thread)  # 1 is the author's already

    monkeypatch.setattr(services, "_next_alias_number", stale_first)
    reply_id = kit.reply(colleague, thread_id, anonymous=True)

    assert len(calls) == 2
    assert label(kit, reply_id) == "Anonymous neurologist 2"


def test_two_anonymous_replies_racing_for_a_number_both_get_one(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    with kit.db():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite lets one writer in at a time, so the race cannot happen there")
    author, first, second = kit.member(), kit.member("neurology"), kit.member("surgery")
    thread_id = kit.case(author, anonymous=True)
    real = services._next_alias_number
    barrier = threading.Barrier(2, timeout=10)
    waited: set[int] = set()

    def together(thread: int) -> int:
        number = real(thread)
        if threading.get_ident() not in waited:
            waited.add(threading.get_ident())
            barrier.wait()  # both have read the same highest number before either inserts
        return number

    monkeypatch.setattr(services, "_next_alias_number", together)
    made: list[int] = []
    errors: list[BaseException] = []

    def post(member: Member) -> None:
        try:
            made.append(kit.reply(member, thread_id, anonymous=True))
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    workers = [threading.Thread(target=post, args=(m,)) for m in (first, second)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    assert errors == []
    assert sorted(label(kit, post_id)[-1] for post_id in made) == ["2", "3"]


def test_the_database_refuses_a_number_taken_in_the_thread(kit: Kit) -> None:
    author, colleague = kit.member(), kit.member()
    thread_id = kit.case(author, anonymous=True)
    with kit.db():
        db.session.add(ThreadAlias(thread_id=thread_id, user_id=colleague.id, number=1))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()


# --- No trace of the author --------------------------------------------------------------------


def traces(page: str, member: Member, user: User) -> list[str]:
    """Everything on a page that would point at the member."""
    found = [
        word
        for word in (user.display_name, user.email, user.last_name, member.email.split("@")[0])
        if word.casefold() in page.casefold()
    ]
    for url in re.findall(r'(?:href|src|action)="([^"]*)"', page):
        if re.search(r"/(?:u|users?|members?|profiles?|accounts?)/\d", url) or "user" in url:
            found.append(url)
        if re.search(rf"(?:author|user|member)[_-]?id={member.id}\b", url):
            found.append(url)
    for name, value in re.findall(r'(data-[\w-]+)="([^"]*)"', page):
        found.append(f"{name}={value}")
    for meta in re.findall(r"<meta[^>]*>", page):
        if user.display_name in meta:
            found.append(meta)
    return found


def test_an_anonymous_author_appears_on_no_page_a_member_or_moderator_sees(kit: Kit) -> None:
    author = kit.member(display_name="Dr Zebedee Quux", email="zebedee.quux@hospital.example")
    colleague = kit.member("neurology")
    kit.member(display_name="Dr Target One")
    moderator = kit.member(roles=(Role.MODERATOR,))
    own_thread = kit.case(author, anonymous=True, title="Palpitations at night")
    named_thread = kit.discussion(colleague, slug="cardiology", title="Open question")
    with kit.db():
        opening = kit.opening(own_thread).id
    anonymous_reply = kit.reply(author, named_thread, "Asking @Dr Target One.", anonymous=True)
    with kit.db():
        post = kit.post(anonymous_reply)
        services.edit_post(kit.user(author), post, "Edited anonymously.")
    kit.reply(colleague, own_thread, "A named reply.")
    viewer = kit.client(colleague)
    viewer.post(f"/p/{anonymous_reply}/bookmark", data={"state": "on"})
    viewer.post(f"/p/{opening}/bookmark", data={"state": "on"})
    viewer.post(f"/t/{own_thread}/follow", data={"state": "on"})
    viewer.post(f"/p/{anonymous_reply}/helpful", data={"state": "on"})

    pages = {
        "thread": viewer.get(f"/t/{own_thread}"),
        "other thread": viewer.get(f"/t/{named_thread}"),
        "quote": viewer.get(f"/t/{named_thread}?quote={anonymous_reply}"),
        "community": viewer.get("/c/cardiology"),
        "feed": viewer.get("/"),
        "bookmarks": viewer.get("/bookmarks"),
        "communities": viewer.get("/communities"),
    }
    moderator_client = kit.client(moderator)
    pages["moderator thread"] = moderator_client.get(f"/t/{named_thread}")
    pages["moderator history"] = moderator_client.get(f"/p/{anonymous_reply}/history")

    with kit.db():
        user = kit.user(author)
        for name, response in pages.items():
            assert response.status_code == 200, name
            page = response.get_data(as_text=True)
            assert traces(text(response), author, user) == [], name
            assert traces(page, author, user) == [], name
    assert "Anonymous cardiologist 1" in text(pages["thread"])
    assert "Anonymous cardiologist 1" in text(pages["community"])
    assert "Anonymous cardiologist 1" in text(pages["bookmarks"])
    assert "Edited anonymously." in text(pages["moderator history"])


def test_an_anonymous_post_mentions_nobody(kit: Kit) -> None:
    author = kit.member()
    kit.member(display_name="Dr Target Person")
    thread_id = kit.case(author)
    kit.reply(author, thread_id, "Paging @Dr Target Person.", anonymous=True)
    assert kit.count(Mention) == 0
    kit.reply(author, thread_id, "Paging @Dr Target Person.")
    assert kit.count(Mention) == 1


# --- The moderators' reveal --------------------------------------------------------------------


def test_a_moderator_reveals_an_author_with_a_reason_and_it_is_audited(kit: Kit) -> None:
    author = kit.member(display_name="Dr Hidden Hand")
    moderator = kit.member(roles=(Role.MODERATOR,))
    thread_id = kit.case(author, anonymous=True)
    with kit.db():
        post_id = kit.opening(thread_id).id
    client = kit.client(moderator)
    assert "Reveal the author" in text(client.get(f"/t/{thread_id}"))

    response = client.post(f"/p/{post_id}/reveal", data={"reason": "Reported as a patient."})

    assert response.status_code == 200
    assert "Dr Hidden Hand" in text(response)
    with kit.db():
        event = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "post.author_revealed")
        )
        assert event is not None
        assert (event.actor_id, event.target_type, event.target_id) == (
            moderator.id,
            "post",
            post_id,
        )
        assert event.details == {"thread_id": thread_id, "reason": "Reported as a patient."}
    assert "Dr Hidden Hand" not in text(client.get(f"/t/{thread_id}"))


def test_a_reveal_needs_a_reason_and_a_moderator(kit: Kit) -> None:
    author = kit.member(display_name="Dr Hidden Hand")
    thread_id = kit.case(author, anonymous=True)
    with kit.db():
        post_id = kit.opening(thread_id).id
    moderator = kit.client(kit.member(roles=(Role.MODERATOR,)))
    colleague = kit.client(kit.member())

    empty = moderator.post(f"/p/{post_id}/reveal", data={"reason": "  "})
    refused = colleague.post(f"/p/{post_id}/reveal", data={"reason": "Curious."})

    assert empty.status_code == 422
    assert "Dr Hidden Hand" not in text(empty)
    assert refused.status_code == 403
    assert "Dr Hidden Hand" not in text(refused)
    assert "Reveal the author" not in text(colleague.get(f"/t/{thread_id}"))
    assert kit.count(AuditEvent, AuditEvent.action == "post.author_revealed") == 0


def test_a_named_post_has_nothing_to_reveal(kit: Kit) -> None:
    author = kit.member()
    thread_id = kit.case(author)
    with kit.db():
        post_id = kit.opening(thread_id).id
    moderator = kit.client(kit.member(roles=(Role.MODERATOR,)))
    response = moderator.post(f"/p/{post_id}/reveal", data={"reason": "Checking."})
    assert response.status_code == 302
    assert kit.count(AuditEvent, AuditEvent.action == "post.author_revealed") == 0

"""Communities, new cases and discussions, the PHI gate on the write path, bad input, case life."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image

from forum.accounts.models import Role
from forum.audit import AuditEvent
from forum.cases import services
from forum.cases.communities import community_rows, ensure_communities, practitioner_for
from forum.cases.models import (
    CaseSection,
    CaseStatus,
    Community,
    Follow,
    Poll,
    Post,
    Thread,
    ThreadTag,
    Visibility,
)
from forum.extensions import db, utcnow
from forum.phi import Action
from forum.verification.taxonomy import SPECIALTIES
from tests.cases.conftest import CASE_FORM, Kit, text
from tests.conftest import Mailbox, body_text

pytestmark = pytest.mark.usefixtures("quiet_detector")

Flag = Callable[[str, Action], None]


def thread_id_of(response: Any) -> int:
    assert response.status_code == 302, text(response)
    found = re.fullmatch(r"/t/(\d+)", response.headers["Location"])
    assert found, response.headers["Location"]
    return int(found.group(1))


def png(colour: str = "blue") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(out, "PNG")
    return out.getvalue()


# --- Communities -------------------------------------------------------------------------------


def test_there_is_one_community_per_specialty_each_with_a_practitioner_noun(kit: Kit) -> None:
    with kit.db():
        rows = {c.slug: c for c in db.session.scalars(sa.select(Community))}
    assert set(rows) == {specialty.slug for specialty in SPECIALTIES}
    assert rows["cardiology"].practitioner == "cardiologist"
    assert rows["emergency-medicine"].practitioner == "emergency physician"
    assert rows["paediatrics"].practitioner == "paediatrician"
    assert rows["paediatrics"].name == "Paediatrics"
    assert all(c.practitioner and c.practitioner != "physician" for c in rows.values())
    assert practitioner_for(None) == practitioner_for("no-such-specialty") == "physician"


def test_ensuring_the_communities_again_creates_none(kit: Kit) -> None:
    with kit.db():
        assert ensure_communities() == 0
    assert kit.count(Community) == len(SPECIALTIES)


def test_the_migration_rows_match_the_communities() -> None:
    rows = community_rows()
    assert [row["slug"] for row in rows] == [s.slug for s in SPECIALTIES]
    assert {row["practitioner"] for row in rows if row["slug"] == "cardiology"} == {"cardiologist"}
    assert all(set(row) == {"slug", "name", "practitioner", "thread_count"} for row in rows)


def test_flask_cases_setup_creates_the_communities_once(app: Any) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["cases", "setup"])
    second = runner.invoke(args=["cases", "setup"])
    assert first.exit_code == 0, first.output
    assert f"{len(SPECIALTIES)} communities created" in first.output
    assert "0 communities created" in second.output


def test_the_demo_seed_creates_the_communities(app: Any) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    assert Kit(app).count(Community) == len(SPECIALTIES)


def test_the_communities_page_lists_every_community_and_marks_the_members_own(kit: Kit) -> None:
    client = kit.client(kit.member("neurology"))
    page = text(client.get("/communities"))
    for specialty in SPECIALTIES:
        assert specialty.name in page
    assert re.search(r"Neurology</a>\s*<span class=\"badge\">Your community", page)


# --- Presenting a case -------------------------------------------------------------------------


def test_the_case_form_explains_each_field_in_one_line(kit: Kit) -> None:
    page = text(kit.client(kit.member()).get("/c/cardiology/new-case"))
    assert "Use relative days such as 'day 3', never calendar dates" in page
    assert "An age band, never an exact age" in page
    assert "A kind of setting, never a facility name" in page
    for label in ("Presenting problem", "History", "Examination and investigations"):
        assert label in page
    assert 'name="poll_question"' in page
    assert 'name="images"' in page
    assert 'enctype="multipart/form-data"' in page
    for band in ("under 1", "90 or older", "30s"):
        assert f'value="{band}"' in page


def test_a_physician_presents_a_structured_case(kit: Kit) -> None:
    author = kit.member()
    client = kit.client(author)
    form = {**CASE_FORM, "management": "Started **aspirin**.", "tags": "Syncope, murmur, syncope"}

    thread_id = thread_id_of(client.post("/c/cardiology/new-case", data=form))

    with kit.db():
        thread = kit.thread(thread_id)
        assert thread.is_case
        assert thread.is_published
        assert (thread.age_band, thread.sex, thread.setting) == ("40s", "female", "outpatient")
        assert thread.status == CaseStatus.OPEN
        assert thread.title == CASE_FORM["title"]
        assert [t.tag for t in thread.tags] == ["murmur", "syncope"]
        sections = thread.section_map()
        assert set(sections) == {"presenting", "history", "examination", "management", "question"}
        assert sections["management"].source == "Started **aspirin**."
        assert sections["management"].html == "<p>Started <strong>aspirin</strong>.</p>"
        opening = kit.opening(thread_id)
        assert opening.visibility == Visibility.PUBLISHED
        for title in ("Presenting problem", "Current management", "The question for colleagues"):
            assert f"## {title}" in opening.source
        assert "**Age band:** 40s" in opening.source
        assert "<strong>aspirin</strong>" in opening.html
        assert thread.community.thread_count == 1
        follow = db.session.get(Follow, (thread_id, author.id))
        assert follow is not None

    page = text(client.get(f"/t/{thread_id}"))
    assert "Two episodes of syncope while climbing stairs." in page
    assert "<strong>aspirin</strong>" in page
    assert "<title>Recurrent syncope on exertion · Curbside</title>" in page


def test_a_discussion_has_a_title_a_body_and_tags(kit: Kit) -> None:
    client = kit.client(kit.member())
    data = {"title": "Night shifts", "body": "How do you *recover*?", "tags": "wellbeing"}
    thread_id = thread_id_of(client.post("/c/emergency-medicine/new-discussion", data=data))
    with kit.db():
        thread = kit.thread(thread_id)
        assert not thread.is_case
        assert thread.community.slug == "emergency-medicine"
        assert kit.opening(thread_id).html == "<p>How do you <em>recover</em>?</p>"
        assert [t.tag for t in thread.tags] == ["wellbeing"]
    page = text(client.get("/c/emergency-medicine/new-discussion"))
    assert 'name="images"' not in page
    assert 'name="poll_question"' in page


def test_a_case_with_a_poll_stores_the_poll(kit: Kit) -> None:
    client = kit.client(kit.member())
    form = {
        **CASE_FORM,
        "poll_question": "Exercise test?",
        "poll_option": ["Yes", "No", "Echo first"],
    }
    thread_id = thread_id_of(client.post("/c/cardiology/new-case", data=form))
    with kit.db():
        poll = db.session.scalar(sa.select(Poll).where(Poll.thread_id == thread_id))
        assert poll is not None
        assert [o.label for o in poll.options] == ["Yes", "No", "Echo first"]
    page = text(client.get(f"/t/{thread_id}"))
    assert "Poll: Exercise test?" in page


def test_a_poll_with_too_few_options_comes_back_and_stores_nothing(kit: Kit) -> None:
    client = kit.client(kit.member())
    form = {**CASE_FORM, "poll_question": "Exercise test?", "poll_option": ["Yes"]}
    response = client.post("/c/cardiology/new-case", data=form)
    assert response.status_code == 422
    assert "Give at least 2 options." in text(response)
    assert CASE_FORM["presenting"] in text(response)
    assert kit.count(Thread) == 0


def test_a_case_with_an_image_waits_for_a_moderator(kit: Kit) -> None:
    author, other = kit.member(), kit.member()
    client = kit.client(author)
    form = {**CASE_FORM, "images": (io.BytesIO(png()), "rash.png")}
    thread_id = thread_id_of(
        client.post("/c/cardiology/new-case", data=form, content_type="multipart/form-data")
    )
    with kit.db():
        thread = kit.thread(thread_id)
        assert thread.visibility == Visibility.PENDING
        assert kit.opening(thread_id).visibility == Visibility.PENDING
        assert len(kit.opening(thread_id).images) == 1
        assert thread.community.thread_count == 0
    assert client.get(f"/t/{thread_id}").status_code == 200
    assert kit.client(other).get(f"/t/{thread_id}").status_code == 404
    assert CASE_FORM["title"] not in text(kit.client(other).get("/c/cardiology"))


# --- Bad input ---------------------------------------------------------------------------------


def test_bad_fields_come_back_beside_their_fields_with_the_text_kept(kit: Kit) -> None:
    client = kit.client(kit.member())
    long_history = "History line. " * 400  # 5,600 characters
    form = {
        **CASE_FORM,
        "title": "T" * 151,
        "history": long_history,
        "question": "   ",
        "tags": "Chest Pain",
        "age_band": "42",
    }

    response = client.post("/c/cardiology/new-case", data=form)

    assert response.status_code == 422
    page = text(response)
    for name in ("title", "history", "question", "tags", "age_band"):
        assert f'id="{name}-error"' in page, name
    assert "write chest-pain, not chest pain" in page
    assert long_history.strip() in page
    assert "T" * 151 in page
    assert kit.count(Thread) == kit.count(Post) == kit.count(CaseSection) == 0


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ("a, b, c, d, e, f", "Use at most 5 tags."),
        ("x" * 31, "30 characters"),
        ("ecg!", "lower-case letters, digits and hyphens"),
    ],
)
def test_tags_are_few_short_and_plain(kit: Kit, tags: str, message: str) -> None:
    client = kit.client(kit.member())
    response = client.post("/c/cardiology/new-case", data={**CASE_FORM, "tags": tags})
    assert response.status_code == 422
    assert message in text(response)
    assert kit.count(ThreadTag) == 0


def test_an_oversized_discussion_body_is_refused_with_the_text_kept(kit: Kit) -> None:
    client = kit.client(kit.member())
    body = "word " * 4001  # 20,005 characters
    response = client.post("/c/cardiology/new-discussion", data={"title": "Long", "body": body})
    assert response.status_code == 422
    assert 'id="body-error"' in text(response)
    assert body.strip() in text(response)
    assert kit.count(Thread) == 0


def test_the_service_checks_limits_itself(kit: Kit) -> None:
    author = kit.member()
    with kit.db():
        community = db.session.scalar(sa.select(Community).where(Community.slug == "cardiology"))
        assert community is not None
        draft = services.CaseDraft("t", "12", "female", "ward", {"presenting": "x" * 5001})
        with pytest.raises(services.InvalidSubmission) as raised:
            services.open_case(kit.user(author), community, draft, services.Extras())
    assert set(raised.value.errors) == {"age_band", "setting", "presenting", "question"}
    assert kit.count(Thread) == 0


@pytest.mark.parametrize(
    "path",
    [
        "/c/no-such-community",
        "/c/no-such-community/new-case",
        "/c/no-such-community/new-discussion",
        "/t/999",
        "/t/999/outcome",
        "/p/999",
        "/p/999/edit",
        "/p/999/history",
        "/t/99999999999999999999",
        "/p/99999999999999999999/edit",
    ],
)
def test_unknown_communities_threads_and_posts_are_not_found(kit: Kit, path: str) -> None:
    assert kit.client(kit.member()).get(path).status_code == 404


def test_a_thread_page_past_the_last_page_is_not_found(kit: Kit) -> None:
    author = kit.member()
    thread_id = kit.case(author)
    client = kit.client(author)
    assert client.get(f"/t/{thread_id}?page=2").status_code == 404
    assert client.get(f"/t/{thread_id}?page=0").status_code == 404
    assert client.post("/t/999/reply", data={"body": "Hello"}).status_code == 404
    assert client.get(f"/t/{thread_id}?quote=99999999999999999999").status_code == 200
    too_big = {"body": "Hello", "quoted_post_id": "999999999999"}
    assert client.post(f"/t/{thread_id}/reply", data=too_big).status_code == 302


def test_members_who_are_not_verified_physicians_are_sent_to_verification(kit: Kit) -> None:
    author = kit.member()
    thread_id = kit.case(author)
    newcomer = kit.client(kit.member(verified=False))
    for path in ("/c/cardiology", f"/t/{thread_id}", "/communities", "/bookmarks"):
        response = newcomer.get(path)
        assert response.status_code == 302
        assert response.headers["Location"] == "/verification/"
    refused = newcomer.post("/c/cardiology/new-case", data=CASE_FORM)
    assert refused.headers["Location"] == "/verification/"
    assert kit.count(Thread) == 1
    stranger = kit.app.test_client()
    assert stranger.get(f"/t/{thread_id}").headers["Location"].startswith("/sign-in")


# --- The PHI gate on the write path ------------------------------------------------------------


def test_a_blocked_case_stores_nothing_and_shows_each_finding_with_the_text_kept(
    kit: Kit, scanner: Flag
) -> None:
    scanner("Jane Doe", Action.BLOCK)
    client = kit.client(kit.member())
    form = {
        **CASE_FORM,
        "title": "Syncope in Jane Doe",
        "presenting": "Jane Doe fainted twice on the stairs.",
        "poll_question": "Exercise test?",
        "poll_option": ["Yes", "Ask Jane Doe"],
    }

    response = client.post("/c/cardiology/new-case", data=form)

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "<mark>Jane Doe</mark> fainted twice on the stairs." in page
    assert "Syncope in <mark>Jane Doe</mark>" in page
    assert "Ask <mark>Jane Doe</mark>" in page
    assert "Poll option 2" in page
    assert "This looks like a patient&#39;s name." in page
    assert "Write &#39;the patient&#39; instead." in page
    assert "\nJane Doe fainted twice on the stairs.</textarea>" in page  # the text is kept
    assert 'value="Syncope in Jane Doe"' in page
    assert 'id="presenting-error"' in page
    for model in (Thread, Post, CaseSection, Poll, ThreadTag):
        assert kit.count(model) == 0
    assert kit.count(AuditEvent, AuditEvent.action == "post.held_for_review") == 0


def test_tags_go_through_the_gate(kit: Kit, scanner: Flag) -> None:
    scanner("smith", Action.BLOCK)
    client = kit.client(kit.member())
    response = client.post("/c/cardiology/new-case", data={**CASE_FORM, "tags": "smith, ecg"})
    assert response.status_code == 422
    assert "<mark>smith</mark>, ecg" in response.get_data(as_text=True)
    assert kit.count(Thread) == 0


def test_a_held_case_is_pending_and_seen_only_by_its_author_and_moderators(
    kit: Kit, scanner: Flag
) -> None:
    scanner("Ward 7", Action.REVIEW)
    author, colleague = kit.member(), kit.member()
    moderator = kit.member(roles=(Role.MODERATOR,))
    client = kit.client(author)
    form = {**CASE_FORM, "history": "Admitted to Ward 7 on day 2."}

    thread_id = thread_id_of(client.post("/c/cardiology/new-case", data=form))

    with kit.db():
        thread = kit.thread(thread_id)
        assert thread.visibility == Visibility.PENDING
        assert kit.opening(thread_id).visibility == Visibility.PENDING
        assert thread.community.thread_count == 0
        event = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "post.held_for_review")
        )
        assert event is not None
        assert event.details == {"reason": "phi", "fields": ["history"], "kinds": ["NAME"]}
        assert "Ward 7" not in str(event.details)
    own = client.get(f"/t/{thread_id}")
    assert own.status_code == 200
    assert "waiting for a moderator" in text(own)
    assert "Waiting for review" in text(own)
    assert kit.client(moderator).get(f"/t/{thread_id}").status_code == 200
    other = kit.client(colleague)
    assert other.get(f"/t/{thread_id}").status_code == 404
    assert CASE_FORM["title"] not in text(other.get("/c/cardiology"))
    assert CASE_FORM["title"] not in text(other.get("/"))
    assert CASE_FORM["title"] not in text(client.get("/c/cardiology"))


def test_a_held_reply_is_seen_only_by_its_author_and_moderators(kit: Kit, scanner: Flag) -> None:
    author, replier, colleague = kit.member(), kit.member(), kit.member()
    moderator = kit.member(roles=(Role.MODERATOR,))
    thread_id = kit.case(author)
    scanner("bed 12", Action.REVIEW)
    client = kit.client(replier)

    response = client.post(f"/t/{thread_id}/reply", data={"body": "Saw them in bed 12."})

    assert response.status_code == 302
    with kit.db():
        post = db.session.scalar(sa.select(Post).where(Post.is_opening.is_(False)))
        assert post is not None
        assert post.visibility == Visibility.PENDING
        thread = kit.thread(thread_id)
        assert thread.reply_count == 0
        assert thread.status == CaseStatus.OPEN
    assert "Saw them in bed 12." in text(client.get(f"/t/{thread_id}"))
    assert "Saw them in bed 12." in text(kit.client(moderator).get(f"/t/{thread_id}"))
    for member in (author, colleague):
        page = text(kit.client(member).get(f"/t/{thread_id}"))
        assert "Saw them in bed 12." not in page
    assert "0 replies" in text(kit.client(colleague).get("/c/cardiology"))


def test_a_blocked_reply_is_not_stored_and_keeps_the_text(kit: Kit, scanner: Flag) -> None:
    author = kit.member()
    thread_id = kit.case(author)
    scanner("Jane Doe", Action.BLOCK)
    client = kit.client(kit.member())
    response = client.post(f"/t/{thread_id}/reply", data={"body": "Ask Jane Doe's GP."})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Ask <mark>Jane Doe</mark>&#39;s GP." in page
    assert "\nAsk Jane Doe&#39;s GP.</textarea>" in page
    assert kit.count(Post) == 1


# --- Case life ---------------------------------------------------------------------------------


def test_a_case_is_answered_when_a_colleague_replies_not_when_the_author_does(kit: Kit) -> None:
    author, colleague = kit.member(), kit.member()
    thread_id = kit.case(author)
    kit.reply(author, thread_id, "Some more detail.")
    with kit.db():
        assert kit.thread(thread_id).status == CaseStatus.OPEN
    kit.reply(colleague, thread_id)
    with kit.db():
        thread = kit.thread(thread_id)
        assert thread.status == CaseStatus.ANSWERED
        assert thread.reply_count == 2


def test_the_author_accepts_a_reply_changes_it_and_withdraws_it(kit: Kit) -> None:
    author, first, second = kit.member(), kit.member(), kit.member()
    thread_id = kit.case(author)
    one, two = kit.reply(first, thread_id), kit.reply(second, thread_id, "Try a beta blocker.")
    client = kit.client(author)

    assert client.post(f"/p/{one}/accept", data={"state": "on"}).status_code == 302
    with kit.db():
        thread = kit.thread(thread_id)
        assert (thread.status, thread.accepted_post_id) == (CaseStatus.SOLVED, one)
        solved_at = thread.solved_at
        assert solved_at is not None
    page = text(client.get(f"/t/{thread_id}"))
    assert "Accepted answer" in page
    assert "Solved" in page

    client.post(f"/p/{two}/accept", data={"state": "on"})
    with kit.db():
        thread = kit.thread(thread_id)
        assert (thread.accepted_post_id, thread.solved_at) == (two, solved_at)

    client.post(f"/p/{two}/accept", data={"state": "off"})
    with kit.db():
        thread = kit.thread(thread_id)
        assert (thread.status, thread.accepted_post_id) == (CaseStatus.ANSWERED, None)
        assert thread.solved_at is None


def test_only_the_author_accepts_and_never_their_own_reply(kit: Kit) -> None:
    author, colleague = kit.member(), kit.member()
    thread_id = kit.case(author)
    theirs, own = kit.reply(colleague, thread_id), kit.reply(author, thread_id, "Update: better.")
    kit.client(colleague).post(f"/p/{theirs}/accept", data={"state": "on"})
    kit.client(author).post(f"/p/{own}/accept", data={"state": "on"})
    with kit.db():
        thread = kit.thread(thread_id)
        assert thread.accepted_post_id is None
        assert thread.status == CaseStatus.ANSWERED


def test_deleting_the_accepted_reply_unsolves_the_case(kit: Kit) -> None:
    author, colleague = kit.member(), kit.member()
    thread_id = kit.case(author)
    reply_id = kit.reply(colleague, thread_id)
    kit.client(author).post(f"/p/{reply_id}/accept", data={"state": "on"})
    kit.client(colleague).post(f"/p/{reply_id}/delete")
    with kit.db():
        thread = kit.thread(thread_id)
        assert thread.accepted_post_id is None
        assert thread.status == CaseStatus.OPEN
        assert thread.reply_count == 0


def test_the_author_adds_the_outcome_later(kit: Kit) -> None:
    author, colleague = kit.member(), kit.member()
    thread_id = kit.case(author)
    client = kit.client(author)
    assert client.get(f"/t/{thread_id}/outcome").status_code == 200

    response = client.post(f"/t/{thread_id}/outcome", data={"outcome": "Recovered by *day 10*."})

    assert response.status_code == 302
    with kit.db():
        thread = kit.thread(thread_id)
        assert thread.outcome_html == "<p>Recovered by <em>day 10</em>.</p>"
        assert thread.outcome_visibility == Visibility.PUBLISHED
    assert "Recovered by <em>day 10</em>." in kit.client(colleague).get(f"/t/{thread_id}").get_data(
        as_text=True
    )
    assert kit.client(colleague).get(f"/t/{thread_id}/outcome").status_code == 403
    refused = kit.client(colleague).post(f"/t/{thread_id}/outcome", data={"outcome": "Mine"})
    assert refused.status_code == 403


def test_an_outcome_goes_through_the_gate(kit: Kit, scanner: Flag) -> None:
    author, colleague = kit.member(), kit.member()
    thread_id = kit.case(author)
    client = kit.client(author)
    scanner("Jane", Action.BLOCK)
    blocked = client.post(f"/t/{thread_id}/outcome", data={"outcome": "Jane went home."})
    assert blocked.status_code == 422
    assert "<mark>Jane</mark> went home." in blocked.get_data(as_text=True)
    with kit.db():
        assert kit.thread(thread_id).outcome_source is None

    scanner("Rome", Action.REVIEW)
    client.post(f"/t/{thread_id}/outcome", data={"outcome": "Moved to Rome."})
    with kit.db():
        assert kit.thread(thread_id).outcome_visibility == Visibility.PENDING
    assert "Moved to Rome." in text(client.get(f"/t/{thread_id}"))
    assert "Moved to Rome." not in text(kit.client(colleague).get(f"/t/{thread_id}"))


def _solve(kit: Kit, thread_id: int, days_ago: int) -> None:
    with kit.db():
        thread = kit.thread(thread_id)
        thread.status = CaseStatus.SOLVED
        thread.solved_at = utcnow() - timedelta(days=days_ago)
        db.session.commit()


def test_authors_are_reminded_once_of_outcomes_two_weeks_after_solving(
    kit: Kit, mailbox: Mailbox
) -> None:
    author = kit.member(email="author@hospital.example")
    due = kit.case(author, title="Breathless after a long flight")
    recent = kit.case(author, title="Solved yesterday")
    with_outcome = kit.case(author, title="Already told")
    kit.reply(kit.member(), due, "The secret reply text.")
    _solve(kit, due, 15)
    _solve(kit, recent, 13)
    _solve(kit, with_outcome, 20)
    with kit.db():
        services.set_outcome(kit.user(author), kit.thread(with_outcome), "Fine.")

    runner = kit.app.test_cli_runner()
    first = runner.invoke(args=["cases", "remind-outcomes"])
    second = runner.invoke(args=["cases", "remind-outcomes"])

    assert first.exit_code == 0, first.output
    assert "1 outcome reminder sent." in first.output
    assert "0 outcome reminders sent." in second.output
    messages = mailbox.to("author@hospital.example")
    assert len(messages) == 1
    body = body_text(messages[0])
    assert "Breathless after a long flight" in body
    assert f"http://curbside.example/t/{due}/outcome" in body
    assert "The secret reply text." not in messages[0].as_string()
    assert "Chest pain." not in messages[0].as_string()
    with kit.db():
        assert kit.thread(due).outcome_reminded_at is not None
        assert kit.thread(recent).outcome_reminded_at is None


def test_a_failed_reminder_is_tried_again_next_time(kit: Kit, mailbox: Mailbox) -> None:
    author = kit.member(email="refused@hospital.example")
    thread_id = kit.case(author)
    _solve(kit, thread_id, 30)
    mailbox.refuse.add("refused@hospital.example")
    with kit.db():
        assert services.remind_outcomes() == 0
        assert kit.thread(thread_id).outcome_reminded_at is None
    mailbox.refuse.clear()
    with kit.db():
        assert services.remind_outcomes() == 1
    assert len(mailbox.to("refused@hospital.example")) == 1

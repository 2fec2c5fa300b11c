"""Polls: checked drafts, one secret ballot per member (races included), results after voting."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, render_template
from werkzeug.datastructures import MultiDict

from forum.accounts.models import User
from forum.audit import AuditEvent
from forum.cases import polls
from forum.cases.models import (
    Ballot,
    Community,
    Poll,
    PollOption,
    Post,
    Thread,
    ThreadKind,
    Visibility,
)
from forum.cases.polls import PollDraft, PollError
from forum.extensions import db
from tests.cases.conftest import CASE_FORM, Kit
from tests.factories import make_user, sign_in

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def make_thread(author_id: int, *, visibility: str = Visibility.PUBLISHED) -> Thread:
    community = db.session.scalar(sa.select(Community).where(Community.slug == "cardiology"))
    if community is None:
        community = Community(slug="cardiology", name="Cardiology", practitioner="cardiologist")
    thread = Thread(
        community=community,
        kind=ThreadKind.CASE,
        title="Syncope on exertion",
        author_id=author_id,
        visibility=visibility,
    )
    post = Post(
        thread=thread,
        author_id=author_id,
        is_opening=True,
        source="A case",
        html="<p>A case</p>",
        visibility=visibility,
    )
    db.session.add_all([thread, post])
    db.session.flush()
    return thread


def make_poll(
    *options: str, multiple: bool = False, closes_at: datetime | None = None, author: int = 0
) -> Poll:
    author = author or make_user(verified=True).id
    thread = make_thread(author)
    draft = PollDraft("Would you anticoagulate?", options or ("Yes", "No"), multiple, None)
    poll = polls.create_poll(thread, draft)
    poll.closes_at = closes_at  # set after the checks, so tests can make polls that closed
    db.session.commit()
    return poll


def counts(poll_id: int) -> dict[str, int]:
    rows = db.session.execute(
        sa.select(PollOption.label, PollOption.votes).where(PollOption.poll_id == poll_id)
    )
    return {row.label: row.votes for row in rows}


def option_id(poll: Poll, label: str) -> int:
    return next(option.id for option in poll.options if option.label == label)


def user(member_id: int) -> User:
    found = db.session.get(User, member_id)
    assert found is not None
    return found


def draft(**changes: Any) -> PollDraft:
    values: dict[str, Any] = {
        "question": "Would you anticoagulate?",
        "options": ("Yes", "No"),
        "multiple": False,
        "closes_at": None,
    }
    return PollDraft(**{**values, **changes})


# --- Reading and checking the form -------------------------------------------------------------


def test_the_form_gives_a_draft_and_an_empty_poll_gives_none() -> None:
    form = MultiDict(
        [
            ("poll_question", "  Would you   anticoagulate? "),
            ("poll_option", "Yes"),
            ("poll_option", ""),
            ("poll_option", "No"),
            ("poll_multiple", "y"),
            ("poll_closes", "2030-05-03T18:30"),
        ]
    )
    found = polls.poll_from_form(form)
    assert found == PollDraft(
        "Would you anticoagulate?",
        ("Yes", "", "No"),
        True,
        datetime(2030, 5, 3, 18, 30, tzinfo=UTC),
        "2030-05-03T18:30",
    )
    assert found.filled_options() == ["Yes", "No"]

    empty = MultiDict([("poll_question", " "), ("poll_option", ""), ("poll_multiple", "y")])
    assert polls.poll_from_form(empty) is None
    assert polls.poll_from_form({}) is None


def test_a_valid_draft_has_no_errors() -> None:
    assert polls.poll_errors(draft(closes_at=NOW + timedelta(days=90)), now=NOW) == {}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"question": ""}, "poll_question", "Ask a question"),
        ({"question": "x" * 201}, "poll_question", "200 characters"),
        ({"options": ("Yes", "", "")}, "poll_option", "at least 2"),
        ({"options": tuple(f"Option {n}" for n in range(11))}, "poll_option", "at most 10"),
        ({"options": ("Yes", "n" * 121)}, "poll_option_2", "120 characters"),
        ({"options": ("Yes", "No", " ", "yES")}, "poll_option_4", "repeats option 1"),
        ({"closes_at": NOW - timedelta(minutes=1)}, "poll_closes", "in the future"),
        ({"closes_at": NOW}, "poll_closes", "in the future"),
        ({"closes_at": NOW + timedelta(days=90, minutes=1)}, "poll_closes", "90 days"),
        ({"closes_text": "next tuesday"}, "poll_closes", "date and time"),
    ],
)
def test_each_rule_names_its_field(changes: dict[str, Any], field: str, message: str) -> None:
    errors = polls.poll_errors(draft(**changes), now=NOW)
    assert list(errors) == [field]
    assert message in errors[field]


def test_ten_options_are_allowed() -> None:
    ten = tuple(f"Option {n}" for n in range(10))
    assert polls.poll_errors(draft(options=ten), now=NOW) == {}


def test_an_unreadable_closing_time_comes_from_the_form_as_an_error() -> None:
    form = MultiDict([("poll_question", "Q?"), ("poll_option", "A"), ("poll_option", "B"),
                      ("poll_closes", "31/12/2030")])  # fmt: skip
    found = polls.poll_from_form(form)
    assert found is not None
    assert found.closes_at is None
    assert "poll_closes" in polls.poll_errors(found, now=NOW)


def test_the_phi_gate_sees_the_question_and_every_option() -> None:
    fields = polls.poll_text_fields(draft(options=("Warfarin", "", "Apixaban for Jane Doe")))
    assert fields == {
        "poll_question": "Would you anticoagulate?",
        "poll_option_1": "Warfarin",
        "poll_option_3": "Apixaban for Jane Doe",
    }


# --- Storing ------------------------------------------------------------------------------------


def test_a_poll_is_added_without_committing(app_context: None) -> None:
    thread = make_thread(make_user(verified=True).id)
    db.session.commit()
    poll = polls.create_poll(thread, draft(options=("Yes", "", "No", "Unsure")))
    db.session.flush()
    assert [(o.position, o.label) for o in poll.options] == [(1, "Yes"), (2, "No"), (3, "Unsure")]

    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Poll)) == 0


def test_a_poll_that_breaks_a_rule_is_not_stored(app_context: None) -> None:
    thread = make_thread(make_user(verified=True).id)
    with pytest.raises(PollError):
        polls.create_poll(thread, draft(options=("Only one",)))


# --- Ballots ------------------------------------------------------------------------------------


def test_a_ballot_counts_once_and_a_second_is_refused(app_context: None) -> None:
    poll = make_poll("Yes", "No")
    voter = make_user(verified=True).id

    polls.cast_ballot(user(voter), poll, [option_id(poll, "Yes")], NOW)
    assert counts(poll.id) == {"Yes": 1, "No": 0}

    with pytest.raises(PollError, match=r"You have already voted\."):
        polls.cast_ballot(user(voter), poll, [option_id(poll, "No")], NOW)
    assert counts(poll.id) == {"Yes": 1, "No": 0}
    assert poll.voter_count == 1


def test_the_database_refuses_a_second_ballot_by_itself(app_context: None) -> None:
    poll = make_poll("Yes", "No")
    voter = make_user(verified=True).id
    polls.cast_ballot(user(voter), poll, [option_id(poll, "Yes")], NOW)

    db.session.add(Ballot(poll_id=poll.id, user_id=voter, cast_at=NOW))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


@pytest.mark.parametrize("skip_the_check", [False, True])
def test_two_ballots_at_once_by_one_member_count_once(
    app: Flask, monkeypatch: pytest.MonkeyPatch, skip_the_check: bool
) -> None:
    with app.app_context():
        poll = make_poll("Yes", "No")
        poll_id, yes, no = poll.id, option_id(poll, "Yes"), option_id(poll, "No")
        voter = make_user(verified=True).id
    if skip_the_check:
        # Both requests pass the "already voted?" read before either writes: only the
        # primary key stands between them.
        monkeypatch.setattr(polls, "has_voted", lambda _user, _poll: False)

    start = threading.Barrier(2)
    outcomes: list[str] = []

    def vote(choice: int) -> None:
        with app.app_context():
            start.wait(timeout=10)
            found = db.session.get(Poll, poll_id)
            assert found is not None
            try:
                polls.cast_ballot(user(voter), found, [choice], NOW)
            except PollError as error:
                outcomes.append(error.message)
            else:
                outcomes.append("counted")

    workers = [threading.Thread(target=vote, args=(choice,)) for choice in (yes, no)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)

    assert sorted(outcomes) == ["You have already voted.", "counted"]
    with app.app_context():
        assert sum(counts(poll_id).values()) == 1
        assert db.session.get(Poll, poll_id).voter_count == 1  # type: ignore[union-attr]
        ballots = sa.select(sa.func.count()).select_from(Ballot).where(Ballot.poll_id == poll_id)
        assert db.session.scalar(ballots) == 1


def test_a_single_choice_poll_takes_exactly_one_option(app_context: None) -> None:
    poll = make_poll("Yes", "No")
    voter = user(make_user(verified=True).id)
    with pytest.raises(PollError, match="Choose one option"):
        polls.cast_ballot(voter, poll, [option_id(poll, "Yes"), option_id(poll, "No")], NOW)
    with pytest.raises(PollError, match="Choose an option"):
        polls.cast_ballot(voter, poll, [], NOW)
    assert counts(poll.id) == {"Yes": 0, "No": 0}
    assert not polls.has_voted(voter, poll)


def test_options_of_another_poll_are_refused(app_context: None) -> None:
    poll = make_poll("Yes", "No")
    other = make_poll("Left", "Right")
    voter = user(make_user(verified=True).id)
    with pytest.raises(PollError, match="not part of this poll"):
        polls.cast_ballot(voter, poll, [option_id(other, "Left")], NOW)
    assert counts(other.id) == {"Left": 0, "Right": 0}


def test_a_multiple_choice_poll_counts_each_chosen_option(app_context: None) -> None:
    poll = make_poll("Aspirin", "Clopidogrel", "Heparin", multiple=True)
    first = user(make_user(verified=True).id)
    second = user(make_user(verified=True).id)

    polls.cast_ballot(first, poll, [option_id(poll, "Aspirin"), option_id(poll, "Heparin")], NOW)
    polls.cast_ballot(second, poll, [option_id(poll, "Aspirin")], NOW)

    assert counts(poll.id) == {"Aspirin": 2, "Clopidogrel": 0, "Heparin": 1}
    view = polls.poll_view(poll, second, NOW)
    assert view.voter_count == 2
    assert [(r.label, r.votes, r.percent) for r in view.results] == [
        ("Aspirin", 2, 100),
        ("Clopidogrel", 0, 0),
        ("Heparin", 1, 50),
    ]


def test_a_closed_poll_takes_no_ballots_and_shows_its_results(app_context: None) -> None:
    poll = make_poll("Yes", "No", closes_at=NOW)
    voter = user(make_user(verified=True).id)
    with pytest.raises(PollError, match="closed"):
        polls.cast_ballot(voter, poll, [option_id(poll, "Yes")], NOW)

    before = polls.poll_view(poll, voter, NOW - timedelta(seconds=1))
    assert not before.closed
    assert not before.show_results
    assert before.can_vote
    after = polls.poll_view(poll, voter, NOW)
    assert after.closed
    assert after.show_results
    assert not after.can_vote
    assert [r.votes for r in after.results] == [0, 0]


def test_results_stay_hidden_until_the_member_votes_even_from_the_author(
    app_context: None,
) -> None:
    author = make_user(verified=True).id
    poll = make_poll("Yes", "No", author=author)
    voter = user(make_user(verified=True).id)
    polls.cast_ballot(voter, poll, [option_id(poll, "Yes")], NOW)

    hidden = polls.poll_view(poll, user(author), NOW)
    assert not hidden.voted
    assert not hidden.show_results
    assert hidden.results == ()
    assert hidden.voter_count is None
    assert [choice.label for choice in hidden.choices] == ["Yes", "No"]

    shown = polls.poll_view(poll, voter, NOW)
    assert shown.voted
    assert [(r.label, r.votes, r.percent) for r in shown.results] == [("Yes", 1, 100), ("No", 0, 0)]


def test_no_table_links_a_member_to_an_option(app_context: None) -> None:
    poll = make_poll("Yes", "No")
    polls.cast_ballot(user(make_user(verified=True).id), poll, [option_id(poll, "No")], NOW)

    inspector = sa.inspect(db.engine)
    for table in inspector.get_table_names():
        referred = {fk["referred_table"] for fk in inspector.get_foreign_keys(table)}
        assert not {"user_account", "poll_option"} <= referred, table
        if "poll_option" in referred:
            columns = {column["name"] for column in inspector.get_columns(table)}
            assert not any("user" in name or "author" in name for name in columns), table
    ballot_columns = {column["name"] for column in inspector.get_columns("ballot")}
    assert ballot_columns == {"poll_id", "user_id", "cast_at"}
    # Nor does the audit log record votes.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


# --- Pages --------------------------------------------------------------------------------------


def test_the_poll_partial_shows_a_ballot_then_bars(app: Flask) -> None:
    with app.app_context():
        poll = make_poll("Yes", "No")
        poll_id = poll.id
        voter = user(make_user(verified=True).id)
        with app.test_request_context("/"):
            ballot = render_template(
                "cases/_poll.html", poll_view=polls.poll_view(poll, voter, NOW)
            )
        polls.cast_ballot(voter, poll, [option_id(poll, "Yes")], NOW)
        poll = db.session.get(Poll, poll_id)
        with app.test_request_context("/"):
            results = render_template(
                "cases/_poll.html", poll_view=polls.poll_view(poll, voter, NOW)
            )
    assert 'type="radio"' in ballot
    assert 'name="csrf_token"' in ballot
    assert f'action="/polls/{poll_id}/vote"' in ballot
    assert "<meter" not in ballot
    assert "% ·" not in ballot
    assert "member voted" not in ballot
    assert '<meter class="poll__bar" min="0" max="100" value="100"' in results
    assert "100% · 1 vote" in results
    assert 'type="radio"' not in results


def test_the_poll_form_keeps_the_text_and_shows_errors_beside_fields(app: Flask) -> None:
    data = MultiDict([("poll_question", "Which <b>dose</b>?"), ("poll_option", "5 mg"),
                      ("poll_option", "5 MG"), ("poll_closes", "2020-01-01T10:00")])  # fmt: skip
    with app.test_request_context("/", method="POST", data=data):
        draft_ = polls.poll_from_form(data)
        assert draft_ is not None
        errors = polls.poll_errors(draft_)
        html = render_template("cases/_poll_form.html", poll_errors=errors)
        blank = render_template("cases/_poll_form.html")
    assert set(errors) == {"poll_option_2", "poll_closes"}
    assert "<legend>Poll (optional)</legend>" in html
    assert 'value="Which &lt;b&gt;dose&lt;/b&gt;?"' in html
    assert 'value="5 MG"' in html
    assert 'id="poll_option_2-error"><li>This repeats option 1.</li>' in html
    assert "The closing time has to be in the future." in html
    assert html.count('name="poll_option"') == 10
    assert "UTC" in html
    assert "field-errors" not in blank


def test_a_member_votes_through_the_page(app: Flask, client: Any) -> None:
    with app.app_context():
        poll = make_poll("Yes", "No")
        poll_id, thread_id, yes = poll.id, poll.thread_id, option_id(poll, "Yes")
        member = make_user(verified=True)
    sign_in(client, member, app)

    response = client.post(f"/polls/{poll_id}/vote", data={"option": str(yes)})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("#poll")
    assert str(thread_id) in response.headers["Location"]
    again = client.post(f"/polls/{poll_id}/vote", data={"option": str(yes)})
    assert again.status_code == 302
    with client.session_transaction() as session:
        flashes = session.get("_flashes", [])
    assert ("error", "You have already voted.") in flashes
    with app.app_context():
        assert counts(poll_id) == {"Yes": 1, "No": 0}


def test_a_tampered_ballot_is_refused_with_a_message(app: Flask, client: Any) -> None:
    with app.app_context():
        poll_id = make_poll("Yes", "No").id
        member = make_user(verified=True)
    sign_in(client, member, app)
    response = client.post(f"/polls/{poll_id}/vote", data={"option": "1; DROP"})
    assert response.status_code == 302
    with client.session_transaction() as session:
        assert session["_flashes"][-1][0] == "error"
    with app.app_context():
        assert counts(poll_id) == {"Yes": 0, "No": 0}


def test_a_poll_on_a_thread_the_member_cannot_see_is_not_found(app: Flask, client: Any) -> None:
    with app.app_context():
        author = make_user(verified=True).id
        thread = make_thread(author, visibility=Visibility.PENDING)
        poll = polls.create_poll(thread, draft())
        db.session.commit()
        poll_id, yes = poll.id, poll.options[0].id
        member = make_user(verified=True)
    sign_in(client, member, app)
    assert client.post(f"/polls/{poll_id}/vote", data={"option": str(yes)}).status_code == 404
    assert client.post("/polls/999999/vote", data={"option": "1"}).status_code == 404
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ballot)) == 0


def test_unverified_members_cannot_vote(app: Flask, client: Any) -> None:
    with app.app_context():
        poll = make_poll("Yes", "No")
        poll_id, yes = poll.id, option_id(poll, "Yes")
        member = make_user(verified=False)
    sign_in(client, member, app)
    response = client.post(f"/polls/{poll_id}/vote", data={"option": str(yes)})
    assert response.status_code == 302
    assert "/polls/" not in response.headers["Location"]
    with app.app_context():
        assert counts(poll_id) == {"Yes": 0, "No": 0}


def test_a_case_with_a_poll_shows_a_ballot_then_results_on_its_page(
    app: Flask, kit: Kit, quiet_detector: None
) -> None:
    author = kit.client(kit.member())
    # A plain dict: the test client sends each item of a list as a repeated field.
    form = {**CASE_FORM, "poll_question": "Exercise test first?",
            "poll_option": ["Yes", "", "No, echo"]}  # fmt: skip
    created = author.post("/c/cardiology/new-case", data=form)
    assert created.status_code == 302, created.status_code
    thread_url = created.headers["Location"]
    with app.app_context():
        poll = db.session.scalar(sa.select(Poll))
        assert poll is not None
        assert [o.label for o in poll.options] == ["Yes", "No, echo"]
        poll_id, echo = poll.id, option_id(poll, "No, echo")

    voter = kit.client(kit.member())
    before = voter.get(thread_url).get_data(as_text=True)
    assert 'id="poll"' in before
    assert 'type="radio"' in before
    assert "<meter" not in before

    voted = voter.post(f"/polls/{poll_id}/vote", data={"option": str(echo)})
    assert voted.headers["Location"].endswith(f"{thread_url}#poll")
    after = voter.get(thread_url).get_data(as_text=True)
    assert "<meter" in after
    assert "100% · 1 vote" in after
    assert "Your vote is counted." in after

    # The author has not voted: still a ballot and no counts, even on their own case.
    own = author.get(thread_url).get_data(as_text=True)
    assert 'type="radio"' in own
    assert "<meter" not in own


def test_an_invalid_poll_comes_back_beside_its_fields_with_the_case_kept(
    kit: Kit, quiet_detector: None
) -> None:
    author = kit.client(kit.member())
    form = {**CASE_FORM, "poll_question": "Exercise test first?", "poll_option": ["Yes", "yes"]}
    response = author.post("/c/cardiology/new-case", data=form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "This repeats option 1." in page
    assert 'value="Exercise test first?"' in page
    assert kit.count(Poll) == 0

"""Polls on threads: the optional poll on a new thread, secret ballots and results as bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from forum.accounts.models import User
from forum.cases.models import Ballot, Poll, PollOption, Thread
from forum.extensions import db, utcnow

QUESTION_MAX = 200
OPTION_MAX = 120
MIN_OPTIONS = 2
MAX_OPTIONS = 10
MAX_OPEN = timedelta(days=90)
# Inputs read from a form: the page has MAX_OPTIONS; a few more let "too many" be reported
# while a hand-made request with thousands of them is still read in bounded work.
_OPTIONS_READ = MAX_OPTIONS * 2
_CLOSES_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")
ALREADY_VOTED = "You have already voted."


class PollError(ValueError):
    """A ballot or poll that cannot be accepted; the message tells the member why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class PollDraft:
    """A poll as typed into the new-thread form, before it is checked and stored.

    `options` keeps the inputs in page order, blanks included, so an error or a PHI finding
    names the input it belongs to (`poll_option_3`). `closes_text` is the closing time as
    typed, kept so an unreadable value can be reported.
    """

    question: str
    options: tuple[str, ...]
    multiple: bool
    closes_at: datetime | None
    closes_text: str = ""

    def filled_options(self) -> list[str]:
        """The options the member filled in, in order."""
        return [option for option in self.options if option]


@dataclass(frozen=True)
class PollChoice:
    """An option a member can pick."""

    id: int
    label: str


@dataclass(frozen=True)
class OptionResult:
    """One option's count and its share of the voters, for a results bar."""

    id: int
    label: str
    votes: int
    percent: int


@dataclass(frozen=True)
class PollView:
    """What a member sees of a poll: the ballot, or the results once they voted or it closed."""

    poll_id: int
    question: str
    multiple: bool
    closes_at: datetime | None
    closed: bool
    voted: bool
    choices: tuple[PollChoice, ...]
    # Empty unless show_results: counts never reach a page before the member has voted.
    results: tuple[OptionResult, ...]
    voter_count: int | None

    @property
    def show_results(self) -> bool:
        """Results appear after voting or after closing, never before."""
        return self.voted or self.closed

    @property
    def can_vote(self) -> bool:
        """The ballot form is offered."""
        return not self.voted and not self.closed


def _one_line(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _values(form: Mapping[str, Any], name: str) -> list[Any]:
    getlist = getattr(form, "getlist", None)
    if callable(getlist):
        return list(getlist(name))
    value = form.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _parse_closes(text: str) -> datetime | None:
    for pattern in _CLOSES_FORMATS:
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def poll_from_form(form: Mapping[str, Any]) -> PollDraft | None:
    """The poll fields of a submitted form, or None when the member left the poll empty."""
    question = _one_line(form.get("poll_question", ""))
    options = tuple(_one_line(value) for value in _values(form, "poll_option")[:_OPTIONS_READ])
    if not question and not any(options):
        return None
    closes_text = _one_line(form.get("poll_closes", ""))[:40]
    multiple = _one_line(form.get("poll_multiple", "")).lower() in {"y", "yes", "on", "true", "1"}
    closes_at = _parse_closes(closes_text) if closes_text else None
    return PollDraft(question, options, multiple, closes_at, closes_text)


def poll_errors(draft: PollDraft, now: datetime | None = None) -> dict[str, str]:
    """Problems with a draft, by form field name; empty when it can be stored."""
    now = now or utcnow()
    errors: dict[str, str] = {}
    if not draft.question:
        errors["poll_question"] = "Ask a question, or leave every poll field empty."
    elif len(draft.question) > QUESTION_MAX:
        errors["poll_question"] = f"Keep the question to {QUESTION_MAX} characters."

    filled = draft.filled_options()
    if len(filled) < MIN_OPTIONS:
        errors["poll_option"] = f"Give at least {MIN_OPTIONS} options."
    elif len(filled) > MAX_OPTIONS:
        errors["poll_option"] = f"A poll can have at most {MAX_OPTIONS} options."
    seen: dict[str, int] = {}
    for number, option in enumerate(draft.options, start=1):
        if not option:
            continue
        key = option.casefold()
        if len(option) > OPTION_MAX:
            errors[f"poll_option_{number}"] = f"Keep each option to {OPTION_MAX} characters."
        elif key in seen:
            errors[f"poll_option_{number}"] = f"This repeats option {seen[key]}."
        else:
            seen[key] = number

    if draft.closes_text and draft.closes_at is None:
        errors["poll_closes"] = "Enter a date and time, such as 2030-01-31 18:00."
    elif draft.closes_at is not None:
        if draft.closes_at <= now:
            errors["poll_closes"] = "The closing time has to be in the future."
        elif draft.closes_at > now + MAX_OPEN:
            errors["poll_closes"] = "A poll can stay open for at most 90 days."
    return errors


def poll_text_fields(draft: PollDraft) -> dict[str, str]:
    """The poll's texts for the PHI gate, named like the form inputs."""
    fields = {"poll_question": draft.question}
    for number, option in enumerate(draft.options, start=1):
        if option:
            fields[f"poll_option_{number}"] = option
    return fields


def create_poll(thread: Thread, draft: PollDraft) -> Poll:
    """Add a checked poll to the thread in the current transaction (the caller commits)."""
    errors = poll_errors(draft)
    if errors:
        raise PollError(next(iter(errors.values())))
    if thread.id is None:
        db.session.flush()  # the poll refers to the thread by id
    poll = Poll(
        thread_id=thread.id,
        question=draft.question,
        multiple=draft.multiple,
        closes_at=draft.closes_at,
        voter_count=0,
    )
    poll.options = [
        PollOption(position=position, label=label, votes=0)
        for position, label in enumerate(draft.filled_options(), start=1)
    ]
    db.session.add(poll)
    return poll


def has_voted(user: User, poll: Poll) -> bool:
    """Whether the member has cast a ballot in the poll (never what they chose)."""
    found = db.session.scalar(
        sa.select(Ballot.user_id).where(Ballot.poll_id == poll.id, Ballot.user_id == user.id)
    )
    return found is not None


def _checked_choice(poll: Poll, option_ids: Sequence[int], now: datetime) -> set[int]:
    if poll.is_closed(now):
        raise PollError("This poll has closed.")
    chosen = set(option_ids)
    if not chosen:
        raise PollError("Choose an option before voting.")
    if not poll.multiple and len(chosen) != 1:
        raise PollError("Choose one option.")
    if not chosen <= {option.id for option in poll.options}:
        raise PollError("That option is not part of this poll.")
    return chosen


def cast_ballot(user: User, poll: Poll, option_ids: Sequence[int], now: datetime) -> None:
    """Record that the member voted and add their choices to the counts; commits.

    The ballot row says who voted, the counters say how many chose what; nothing stored links
    the two. The ballot's primary key makes a second ballot fail, concurrent ones included, and
    the counters move in the same transaction, so a refused ballot counts nothing.
    """
    chosen = _checked_choice(poll, option_ids, now)
    if has_voted(user, poll):
        raise PollError(ALREADY_VOTED)
    poll_id = poll.id
    try:
        db.session.execute(sa.insert(Ballot).values(poll_id=poll_id, user_id=user.id, cast_at=now))
        db.session.execute(
            sa.update(PollOption)
            .where(PollOption.poll_id == poll_id, PollOption.id.in_(chosen))
            .values(votes=PollOption.votes + 1)
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            sa.update(Poll)
            .where(Poll.id == poll_id)
            .values(voter_count=Poll.voter_count + 1)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another ballot by the same member got in first
        raise PollError(ALREADY_VOTED) from None


def poll_view(poll: Poll, viewer: User, now: datetime) -> PollView:
    """The poll as the viewer may see it: counts only once they voted or the poll closed."""
    voted = has_voted(viewer, poll)
    closed = poll.is_closed(now)
    choices = tuple(PollChoice(option.id, option.label) for option in poll.options)
    results: tuple[OptionResult, ...] = ()
    voter_count: int | None = None
    if voted or closed:
        voter_count = poll.voter_count
        results = tuple(
            OptionResult(
                option.id,
                option.label,
                option.votes,
                round(100 * option.votes / voter_count) if voter_count else 0,
            )
            for option in poll.options
        )
    return PollView(
        poll_id=poll.id,
        question=poll.question,
        multiple=poll.multiple,
        closes_at=poll.closes_at,
        closed=closed,
        voted=voted,
        choices=choices,
        results=results,
        voter_count=voter_count,
    )

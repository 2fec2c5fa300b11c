"""Digest use cases: pick due members, claim, build, send, record; preferences and unsubscribe.

Idempotence rests on the UNIQUE (user_id, iso_week) of digest_delivery: a run claims a row
(INSERT ... ON CONFLICT DO NOTHING, or an UPDATE guarded by the row's state) and commits the
claim BEFORE sending, so a rerun or a second process at the same time never sends twice.

Delivery is at least once. Each message the server accepts is recorded (committed) before the
next is sent, so a run killed mid-batch leaves at most one digest sent but unrecorded; its other
claimed rows wait out STALE_CLAIM and the next run sends them. That one digest may then arrive
twice, under the same Message-ID (forum.digest.message), which lets mail clients fold the two.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from forum.accounts.models import User
from forum.digest.content import Digest, DigestBuilder, Recipient
from forum.digest.message import Links, compose
from forum.digest.models import DeliveryStatus, DigestDelivery, DigestPreference, is_time_zone
from forum.digest.schedule import Schedule, check_week, default_time_zone
from forum.digest.sender import Outcome, send_batch
from forum.extensions import db, utcnow
from forum.verification.models import RegistryProvider

log = logging.getLogger(__name__)

BATCH_SIZE = 200
MAX_ATTEMPTS = 5
FIRST_RETRY = timedelta(minutes=15)  # then 30 min, 1 h, 2 h: within the day the digest is for
# A run that crashed between claiming and recording leaves rows "claimed". After this long they
# count as abandoned and the next run takes them again; the one message the crashed run had
# handed to the server but not yet recorded is then sent a second time, the lesser harm next
# to never sending it.
STALE_CLAIM = timedelta(hours=1)
# A digest more than a day late (cron stopped, the server was down) is stale: the next week's
# comes instead. `--week` sends a chosen week however late, because an operator asked for it.
LATE_LIMIT = timedelta(days=1)

Progress = Callable[[int], None]


class DigestError(Exception):
    """A preference or command that cannot be honoured; the message says why."""


@dataclass
class SendReport:
    """What a run did (or, in a dry run, would do)."""

    examined: int = 0
    due: int = 0
    claimed: int = 0
    sent: int = 0
    empty: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)


# --- Who is due --------------------------------------------------------------------------------


_MEMBER_COLUMNS: tuple[Any, ...] = (
    User.id,
    User.email,
    User.display_name,
    User.specialty,
    DigestPreference.weekday,
    DigestPreference.hour,
    DigestPreference.time_zone,
    RegistryProvider.practice_state,
)


def _eligible() -> sa.Select[Any]:
    """Members who may receive digests: verified, confirmed, not suspended, not unsubscribed."""
    return (
        sa.select(*_MEMBER_COLUMNS)
        .outerjoin(DigestPreference, DigestPreference.user_id == User.id)
        .outerjoin(RegistryProvider, RegistryProvider.npi == User.npi)
        .where(
            User.verified_at.is_not(None),
            User.email_confirmed_at.is_not(None),
            User.suspended_at.is_(None),
            DigestPreference.unsubscribed_at.is_(None),
        )
    )


def schedule_of(
    weekday: int | None, hour: int | None, zone: str | None, state: str | None
) -> Schedule:
    """A member's schedule: their choice, else Monday 07:00 in their practice state's zone."""
    if weekday is None or hour is None or zone is None:
        return Schedule(time_zone=default_time_zone(state))
    return Schedule(weekday, hour, zone)


def eligible_count(email: str | None = None) -> int:
    """How many members a run examines (for a progress bar)."""
    query = _eligible().with_only_columns(sa.func.count(User.id)).order_by(None)
    if email is not None:
        query = query.where(sa.func.lower(User.email) == email.lower())
    return db.session.scalar(query) or 0


def _member_pages(email: str | None, size: int) -> Iterator[list[sa.Row[Any]]]:
    """Eligible members by id, a page at a time (memory stays flat however many there are)."""
    last_id = 0
    while True:
        query = _eligible().where(User.id > last_id).order_by(User.id).limit(size)
        if email is not None:
            query = query.where(sa.func.lower(User.email) == email.lower())
        rows = list(db.session.execute(query))
        db.session.commit()  # end the read: on SQLite every transaction here holds the write lock
        if not rows:
            return
        yield rows
        last_id = rows[-1].id


def _due(rows: Sequence[sa.Row[Any]], now: datetime, week: str | None) -> list[Recipient]:
    """The members whose send moment has come: in `week`, or by cron not long ago."""
    due = []
    for row in rows:
        schedule = schedule_of(row.weekday, row.hour, row.time_zone, row.practice_state)
        if week is None:
            found = schedule.due_week(now, LATE_LIMIT)
        else:
            send_at = schedule.send_at(week)
            found = (week, send_at) if send_at <= now else None
        if found is not None:
            iso_week, send_at = found
            due.append(
                Recipient(
                    row.id, row.email, row.display_name, row.specialty, iso_week, send_at,
                    schedule.time_zone,
                )
            )  # fmt: skip
    return due


# --- Claiming ----------------------------------------------------------------------------------


def _retryable(now: datetime) -> sa.ColumnElement[bool]:
    """A failed row whose backoff has passed, or a claim abandoned by a crashed run."""
    return sa.or_(
        sa.and_(
            DigestDelivery.status == DeliveryStatus.FAILED,
            DigestDelivery.next_attempt_at <= now,
            DigestDelivery.attempts < MAX_ATTEMPTS,
        ),
        sa.and_(
            DigestDelivery.status == DeliveryStatus.CLAIMED,
            DigestDelivery.claimed_at <= now - STALE_CLAIM,
        ),
    )


def _open_rows(due: Sequence[Recipient], now: datetime) -> tuple[list[Recipient], list[int]]:
    """Due members without a row yet, and ids of their rows that may be retried now."""
    keys = {(r.user_id, r.iso_week) for r in due}
    existing = db.session.execute(
        sa.select(
            DigestDelivery.user_id, DigestDelivery.iso_week, DigestDelivery.id, _retryable(now)
        ).where(
            DigestDelivery.user_id.in_({r.user_id for r in due}),
            DigestDelivery.iso_week.in_({r.iso_week for r in due}),
        )
    ).all()
    known = {(user_id, week) for user_id, week, _, _ in existing if (user_id, week) in keys}
    retry = [
        row_id
        for user_id, week, row_id, retryable in existing
        if retryable and (user_id, week) in keys
    ]
    return [r for r in due if (r.user_id, r.iso_week) not in known], retry


def _insert_ignore() -> Any:
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(DigestDelivery)


def _claim(due: Sequence[Recipient], now: datetime) -> dict[tuple[int, str], int]:
    """Take the rows this run will send, committed before any sending; (user, week) -> row id."""
    fresh, retry = _open_rows(due, now)
    claimed: dict[tuple[int, str], int] = {}
    if fresh:
        values = [
            {"user_id": r.user_id, "iso_week": r.iso_week, "status": DeliveryStatus.CLAIMED,
             "attempts": 1, "claimed_at": now}
            for r in fresh
        ]  # fmt: skip
        inserted = db.session.execute(
            _insert_ignore()
            .values(values)
            .on_conflict_do_nothing(index_elements=["user_id", "iso_week"])
            .returning(DigestDelivery.user_id, DigestDelivery.iso_week, DigestDelivery.id)
        )
        claimed.update(((user_id, week), row_id) for user_id, week, row_id in inserted)
    if retry:
        # The WHERE is checked again on the row itself: of two runs, only one sees it retryable.
        retaken = db.session.execute(
            sa.update(DigestDelivery)
            .where(DigestDelivery.id.in_(retry), _retryable(now))
            .values(
                status=DeliveryStatus.CLAIMED,
                attempts=DigestDelivery.attempts + 1,
                claimed_at=now,
                next_attempt_at=None,
            )
            .returning(DigestDelivery.user_id, DigestDelivery.iso_week, DigestDelivery.id)
        )
        claimed.update(((user_id, week), row_id) for user_id, week, row_id in retaken)
    db.session.commit()
    return claimed


# --- Recording ---------------------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    """How long after its n-th failed attempt a digest is tried again."""
    return FIRST_RETRY * 2 ** (attempts - 1)


@contextmanager
def _recorder() -> Iterator[Callable[[int], None]]:
    """Marks digests sent one at a time, each committed before the next message goes.

    A connection of its own keeps this cheap (a few hundred a second): on PostgreSQL in
    autocommit and without waiting for the WAL flush. Only a crash of the database server
    itself could lose such a mark, and the digest is then sent again after STALE_CLAIM, the same
    at-least-once as a crash of this process.
    """
    statement = (
        sa.update(DigestDelivery)
        .where(DigestDelivery.id == sa.bindparam("b_id"))
        .values(status=DeliveryStatus.SENT, sent_at=sa.bindparam("b_sent_at"), last_error=None)
    )
    with db.engine.connect() as connection:
        postgresql = connection.dialect.name == "postgresql"

        def mark(row_id: int) -> None:
            values = {"b_id": row_id, "b_sent_at": utcnow()}
            if postgresql:
                connection.execute(statement, values)
                return
            with connection.begin():  # SQLite: BEGIN IMMEDIATE (forum._configure_sqlite)
                connection.execute(statement, values)

        if not postgresql:
            yield mark
            return
        connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql("SET synchronous_commit = off")
        try:
            yield mark
        finally:
            connection.exec_driver_sql("RESET synchronous_commit")


def _record(
    claimed: dict[tuple[int, str], int],
    empty: Sequence[Recipient],
    outcomes: dict[Recipient, Outcome],
    now: datetime,
) -> None:
    """Write every outcome of a batch in one transaction (attempts are read back from the rows)."""
    ids = {claimed[(r.user_id, r.iso_week)]: r for r in [*empty, *outcomes]}
    attempts = dict(
        db.session.execute(
            sa.select(DigestDelivery.id, DigestDelivery.attempts).where(DigestDelivery.id.in_(ids))
        ).all()
    )
    changes: list[dict[str, Any]] = []
    for row_id, recipient in ids.items():
        outcome = outcomes.get(recipient)
        if outcome is None:
            changes.append({"id": row_id, "status": DeliveryStatus.SKIPPED_EMPTY, "sent_at": None})
        elif outcome.sent:
            changes.append({"id": row_id, "status": DeliveryStatus.SENT, "sent_at": utcnow(),
                            "last_error": None})  # fmt: skip
        else:
            tried = attempts[row_id]
            retry_at = now + backoff(tried) if tried < MAX_ATTEMPTS else None
            changes.append({"id": row_id, "status": DeliveryStatus.FAILED,
                            "last_error": outcome.error, "next_attempt_at": retry_at})  # fmt: skip
    for change in changes:  # grouped by keys: executemany needs one shape per statement
        change.setdefault("sent_at", None)
        change.setdefault("last_error", None)
        change.setdefault("next_attempt_at", None)
    if changes:
        db.session.execute(sa.update(DigestDelivery), changes)
    db.session.commit()


# --- The run -----------------------------------------------------------------------------------


def _send_batch(
    rows: Sequence[sa.Row[Any]],
    builder: DigestBuilder,
    links: Links,
    now: datetime,
    week: str | None,
    dry_run: bool,
    report: SendReport,
) -> None:
    due = _due(rows, now, week)
    report.due += len(due)
    if not due:
        return
    if dry_run:
        _count_dry(due, builder, now, report)
        return
    claimed = _claim(due, now)
    mine = [r for r in due if (r.user_id, r.iso_week) in claimed]
    report.claimed += len(mine)
    digests = builder.build(mine)
    db.session.commit()  # end the reads before talking to the mail server
    empty = [d.recipient for d in digests if d.is_empty]
    messages = [(d.recipient, compose(d, links)) for d in digests if not d.is_empty]
    with _recorder() as mark_sent:
        outcomes = send_batch(
            messages, on_sent=lambda r: mark_sent(claimed[(r.user_id, r.iso_week)])
        )
    failed = {r: outcome for r, outcome in outcomes.items() if not outcome.sent}
    _record(claimed, empty, failed, now)
    report.empty += len(empty)
    _tally(outcomes.values(), report)


def _count_dry(
    due: Sequence[Recipient], builder: DigestBuilder, now: datetime, report: SendReport
) -> None:
    """What a run would claim and find empty, with nothing written or sent."""
    fresh, retry = _open_rows(due, now)
    db.session.commit()
    report.claimed += len(fresh) + len(retry)
    report.empty += sum(digest.is_empty for digest in builder.build(fresh))


def _tally(outcomes: Iterable[Outcome], report: SendReport) -> None:
    for outcome in outcomes:
        if outcome.sent:
            report.sent += 1
        else:
            kind = outcome.error or "error"
            report.failed += 1
            report.errors[kind] = report.errors.get(kind, 0) + 1


def send_digests(
    now: datetime,
    *,
    week: str | None = None,
    email: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
) -> SendReport:
    """Send every digest whose time has come (this week in each member's zone, or `week`)."""
    if week is not None:
        check_week(week)
    report = SendReport()
    builder = DigestBuilder()
    links = Links()
    for rows in _member_pages(email, batch_size):
        _send_batch(rows, builder, links, now, week, dry_run, report)
        report.examined += len(rows)
        if progress is not None:
            progress(len(rows))
    log.info(
        "Digest run: %s examined, %s due, %s sent, %s empty, %s failed%s",
        report.examined, report.due, report.sent, report.empty, report.failed,
        " (dry run)" if dry_run else "",
    )  # fmt: skip
    return report


# --- Preview -----------------------------------------------------------------------------------


def preference_of(user_id: int) -> DigestPreference | None:
    """The member's saved preference row, if any."""
    return db.session.get(DigestPreference, user_id)


def member_schedule(user: User) -> Schedule:
    """The member's effective schedule (their choice or the default)."""
    preference = preference_of(user.id)
    if preference is not None:
        return Schedule(preference.weekday, preference.hour, preference.time_zone)
    return Schedule(time_zone=default_time_zone(_practice_state(user)))


def _practice_state(user: User) -> str | None:
    """The member's practice state in the registry copy, for a default time zone."""
    if user.npi is None:
        return None
    return db.session.scalar(
        sa.select(RegistryProvider.practice_state).where(RegistryProvider.npi == user.npi)
    )


def preview(user: User, now: datetime) -> Digest:
    """The member's digest as it would read now: the seven days up to this moment."""
    schedule = member_schedule(user)
    recipient = Recipient(
        user.id, user.email, user.display_name, user.specialty, schedule.current_week(now), now,
        schedule.time_zone,
    )  # fmt: skip
    return DigestBuilder().build([recipient])[0]


# --- Preferences and unsubscribing -------------------------------------------------------------


def _preference_for_update(user: User) -> DigestPreference:
    """The member's row, made from their effective schedule the first time."""
    preference = preference_of(user.id)
    if preference is None:
        schedule = member_schedule(user)
        preference = DigestPreference(
            user_id=user.id,
            weekday=schedule.weekday,
            hour=schedule.hour,
            time_zone=schedule.time_zone,
        )
        db.session.add(preference)
    return preference


def save_schedule(user: User, weekday: int, hour: int, time_zone: str, subscribed: bool) -> None:
    """Store when the member wants the digest, or that they want none; commits."""
    if not 0 <= weekday <= 6 or not 0 <= hour <= 23:
        raise DigestError("Choose a weekday and an hour of the day.")
    if not is_time_zone(time_zone):
        raise DigestError("Choose a time zone from the list.")
    preference = _preference_for_update(user)
    preference.weekday, preference.hour, preference.time_zone = weekday, hour, time_zone
    if not subscribed:
        preference.unsubscribed_at = preference.unsubscribed_at or utcnow()
    else:
        preference.unsubscribed_at = None
    db.session.commit()
    log.info("Digest schedule saved for member %s", user.id)


def unsubscribe(user_id: int) -> bool:
    """Stop the member's digests (from a signed link); commits. False for an unknown member."""
    user = db.session.get(User, user_id)
    if user is None:
        return False
    preference = _preference_for_update(user)
    preference.unsubscribed_at = preference.unsubscribed_at or utcnow()
    db.session.commit()
    log.info("Member %s unsubscribed from the digest", user_id)
    return True

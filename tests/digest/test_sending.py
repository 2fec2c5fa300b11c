"""Sending: once per member per week, however many runs; retries after refusals and outages."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from forum.digest import services
from forum.digest.models import DeliveryStatus, DigestDelivery, DigestPreference
from forum.extensions import db
from forum.verification.models import RegistryProvider
from tests.conftest import Mailbox, free_port
from tests.digest.conftest import AFTER_SEND, IN_THE_WEEK, WEEK, DigestKit, at
from tests.factories import Member


def with_news(kit: DigestKit, readers: int) -> list[Member]:
    """Members of a community with a busy week, so each has a digest to receive."""
    members = [kit.member() for _ in range(readers)]
    with at(IN_THE_WEEK):
        thread = kit.discussion(members[0], title="Anticoagulation after falls")
        kit.reply(members[1], thread, "Weigh the bleeding risk against the stroke risk.")
    return members


def received(mailbox: Mailbox, members: list[Member]) -> dict[str, int]:
    return {member.email: len(mailbox.to(member.email)) for member in members}


def test_running_twice_sends_each_digest_once(kit: DigestKit, mailbox: Mailbox) -> None:
    members = with_news(kit, 3)

    first = kit.send(week=WEEK)
    second = kit.send(AFTER_SEND + timedelta(hours=1), week=WEEK)

    assert first.sent == 3
    assert second.claimed == 0
    assert received(mailbox, members) == {m.email: 1 for m in members}
    assert {row.status for row in kit.deliveries().values()} == {DeliveryStatus.SENT}


def test_two_runs_at_the_same_time_send_each_digest_once(
    kit: DigestKit, mailbox: Mailbox, build_app: Callable[..., Flask]
) -> None:
    members = with_news(kit, 24)
    apps = [kit.app, build_app()]
    start = threading.Barrier(len(apps))
    reports: list[services.SendReport] = []
    errors: list[BaseException] = []

    def run(app: Flask) -> None:
        try:
            with app.app_context():
                start.wait()
                reports.append(services.send_digests(AFTER_SEND, week=WEEK, batch_size=4))
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    workers = [threading.Thread(target=run, args=(app,)) for app in apps]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    assert sum(report.sent for report in reports) == len(members)
    assert received(mailbox, members) == {m.email: 1 for m in members}
    assert len(mailbox.messages) == len(members)


def test_refused_recipients_are_retried_after_a_backoff_while_others_are_sent(
    kit: DigestKit, mailbox: Mailbox
) -> None:
    members = with_news(kit, 4)
    refused = members[2]
    mailbox.refuse.add(refused.email.lower())

    report = kit.send(AFTER_SEND, week=WEEK, batch_size=10)

    assert (report.sent, report.failed) == (3, 1)
    assert report.errors == {"recipient-refused": 1}
    row = kit.deliveries()[refused.id]
    assert row.status == DeliveryStatus.FAILED
    assert row.last_error == "recipient-refused"
    assert row.attempts == 1
    assert row.next_attempt_at == AFTER_SEND + services.backoff(1)

    mailbox.refuse.clear()
    too_soon = kit.send(AFTER_SEND + services.backoff(1) - timedelta(minutes=1), week=WEEK)
    assert too_soon.claimed == 0
    assert mailbox.to(refused.email) == []

    later = kit.send(AFTER_SEND + services.backoff(1), week=WEEK)
    assert later.sent == 1
    assert received(mailbox, members) == {m.email: 1 for m in members}
    row = kit.deliveries()[refused.id]
    assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.SENT, 2, None)


def test_a_server_down_for_a_whole_run_leaves_every_digest_to_the_next_run(
    kit: DigestKit, mailbox: Mailbox, build_app: Callable[..., Flask]
) -> None:
    members = with_news(kit, 5)
    down = build_app(SMTP_PORT=free_port())  # nothing listens there

    report = kit.send(AFTER_SEND, app=down, week=WEEK, batch_size=2)

    assert report.sent == 0
    assert report.failed == len(members)  # every batch tried, none stopped the run
    assert {row.status for row in kit.deliveries().values()} == {DeliveryStatus.FAILED}
    assert mailbox.messages == []

    back = kit.send(AFTER_SEND + services.backoff(1), week=WEEK, batch_size=2)

    assert back.sent == len(members)
    assert received(mailbox, members) == {m.email: 1 for m in members}


def test_a_digest_is_given_up_after_the_last_attempt(
    kit: DigestKit, mailbox: Mailbox, build_app: Callable[..., Flask]
) -> None:
    members = with_news(kit, 2)
    down = build_app(SMTP_PORT=free_port())
    now = AFTER_SEND
    for attempt in range(1, services.MAX_ATTEMPTS + 1):
        assert kit.send(now, app=down, week=WEEK).claimed == 2
        row = kit.deliveries()[members[0].id]
        assert row.attempts == attempt
        if attempt < services.MAX_ATTEMPTS:
            assert row.next_attempt_at is not None
            now = row.next_attempt_at

    assert kit.deliveries()[members[0].id].next_attempt_at is None
    assert kit.send(now + timedelta(days=1), week=WEEK).claimed == 0
    assert mailbox.messages == []


def test_a_claim_abandoned_by_a_crashed_run_is_taken_again_after_a_while(
    kit: DigestKit, mailbox: Mailbox
) -> None:
    crashed, busy = with_news(kit, 2)
    with kit.db():
        for member, claimed_at in (
            (crashed, AFTER_SEND - services.STALE_CLAIM),
            (busy, AFTER_SEND - timedelta(minutes=5)),  # another run is still at it
        ):
            db.session.add(
                DigestDelivery(
                    user_id=member.id, iso_week=WEEK, status=DeliveryStatus.CLAIMED,
                    attempts=1, claimed_at=claimed_at,
                )
            )  # fmt: skip
        db.session.commit()

    report = kit.send(AFTER_SEND, week=WEEK)

    assert report.sent == 1
    assert len(mailbox.to(crashed.email)) == 1
    assert mailbox.to(busy.email) == []
    assert kit.deliveries()[busy.id].status == DeliveryStatus.CLAIMED


def prefer(kit: DigestKit, member: Member, weekday: int, hour: int, zone: str) -> None:
    with kit.db():
        db.session.add(
            DigestPreference(user_id=member.id, weekday=weekday, hour=hour, time_zone=zone)
        )
        db.session.commit()


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 11, 29, 21, 59, tzinfo=UTC), set()),
        (datetime(2026, 11, 29, 22, 0, tzinfo=UTC), {"tokyo"}),  # Monday 07:00 in Tokyo
        (datetime(2026, 11, 30, 7, 0, tzinfo=UTC), {"tokyo", "default"}),
        (datetime(2026, 12, 2, 13, 59, tzinfo=UTC), set()),  # more than a day late: skipped
        (datetime(2026, 12, 2, 14, 0, tzinfo=UTC), {"new_york"}),  # Wed 09:00 EST
        (datetime(2026, 12, 3, 13, 59, tzinfo=UTC), {"new_york"}),
        (datetime(2026, 12, 3, 14, 0, tzinfo=UTC), set()),
    ],
)
def test_each_member_is_due_at_their_weekday_and_hour_in_their_time_zone(
    kit: DigestKit, now: datetime, expected: set[str]
) -> None:
    members = dict(zip(("default", "tokyo", "new_york"), with_news(kit, 3), strict=True))
    prefer(kit, members["tokyo"], 0, 7, "Asia/Tokyo")
    prefer(kit, members["new_york"], 2, 9, "America/New_York")

    kit.send(now)

    claimed = {name for name, m in members.items() if kit.weeks(m) == [WEEK]}
    assert claimed == expected


def test_a_given_week_is_sent_however_late_but_only_once_its_time_has_come(
    kit: DigestKit,
) -> None:
    default, new_york = with_news(kit, 2)
    prefer(kit, new_york, 2, 9, "America/New_York")

    kit.send(datetime(2026, 12, 2, 13, 59, tzinfo=UTC), week=WEEK)
    assert (kit.weeks(default), kit.weeks(new_york)) == ([WEEK], [])

    kit.send(datetime(2026, 12, 20, tzinfo=UTC), week=WEEK)
    assert kit.weeks(new_york) == [WEEK]


def test_members_without_a_choice_get_monday_seven_in_their_practice_states_zone(
    kit: DigestKit,
) -> None:
    member = with_news(kit, 2)[0]
    with kit.db():
        db.session.add(RegistryProvider(npi="1679576722", practice_state="CA", row_hash="x" * 32))
        kit.user(member).npi = "1679576722"
        db.session.commit()

    kit.send(datetime(2026, 11, 30, 14, 59, tzinfo=UTC))  # 06:59 in California
    assert kit.weeks(member) == []
    kit.send(datetime(2026, 11, 30, 15, 0, tzinfo=UTC))
    assert kit.weeks(member) == [WEEK]


def test_a_dry_run_counts_and_changes_nothing(kit: DigestKit, mailbox: Mailbox) -> None:
    with_news(kit, 3)
    kit.member("dermatology")  # nothing to say to them

    report = kit.send(week=WEEK, dry_run=True)

    assert (report.due, report.claimed, report.empty, report.sent) == (4, 4, 1, 0)
    assert mailbox.messages == []
    assert kit.deliveries() == {}


def test_the_cli_sends_one_members_digest_of_a_given_week(kit: DigestKit, mailbox: Mailbox) -> None:
    members = with_news(kit, 3)
    runner = kit.app.test_cli_runner()

    result = runner.invoke(args=["digest", "send", "--user", members[1].email, "--week", WEEK])

    assert result.exit_code == 0, result.output
    assert "1 sent" in result.output
    assert received(mailbox, members) == {m.email: int(m == members[1]) for m in members}


def test_the_cli_refuses_a_malformed_week(kit: DigestKit) -> None:
    result = kit.app.test_cli_runner().invoke(args=["digest", "send", "--week", "2026-49"])

    assert result.exit_code != 0
    assert "YYYY-Www" in result.output


def test_rows_are_unique_per_member_and_week(kit: DigestKit) -> None:
    member = with_news(kit, 2)[0]
    with kit.db():
        for _ in range(2):
            db.session.add(DigestDelivery(user_id=member.id, iso_week=WEEK, claimed_at=AFTER_SEND))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()


def test_with_the_file_backend_digests_are_written_to_the_outbox(
    kit: DigestKit, build_app: Callable[..., Flask]
) -> None:
    members = with_news(kit, 2)
    files = build_app(MAIL_BACKEND="file")

    report = kit.send(app=files, week=WEEK)

    outbox = Path(files.config["INSTANCE_PATH"]) / "outbox"
    written = [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(outbox.glob("*.eml"))
    ]
    assert report.sent == len(members)
    assert sorted(str(message["To"]) for message in written) == sorted(m.email for m in members)
    assert all(message["List-Unsubscribe-Post"] for message in written)

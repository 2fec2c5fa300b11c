"""Outages around the app: the SMTP server down, the database connection dropped mid-request."""

from __future__ import annotations

import threading
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import sqlalchemy as sa
import time_machine

from forum import mail
from forum.accounts.models import User
from forum.digest import services as digests
from forum.digest.models import DeliveryStatus, DigestDelivery
from forum.extensions import db, utcnow
from forum.mail import QUEUE_FOLDER
from forum.notifications.models import Channel, Kind, NotificationPreference
from forum.notifications.texts import SUBJECTS
from tests.cases.conftest import Kit
from tests.conftest import (
    DATABASES,
    FormClient,
    first_link,
    forget_app,
    free_port,
    make_app,
    wait_until,
)
from tests.faults.conftest import (
    CHILD_APPLICATION,
    Reply,
    Site,
    SmtpSink,
    busy_week,
    last_week,
    sign_in,
)

NEWCOMER = "grace.hopper@hospital.example"


def subjects(sink: SmtpSink, address: str) -> list[str]:
    return sorted(str(message["Subject"]) for message in sink.mailbox.to(address))


def test_mail_the_smtp_server_could_not_take_goes_out_once_when_it_is_back(site: Site) -> None:
    week, send_at = last_week()
    kit = Kit(site.app)
    author, colleague = busy_week(kit, send_at)
    sink = SmtpSink(site.smtp_port)  # not started: nothing listens on its port yet
    with site.app.app_context():
        db.session.add(
            NotificationPreference(user_id=author.id, kind=Kind.REPLY, channel=Channel.EMAIL)
        )
        db.session.commit()
        (thread_id,) = db.session.scalars(sa.text("SELECT id FROM thread")).all()

    # Three kinds of mail while the server is down: a notification, a confirmation, digests.
    kit.reply(colleague, thread_id, "A second thought: check the renal function first.")
    client: FormClient = site.app.test_client()  # type: ignore[assignment]
    signed_up = client.post(
        "/sign-up",
        data={
            "email": NEWCOMER, "display_name": "Dr Hopper", "first_name": "Grace",
            "last_name": "Hopper", "password": "a compiler is a fine colleague",
            "password_confirm": "a compiler is a fine colleague",
        },
    )  # fmt: skip
    assert signed_up.status_code == 302
    with site.app.app_context():
        report = digests.send_digests(utcnow(), week=week)
    assert (report.sent, report.failed) == (0, 2)
    queue = Path(site.app.instance_path) / QUEUE_FOLDER
    assert len(list(queue.glob("*.eml"))) == 2

    sink.start()
    try:
        runner = site.app.test_cli_runner()
        retried = runner.invoke(args=["mail", "retry"])
        assert retried.output == "2 sent, 0 dropped, 0 still waiting.\n"
        again = runner.invoke(args=["mail", "retry"])
        assert again.output == "0 sent, 0 dropped, 0 still waiting.\n"
        with site.app.app_context():
            later = utcnow() + digests.backoff(1)
            assert digests.send_digests(later, week=week).sent == 2
            assert digests.send_digests(later + timedelta(hours=1), week=week).claimed == 0
            states = set(db.session.scalars(sa.select(DigestDelivery.status)))
        assert states == {DeliveryStatus.SENT}
    finally:
        sink.stop()

    digest_subject = f"Curbside digest {week}"
    assert [s[: len(digest_subject)] for s in subjects(sink, colleague.email)] == [digest_subject]
    (digest, notice) = subjects(sink, author.email)
    assert (notice, digest[: len(digest_subject)]) == (SUBJECTS[Kind.REPLY], digest_subject)
    (confirmation,) = sink.mailbox.to(NEWCOMER)
    assert client.get(urlsplit(first_link(confirmation)).path).status_code == 302
    with site.app.app_context():
        newcomer = db.session.scalar(sa.select(User).where(User.email == NEWCOMER))
        assert newcomer is not None
        assert newcomer.email_confirmed
    assert list(queue.iterdir()) == []


def note(to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "curbside@example.org", to, "A note"
    message.set_content("Nothing clinical.")
    return message


def test_the_mail_queue_drops_refusals_and_old_mail_and_takes_back_what_a_dead_run_held(
    tmp_path: Path,
) -> None:
    sink = SmtpSink(free_port())
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'queue.sqlite3'}", sink.port)
    queue = Path(app.instance_path) / QUEUE_FOLDER
    sink.start()
    try:
        sink.mailbox.refuse.add("gone@hospital.example")
        sink.later.add("busy@hospital.example")
        with app.app_context():
            assert not mail.send_quietly(note("gone@hospital.example"))  # 550: retrying is futile
            assert not queue.exists()
            now = utcnow()
            for address, age in (("old", mail.QUEUE_MAX_AGE), ("busy", timedelta(minutes=1))):
                with time_machine.travel(now - age - timedelta(minutes=1)):
                    mail.defer(note(f"{address}@hospital.example"))
            mail.defer(note("fine@hospital.example"))
            held = mail.defer(note("held@hospital.example"))
            held.rename(held.with_suffix(".sending"))  # a retry run took it, then was killed

            # The old one goes, "busy" is told to wait (and does not hold up "fine" behind it),
            # and the dead run's fresh claim is left alone: it may still be sending.
            first = mail.retry_queued()
            assert (first.sent, first.dropped, first.waiting) == (1, 1, 1)
            sink.later.clear()
            later = mail.retry_queued(utcnow() + mail.STALE_SENDING)
            assert (later.sent, later.dropped, later.waiting) == (2, 0, 0)
    finally:
        sink.stop()
        forget_app(app)
    got = sink.per_recipient()
    assert sorted(got) == [f"{name}@hospital.example" for name in ("busy", "fine", "held")]
    assert all(len(ids) == 1 for ids in got.values())
    assert list(queue.iterdir()) == []


# --- The database connection dropped --------------------------------------------------------


def terminate(site: Site, waiting_on_a_lock: bool = False) -> int:
    """End the server's database sessions from outside, as a failover or an admin would."""
    return int(
        site.scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = :name"
            " AND (NOT :locked OR wait_event_type = 'Lock')",
            name=CHILD_APPLICATION,
            locked=waiting_on_a_lock,
        )
    )


@pytest.mark.skipif("postgresql" not in DATABASES, reason="PostgreSQL not selected")
@pytest.mark.parametrize("site", ["postgresql"], indirect=True)
def test_a_dropped_database_connection_gives_the_error_page_and_the_next_request_works(
    site: Site,
) -> None:
    kit = Kit(site.app)
    author, _ = busy_week(kit, utcnow())
    with site.app.app_context():
        (thread_id,) = db.session.scalars(sa.text("SELECT id FROM thread")).all()
    server = site.serve(workers=1)
    browser = sign_in(server.port, author)
    page = f"/t/{thread_id}"
    assert browser.get(page).status == 200

    # Between requests: the pool's pre-ping finds the connection dead and opens another.
    assert terminate(site) >= 1
    assert browser.get(page).status == 200

    # During a request: its query waits on a lock, and its connection is cut meanwhile.
    answered: list[Reply] = []
    with psycopg.connect(site.url) as blocker:
        blocker.execute("LOCK TABLE thread IN ACCESS EXCLUSIVE MODE")
        request = threading.Thread(target=lambda: answered.append(browser.get(page)))
        request.start()
        wait_until(lambda: terminate(site, waiting_on_a_lock=True), timeout=30)
        blocker.rollback()
    request.join(timeout=60)
    (cut,) = answered
    assert cut.status == 500
    assert "Something went wrong on our side" in cut.body
    assert "Traceback" not in cut.body
    assert "psycopg" not in cut.body

    again = browser.get(page)
    assert again.status == 200
    assert "Anticoagulation after a fall at home" in again.body
    assert server.process.alive()

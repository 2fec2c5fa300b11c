"""SIGKILL mid-work loses nothing that was promised, and running again finishes the job.

Three kills, each on SQLite and on PostgreSQL: gunicorn during a burst of replies and edits,
`flask registry import` part-way through a file, and `flask digest send` part-way through its
members. Each kill waits until a count in the database (or at the mail server) shows the work
under way, and each is a SIGKILL of the whole process group: no handler or cleanup runs.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import http.client
import io
import itertools
import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask

from forum import text
from forum.accounts.models import User
from forum.accounts.services import display_name_key
from forum.cases import services
from forum.cases.communities import ensure_communities
from forum.cases.models import Post, PostRevision, Thread, Visibility
from forum.digest import services as digests
from forum.digest.models import DeliveryStatus, DigestDelivery
from forum.extensions import db, utcnow
from forum.search import service as search
from forum.verification import registry
from forum.verification.models import ImportStatus, RegistryImport, RegistryProvider
from tests.cases.conftest import Kit
from tests.conftest import DATABASES, forget_app, free_port, make_app, wait_until
from tests.factories import Member
from tests.faults.conftest import Browser, Site, SmtpSink, busy_week, last_week, sign_in

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "nppes" / "npidata_sample.csv"


# --- A burst of replies and edits ------------------------------------------------------------

BURST_MEMBERS = 4
POSTS_BEFORE_THE_KILL = 12


@dataclass
class Attempt:
    """One reply or edit a member's browser sent, and what the server answered, if anything."""

    kind: str  # "reply" or "edit"
    body: str
    status: int | None = None  # None: the kill cut the request off

    @property
    def acknowledged(self) -> bool:
        """The server said it was done: a redirect to the post."""
        return self.status == 302


def attempt(browser: Browser, path: str, sent: Attempt, log: list[Attempt]) -> str | None:
    """Send one form; the redirect's location when the server says it is done."""
    log.append(sent)
    try:
        answer = browser.post(path, {"body": sent.body})
    except (OSError, http.client.HTTPException):
        return None
    sent.status = answer.status
    return answer.location if sent.acknowledged else None


def burst(browser: Browser, member: int, thread_ids: list[int], log: list[Attempt]) -> None:
    """Reply, and edit every other reply, until the server stops answering (or errs)."""
    for number in itertools.count():
        body = f"Reply {member} number {number} of the burst: repeat the troponin at three hours."
        location = attempt(
            browser, f"/t/{thread_ids[number % 2]}/reply", Attempt("reply", body), log
        )
        if location is None:
            return
        if number % 2 == 0:
            post_id = re.search(r"#p(\d+)$", location)
            assert post_id, location
            edit = Attempt("edit", f"Edited: {body} Then again at six hours.")
            if attempt(browser, f"/p/{post_id[1]}/edit", edit, log) is None:
                return


@contextmanager
def drains_held(site: Site) -> Iterator[None]:
    """Keep every search outbox drain waiting, so the kill finds replies committed, not indexed.

    The drain's lock on PostgreSQL is an advisory lock; on SQLite the Whoosh writers' lock file.
    """
    if site.kind == "postgresql":
        with psycopg.connect(site.url, autocommit=True) as connection:
            connection.execute("SELECT pg_advisory_lock(%s)", (search._DRAIN_LOCK_KEY,))
            yield
        return
    lock = Path(site.app.instance_path) / "search-index.lock"
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def burst_posts(site: Site, thread_ids: list[int]) -> int:
    return int(
        site.scalar(
            "SELECT count(*) FROM post WHERE NOT is_opening AND thread_id IN (:a, :b)",
            a=thread_ids[0],
            b=thread_ids[1],
        )
    )


def check_posts_whole(site: Site, thread_ids: list[int], log: list[Attempt]) -> None:
    """Every post complete and as acknowledged; counters, revisions and edits in step."""
    with site.app.app_context():
        posts = db.session.scalars(
            sa.select(Post).where(Post.thread_id.in_(thread_ids), Post.is_opening.is_(False))
        ).all()
        revisions: dict[int, list[str]] = {}
        for post_id, source in db.session.execute(
            sa.select(PostRevision.post_id, PostRevision.source).order_by(PostRevision.id)
        ):
            revisions.setdefault(post_id, []).append(source)
        first_texts: Counter[str] = Counter()
        for post in posts:
            assert post.visibility == Visibility.PUBLISHED
            assert post.html == text.cook(post.source), f"post {post.id} is not cooked whole"
            earlier = revisions.get(post.id, [])
            # An edit is its new text, edited_at and one revision, all or nothing.
            assert (post.edited_at is not None) == bool(earlier), post.id
            assert len(earlier) <= 1, post.id
            first = earlier[0] if earlier else post.source
            if earlier:
                assert post.source == f"Edited: {first} Then again at six hours."
            first_texts[first] += 1

        replies = {a.body: a for a in log if a.kind == "reply"}
        assert set(first_texts) <= set(replies), "a post nobody sent"
        for body, sent in replies.items():
            # Acknowledged: stored exactly once. Cut off by the kill: stored once or not at all.
            if sent.acknowledged:
                assert first_texts[body] == 1, body
            else:
                assert first_texts[body] <= 1, body
        for edit in (a for a in log if a.kind == "edit" and a.acknowledged):
            assert sum(post.source == edit.body for post in posts) == 1, edit.body

        for thread_id in thread_ids:
            thread = db.session.get(Thread, thread_id)
            assert thread is not None
            live = [p for p in [*posts, thread.opening] if p and p.thread_id == thread_id]
            assert thread.reply_count == len(live) - 1
            assert thread.last_activity_at == max(p.created_at for p in live)


def test_a_server_killed_during_a_burst_of_posts_keeps_every_acknowledged_post_whole(
    site: Site,
) -> None:
    kit = Kit(site.app)
    with site.app.app_context():
        ensure_communities()
    members = [kit.member() for _ in range(BURST_MEMBERS)]
    thread_ids = [
        kit.discussion(members[0], title=f"Falls and anticoagulation, part {n}") for n in (1, 2)
    ]
    server = site.serve()
    browsers = [sign_in(server.port, member) for member in members]
    for browser in browsers:
        assert browser.get(f"/t/{thread_ids[0]}").status == 200  # a fresh CSRF token

    log: list[Attempt] = []
    clients = [
        threading.Thread(target=burst, args=(browser, number, thread_ids, log))
        for number, browser in enumerate(browsers)
    ]
    for client in clients:
        client.start()
    wait_until(lambda: burst_posts(site, thread_ids) >= POSTS_BEFORE_THE_KILL, timeout=60)
    assert all(client.is_alive() for client in clients), Counter(a.status for a in log)
    with drains_held(site):
        wait_until(lambda: site.scalar("SELECT count(*) FROM search_outbox") > 0, timeout=10)
        server.process.kill()
    for client in clients:
        client.join(timeout=60)
        assert not client.is_alive()
    site.settle()

    assert {a.status for a in log} <= {302, None}, "an error page before the kill"
    acknowledged = sum(a.acknowledged for a in log if a.kind == "reply")
    assert acknowledged >= POSTS_BEFORE_THE_KILL - BURST_MEMBERS
    check_posts_whole(site, thread_ids, log)
    assert site.scalar("SELECT count(*) FROM search_outbox") > 0  # committed, not yet indexed

    site.serve(server.port, workers=1)
    assert browsers[0].get(f"/t/{thread_ids[0]}").status == 200  # the same session still works
    synced = site.flask("search", "sync")
    assert synced.returncode == 0, synced.stderr
    assert re.search(r"[1-9][\d,]* outbox entries indexed; 0 left", synced.stdout), synced.stdout
    checked = site.app.test_cli_runner().invoke(args=["search", "check"])
    assert checked.exit_code == 0, checked.output
    assert "missing from the index: 0" in checked.output
    assert "in the index but not searchable: 0" in checked.output

    after = browsers[1].post(f"/t/{thread_ids[1]}/reply", {"body": "After the restart: agreed."})
    assert after.status == 302  # and the restarted server drains its own outbox rows
    with site.app.app_context():
        assert search.pending() == 0
        assert search.check().in_step


@pytest.mark.skipif("postgresql" not in DATABASES, reason="PostgreSQL not selected")
@pytest.mark.parametrize("site", ["postgresql"], indirect=True)
def test_two_replies_committing_at_the_same_moment_are_both_counted(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The burst's counters, made deterministic: the first reply pauses between counting and
    committing until the second has either counted too (the lost update) or waits its turn.
    SQLite needs no such test: its writers hold the database lock from their first statement."""
    kit = Kit(site.app)
    with site.app.app_context():
        ensure_communities()
    first, second = kit.member(), kit.member()
    thread_id = kit.discussion(first)
    other = make_app(site.folder / "other", site.url, site.smtp_port)  # a second worker
    counted: dict[str, threading.Event] = {"first": threading.Event(), "second": threading.Event()}
    publish = services.notify.published

    def waiting_on_a_lock() -> bool:
        return bool(
            site.scalar(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )

    def published(post: Post) -> None:  # after the recount, before the commit
        if post.author_id == first.id:
            counted["first"].set()
            wait_until(lambda: counted["second"].is_set() or waiting_on_a_lock(), timeout=30)
        else:
            counted["second"].set()
        publish(post)

    monkeypatch.setattr(services.notify, "published", published)
    errors: list[BaseException] = []

    def reply(app: Flask, member: Member, body: str) -> None:
        try:
            with app.app_context():
                thread = db.session.get(Thread, thread_id)
                author = db.session.get(User, member.id)
                assert thread is not None
                assert author is not None
                services.reply(author, thread, body)
        except BaseException as error:  # reported by the test's thread
            errors.append(error)

    replies = [
        threading.Thread(target=reply, args=(site.app, first, "First, repeat the troponin.")),
        threading.Thread(target=reply, args=(other, second, "Second, an echo would help.")),
    ]
    replies[0].start()
    assert counted["first"].wait(timeout=30)
    replies[1].start()
    for worker in replies:
        worker.join(timeout=60)
    with other.app_context():
        db.engine.dispose()
    assert errors == []
    with site.app.app_context():
        thread = db.session.get(Thread, thread_id)
        assert thread is not None
        assert thread.reply_count == 2


# --- A registry import ----------------------------------------------------------------------

REGISTRY_ROWS = 20_000
REGISTRY_BATCH = 1_000


def _check_digit(head: str) -> str:
    """The NPI check digit: Luhn over 80840 and the first nine digits."""
    total = 0
    for position, char in enumerate(reversed("80840" + head)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def _letters(number: int) -> str:
    """A, B, ... Z, AA, AB, ...: a middle name for each row."""
    found = ""
    number += 1
    while number:
        number, rest = divmod(number - 1, 26)
        found = chr(65 + rest) + found
    return found


def _csv_line(row: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(row)
    return out.getvalue()


@pytest.fixture(scope="session")
def registry_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample's rows over and over, each with an NPI and a middle name of its own."""
    with SAMPLE.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    at = {name: index for index, name in enumerate(header)}
    lines = []
    for row in rows:
        row = ["@NPI@", *row[1:]]
        if row[at["Entity Type Code"]] == "1":
            row[at["Provider Middle Name"]] = "@MIDDLE@"
        lines.append(_csv_line(row))
    path = tmp_path_factory.mktemp("registry") / "npidata_pfile.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write(_csv_line(header))
        for number in range(REGISTRY_ROWS):
            head = f"1{number:08d}"
            line = lines[number % len(lines)].replace("@NPI@", head + _check_digit(head))
            handle.write(line.replace("@MIDDLE@", _letters(number)))
    return path


def registry_checksum() -> str:
    """A digest of every stored provider, in NPI order (inside an app context)."""
    columns = [c for c in RegistryProvider.__table__.columns if c.name != "import_id"]
    digest = hashlib.sha256()
    for row in db.session.execute(sa.select(*columns).order_by(RegistryProvider.npi)):
        digest.update(json.dumps(list(row), sort_keys=True, default=str).encode())
    return digest.hexdigest()


@pytest.fixture(scope="session")
def clean_registry(registry_file: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The checksum after an import nobody interrupted."""
    folder = tmp_path_factory.mktemp("clean-registry")
    app = make_app(folder, f"sqlite:///{folder / 'clean.sqlite3'}", free_port())
    with app.app_context():
        summary = registry.import_file(registry_file, batch_size=REGISTRY_BATCH)
        assert summary.rows_written == REGISTRY_ROWS
        checksum = registry_checksum()
    forget_app(app)
    return checksum


def test_a_registry_import_killed_midway_resumes_and_ends_as_a_clean_import_would(
    site: Site, registry_file: Path, clean_registry: str
) -> None:
    command = ("registry", "import", "--quiet", "--batch-size", str(REGISTRY_BATCH))
    importing = site.spawn(*command, str(registry_file))
    committed = "SELECT coalesce(max(rows_read), 0) FROM registry_import"
    wait_until(lambda: site.scalar(committed) >= 2 * REGISTRY_BATCH, timeout=60)
    importing.kill()
    site.settle()

    done = site.scalar(committed)
    assert site.scalar("SELECT status FROM registry_import") == ImportStatus.RUNNING
    assert 0 < done < REGISTRY_ROWS, "the kill should land part-way"
    assert site.scalar("SELECT count(*) FROM registry_provider") == done  # whole batches only

    again = site.flask(*command, str(registry_file))
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"Resumed import #1 after the {done:,} rows" in again.stdout
    with site.app.app_context():
        (record,) = db.session.scalars(sa.select(RegistryImport)).all()
        assert (record.status, record.rows_read) == (ImportStatus.COMPLETE, REGISTRY_ROWS)
        assert record.rows_written == REGISTRY_ROWS
        assert registry_checksum() == clean_registry


# --- A digest run ---------------------------------------------------------------------------

DIGEST_READERS = 300
MESSAGES_BEFORE_THE_KILL = 60


def digest_readers(site: Site, count: int, send_at: datetime) -> list[str]:
    """Verified cardiologists with a busy week in their community; their addresses."""
    author, _ = busy_week(Kit(site.app), send_at)
    with site.app.app_context():
        template = db.session.get(User, author.id)
        assert template is not None
        now = utcnow()
        db.session.execute(
            sa.insert(User),
            [
                {
                    "email": f"reader{n}@hospital.example", "password_hash": template.password_hash,
                    "display_name": f"Dr Reader {n}",
                    "display_name_key": display_name_key(f"Dr Reader {n}"),
                    "first_name": "Reader", "last_name": f"Number{n}", "email_confirmed_at": now,
                    "verified_at": now, "specialty": "cardiology",
                }
                for n in range(count - 2)
            ],
        )  # fmt: skip
        db.session.commit()
        return [email.lower() for email in db.session.scalars(sa.select(User.email))]


def delivery_states(site: Site) -> dict[str, str]:
    """Each member's delivery status for the week, by address."""
    with site.app.app_context():
        rows = db.session.execute(
            sa.select(User.email, DigestDelivery.status).join(
                DigestDelivery, DigestDelivery.user_id == User.id
            )
        ).all()
        db.session.commit()
    return {email.lower(): status for email, status in rows}


def test_a_digest_run_killed_midway_loses_none_and_repeats_at_most_the_one_in_flight(
    site: Site,
) -> None:
    week, send_at = last_week()
    readers = digest_readers(site, DIGEST_READERS, send_at)
    sink = SmtpSink(site.smtp_port, delay=0.005)  # a pause after each message, before the 250
    sink.start()
    try:
        sending = site.spawn("digest", "send", "--week", week)
        wait_until(lambda: sink.count() >= MESSAGES_BEFORE_THE_KILL, timeout=60)
        sending.kill()
        site.settle()

        # Each digest the server accepted is recorded before the next goes, but one.
        states, got = delivery_states(site), sink.per_recipient()
        assert all(len(ids) == 1 for ids in got.values())
        recorded = {email for email, status in states.items() if status == DeliveryStatus.SENT}
        assert recorded <= set(got)
        assert len(set(got) - recorded) <= 1
        waiting = {email for email, status in states.items() if status == DeliveryStatus.CLAIMED}
        assert waiting, "the kill should land inside a batch"

        # At once, a rerun sends to everyone unclaimed; the dead run's claims wait their turn.
        rerun = site.flask("digest", "send", "--week", week)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        got = sink.per_recipient()
        assert all(len(ids) == 1 for ids in got.values()), "nobody gets two yet"
        assert set(readers) - set(got) == waiting - set(got)

        # An hour on, the abandoned claims are taken again: everyone has the week's digest, and
        # only the one the kill caught on the wire may have come twice, as the same message.
        with site.app.app_context():
            later = utcnow() + digests.STALE_CLAIM + timedelta(minutes=1)
            digests.send_digests(later, week=week)
        got = sink.per_recipient()
    finally:
        sink.stop()
    assert set(got) == set(readers)
    twice = {email: ids for email, ids in got.items() if len(ids) > 1}
    assert len(twice) <= 1
    assert all(len(ids) == 2 and ids[0] == ids[1] for ids in twice.values())
    assert set(delivery_states(site).values()) == {DeliveryStatus.SENT}

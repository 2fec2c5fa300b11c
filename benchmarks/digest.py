"""How fast the weekly digest goes out, and whether memory stays flat as members grow.

For each size: a fresh database seeded with bulk inserts (members in 30 communities, a fifth
of them with their own weekday, hour and time zone; a week of threads, replies, helpful votes,
follows and polls, some of it anonymous, held or removed), then `send_digests` for ISO week
2026-W49 with a "now" after every member's send moment, so every digest is due. Messages go
over SMTP to an aiosmtpd sink on loopback, in a separate process (so its memory is not
counted), which counts what it received. The sender also runs in its own process, reporting
its peak RSS (VmHWM, reset just before sending) and how far that rose above its RSS then.

    .venv/bin/python benchmarks/digest.py                          # 2,500, 5,000, 10,000 on SQLite
    .venv/bin/python benchmarks/digest.py --database postgresql --sizes 10000

Target (issue 7): at least 200 digests per second; memory flat as the member count grows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = os.environ.get("CURBSIDE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
WEEK = "2026-W49"
WEEK_START = datetime(2026, 11, 23, tzinfo=UTC)  # content spans the windows of every member
NOW = datetime(2026, 12, 8, 12, tzinfo=UTC)  # after every send moment of 2026-W49
ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Europe/London",
    "Asia/Kolkata",
)
_VOCABULARY = (
    "patient presented with chest pain dyspnea syncope fever cough troponin ecg echo murmur "
    "hypertension diabetes ckd copd asthma pneumonia sepsis lactate creatinine potassium anemia "
    "warfarin apixaban heparin aspirin metformin insulin biopsy mri ct ultrasound follow-up "
    "consider recommend would you start stop restart dose week month guideline evidence trial"
)
WORDS = _VOCABULARY.split()


def paragraph(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return f"**{text[:30]}** {text[30:]}."


# --- The sink (its own process) ---------------------------------------------------------------


def serve_sink(port: int) -> None:
    """Accept and count every message until SIGTERM, then print the count."""
    from aiosmtpd.controller import Controller

    class Counter:
        received = 0

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            Counter.received += 1
            return "250 OK"

    controller = Controller(Counter(), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()
    print(Counter.received, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- Seeding ----------------------------------------------------------------------------------


def app_for(database_url: str, instance: Path, port: int) -> Any:
    from forum import create_app

    return create_app(
        {
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": "benchmark-secret-key-" + "x" * 32,
            "BASE_URL": "https://curbside.example",
            "MAIL_BACKEND": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": port,
            "SMTP_SECURITY": "none",
            "LOG_LEVEL": "WARNING",
        }
    )


def _insert(table: Any, rows: list[dict[str, Any]]) -> None:
    import sqlalchemy as sa

    from forum.extensions import db

    for start in range(0, len(rows), 5_000):
        db.session.execute(sa.insert(table), rows[start : start + 5_000])


def seed(members: int, rng: random.Random) -> None:
    """Members, a week of activity and their preferences, in bulk (inside an app context)."""
    import sqlalchemy as sa

    from forum.accounts.models import User
    from forum.cases.communities import ensure_communities
    from forum.cases.models import Community, Follow, Poll, Post, Thread
    from forum.digest.models import DigestPreference
    from forum.extensions import db

    ensure_communities()
    communities = list(
        db.session.execute(sa.select(Community.id, Community.slug, Community.practitioner))
    )
    weights = [1 / (rank + 1) for rank in range(len(communities))]  # a few big communities
    when = WEEK_START - timedelta(days=30)
    users, homes = [], {}
    for number in range(1, members + 1):
        home = rng.choices(communities, weights)[0]
        homes[number] = home
        roll = rng.random()
        users.append(
            {
                "id": number,
                "email": f"member{number}@hospital.example",
                "password_hash": "not-a-real-hash",
                "display_name": f"Dr Member {number}",
                "display_name_key": f"dr member {number}",
                "first_name": "Test",
                "last_name": f"Member{number}",
                "created_at": when,
                "email_confirmed_at": when,
                "verified_at": None if roll < 0.01 else when,
                "suspended_at": when if 0.01 <= roll < 0.02 else None,
                "specialty": home[1],
            }
        )
    _insert(User.__table__, users)
    _insert(
        DigestPreference.__table__,
        [
            {
                "user_id": number,
                "weekday": rng.randrange(7),
                "hour": rng.randrange(24),
                "time_zone": rng.choice(ZONES),
                "unsubscribed_at": when if rng.random() < 0.05 else None,
            }
            for number in range(1, members + 1)
            if rng.random() < 0.2
        ],
    )
    thread_count = members // 4
    threads, posts, polls = [], [], []
    post_id = 0
    for thread_id in range(1, thread_count + 1):
        author = rng.randrange(1, members + 1)
        community = homes[author] if rng.random() < 0.7 else rng.choice(communities)
        created = WEEK_START + timedelta(seconds=rng.randrange(14 * 86_400))
        anonymous = rng.random() < 0.1
        case = rng.random() < 0.4
        held = rng.random() < 0.03
        threads.append(
            {
                "id": thread_id, "community_id": community[0],
                "kind": "case" if case else "discussion",
                "title": f"Case {thread_id}: " + " ".join(rng.choice(WORDS) for _ in range(6)),
                "author_id": author, "anonymous": anonymous,
                "visibility": "pending" if held else "published", "status": "open",
                "created_at": created, "last_activity_at": created, "reply_count": 0,
            }
        )  # fmt: skip
        post_id += 1
        posts.append(
            {
                "id": post_id, "thread_id": thread_id, "author_id": author, "is_opening": True,
                "anonymous": anonymous, "alias_number": 1 if anonymous else None,
                "alias_specialty": community[2] if anonymous else None,
                "source": paragraph(rng, 60), "html": "<p>…</p>",
                "visibility": "pending" if held else "published", "created_at": created,
                "helpful_count": 0,
            }
        )  # fmt: skip
        if rng.random() < 0.05:
            polls.append({"thread_id": thread_id, "question": "Would you start anticoagulation?",
                          "multiple": False, "closes_at": NOW + timedelta(days=rng.randrange(1, 9)),
                          "voter_count": 0})  # fmt: skip
    # Replies: popular threads draw most of them (Zipf-like), over the two weeks.
    popularity = [1 / (rank + 1) ** 0.8 for rank in range(thread_count)]
    replied = rng.choices(range(thread_count), popularity, k=members * 2)
    for index in replied:
        thread = threads[index]
        author = rng.randrange(1, members + 1)
        created = thread["created_at"] + timedelta(seconds=rng.randrange(3 * 86_400))
        post_id += 1
        roll = rng.random()
        visibility = "pending" if roll < 0.02 else "removed" if roll < 0.03 else "published"
        posts.append(
            {
                "id": post_id, "thread_id": thread["id"], "author_id": author, "is_opening": False,
                "anonymous": False, "alias_number": None, "alias_specialty": None,
                "source": paragraph(rng, 40), "html": "<p>…</p>", "visibility": visibility,
                "created_at": created, "helpful_count": rng.choice((0, 0, 0, 1, 2, 5)),
            }
        )  # fmt: skip
        if visibility == "published":
            thread["reply_count"] += 1
            thread["status"] = "answered"
            thread["last_activity_at"] = max(thread["last_activity_at"], created)
    _insert(Thread.__table__, threads)
    _insert(Post.__table__, posts)
    _insert(Poll.__table__, polls)
    follows = {(t["id"], t["author_id"]) for t in threads}
    for number in range(1, members + 1):
        for index in rng.choices(range(thread_count), popularity, k=3):
            follows.add((index + 1, number))
    _insert(
        Follow.__table__, [{"thread_id": t, "user_id": u, "created_at": when} for t, u in follows]
    )
    db.session.commit()


# --- Sending (its own process) ----------------------------------------------------------------


def _rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _reset_peak() -> None:
    """Start the peak RSS afresh (Linux): getrusage's maxrss survives exec, so a child would
    report its parent's peak from before the fork, here the seeding's."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")


def _peak_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def send(database_url: str, instance: Path, port: int) -> None:
    """Send every digest of the week; print one JSON line with the figures."""
    from forum.digest import services

    app = app_for(database_url, instance, port)
    with app.app_context():
        services.eligible_count()  # warm the connection and the mappers before measuring
        _reset_peak()
        before = _rss_kb()
        started = time.perf_counter()
        report = services.send_digests(NOW, week=WEEK)
        seconds = time.perf_counter() - started
    peak = _peak_kb()
    print(json.dumps({"sent": report.sent, "empty": report.empty, "failed": report.failed,
                      "due": report.due, "seconds": seconds, "rss_before_kb": before,
                      "peak_rss_kb": peak}))  # fmt: skip


# --- Orchestration ----------------------------------------------------------------------------


def database(kind: str, folder: Path) -> tuple[str, Any]:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'bench.sqlite3'}", None
    import psycopg

    name = f"curbside_bench_{secrets.token_hex(3)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name, drop


def at_rest(url: str, folder: Path) -> None:
    """The seeded database as a long-running site's would be: WAL folded in, statistics fresh."""
    if url.startswith("sqlite"):
        with sqlite3.connect(folder / "bench.sqlite3") as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.execute("ANALYZE")
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")


def run_size(members: int, kind: str) -> dict[str, Any]:
    from forum.extensions import db

    with tempfile.TemporaryDirectory(prefix="curbside-digest-") as folder:
        url, drop = database(kind, Path(folder))
        port = free_port()
        sink = subprocess.Popen(
            [sys.executable, __file__, "--sink", str(port)], stdout=subprocess.PIPE, text=True
        )
        try:
            if sink.stdout is None or sink.stdout.readline().strip() != "ready":
                raise RuntimeError("the SMTP sink did not start")
            app = app_for(url, Path(folder) / "instance", port)
            started = time.perf_counter()
            with app.app_context():
                db.create_all()
                seed(members, random.Random(members))
                db.engine.dispose()
            at_rest(url, Path(folder))
            seeded = time.perf_counter() - started
            sender = subprocess.run(
                [sys.executable, __file__, "--send", url, f"{folder}/instance", str(port)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            figures = json.loads(sender.stdout.strip().splitlines()[-1])
        finally:
            sink.send_signal(signal.SIGTERM)
            out, _ = sink.communicate(timeout=30)
            if drop is not None:
                drop()
        figures.update(members=members, seed_seconds=seeded, received=int(out.split()[-1]))
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="2500,5000,10000")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--send", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        serve_sink(args.sink)
        return
    if args.send:
        send(args.send[0], Path(args.send[1]), int(args.send[2]))
        return
    print(f"Weekly digest, {args.database}, week {WEEK}: every due digest sent to an aiosmtpd sink")
    print(f"{'members':>8} {'due':>7} {'sent':>7} {'empty':>6} {'recv':>7} {'seconds':>8} "
          f"{'digests/s':>10} {'RSS before':>11} {'peak RSS':>9} {'rise':>7}")  # fmt: skip
    for size in (int(s) for s in args.sizes.split(",")):
        f = run_size(size, args.database)
        rise = (f["peak_rss_kb"] - f["rss_before_kb"]) / 1024
        print(f"{f['members']:>8,} {f['due']:>7,} {f['sent']:>7,} {f['empty']:>6,} "
              f"{f['received']:>7,} {f['seconds']:>8.1f} {f['sent'] / f['seconds']:>10.0f} "
              f"{f['rss_before_kb'] / 1024:>9.0f}MB {f['peak_rss_kb'] / 1024:>7.0f}MB "
              f"{rise:>5.0f}MB", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

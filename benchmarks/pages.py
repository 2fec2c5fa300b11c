"""How fast the case pages answer under load, beside a one-line route on the same server.

Seeds a fresh database (100,000 posts in 5,000 threads by 500 verified members by default:
cases and discussions in every community, anonymous posts with their aliases, helpful votes,
polls with ballots, follows, accepted answers and outcomes) with bulk inserts, cooking each
distinct text once with forum.text.cook as the write path would have. Serves the app with
gunicorn (2 sync workers) on 127.0.0.1, signs each client in through the real forms (password,
then a TOTP code) as a member of its own, and drives each page with a fixed number of concurrent
clients, each its own process sending one request at a time over http.client (a keep-alive
connection when the server keeps it), for a warm-up and then a fixed duration:

- the thread page (`/t/<id>`, 20 posts), a random thread each request;
- the community page (`/c/<slug>`), a random community each request;
- the home feed (`/`) of the signed-in member;
- the ceiling: a one-line `@public` route in the same app (benchmarks/pages_wsgi.py), asked
  without a session cookie, so it is the least any request to this app costs; and the same
  route asked with the members' sessions (each request then loads its member), for comparison;
- the floor: a thread page as if its whole HTML were cached (benchmarks/pages_wsgi.py says what
  it still does), so the figures show how near the ceiling any thread page could come.

The default of 4 clients (two a worker) keeps each sync worker busy, so the rates are the
server's, while a request waits behind at most about one other; with many more clients than
workers the latencies mostly measure the queue (and on a small machine the clients' own CPU).

    .venv/bin/python benchmarks/pages.py                        # both databases, full size
    .venv/bin/python benchmarks/pages.py --database sqlite --posts 20000 --threads 1000

Target (issue 4): the thread page at least a third of the ceiling's rate, p99 under 50 ms,
on SQLite and on PostgreSQL. The load generator runs on the same machine as the server.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from statistics import quantiles
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: `forum` is the project's package
# The app is imported only in the process that seeds (inside the functions that need it): the
# parent and the load generator's processes stay small and never hold a database connection.

PG_ADMIN_URL = os.environ.get("CURBSIDE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET_SHARE = 1 / 3
TARGET_P99_MS = 50.0
PASSWORD = "a long night on the cardiology ward"  # noqa: S105 - made-up members
PAGE_SIZE = 20
SESSION_COOKIE = "curbside_session"
USER_AGENT = "curbside-bench/1"
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_POST = re.compile(r'<article class="post[ "]')
_ROW = re.compile(r'<li class="thread-row[ "]')


# --- Texts: a few hundred distinct ones, each cooked once -----------------------------------------

OPENERS = (
    "Thanks for posting this; it is a pattern we see more often than the textbooks suggest.",
    "I would start by going back over the timeline of the symptoms.",
    "We had a very similar presentation on our unit last winter.",
    "Agree with the points above, with one caveat.",
    "Interesting case, and a fair question.",
    "Before anything else I would want to know how the patient was on day 1.",
    "This is where the guidelines and real practice part ways a little.",
    "Short answer: I would not change management yet.",
)
MIDDLES = (
    "The troponin trend matters more than any single value, so repeat it at three and six hours.",
    "An echocardiogram would help separate a structural cause from a rhythm problem.",
    "Consider a medication review first: antihypertensives and diuretics often explain this.",
    "Orthostatic vital signs are quick and frequently skipped in the emergency department.",
    "A 24-hour Holter is low yield when the episodes are weeks apart; a loop recorder is better.",
    "The renal function has drifted since day 3, which changes the dosing of most of the options.",
    "I would keep the threshold for imaging low given the age band and the setting.",
    "In our experience a short trial of the first-line agent answers the question within a week.",
    "The examination findings do not quite fit the working diagnosis, so I would look again.",
    "Check the thyroid function and a full blood count if they have not been done recently.",
    "Sepsis remains possible until the cultures come back, so I would not stop the antibiotics.",
    "A multidisciplinary meeting is worth it here, mostly to agree on what to tell the family.",
    "The pretest probability is low, so a negative D-dimer would be reassuring.",
    "I would ask the radiologist to look specifically for small-vessel changes.",
    "Physiotherapy early on made the biggest difference in the cases I have followed up.",
    "Low-dose therapy is reasonable if the blood pressure tolerates it.",
)
CLOSERS = (
    "Keen to hear how this turns out.",
    "Happy to discuss further if the results are unexpected.",
    "Please post the outcome when you have it.",
    "Others may have more experience with this than I do.",
    "Good luck; these are hard.",
)
LISTS = (
    "- repeat bloods in the morning\n- review the medication chart\n- reassess after fluids",
    "1. confirm the rhythm\n2. treat the reversible causes\n3. decide on monitoring",
    "- ask about family history\n- check for postural drop\n- arrange follow-up in two weeks",
)
TITLES = (
    "Recurrent syncope on exertion",
    "Persistent fever after a course of antibiotics",
    "Chest pain at rest with a normal ECG",
    "New confusion after a change of medication",
    "Breathlessness out of proportion to the imaging",
    "Abdominal pain with normal inflammatory markers",
    "Rash spreading despite topical steroids",
    "Headache worse on lying down",
    "Weight loss and night sweats",
    "Falls at home with no clear cause",
    "Palpitations during pregnancy",
    "Hypokalaemia that will not correct",
    "Unexplained anaemia in an active adult",
    "Joint swelling after a viral illness",
    "Poor sleep and low mood after a hospital stay",
)
QUESTIONS = (
    "Would you proceed to further imaging now, or wait?",
    "What would you do next?",
    "Is anyone using a different first-line agent for this?",
    "How long would you observe before escalating?",
    "Would you refer, and to whom?",
)
DISCUSSION_TITLES = (
    "How do colleagues weigh falls risk against anticoagulation?",
    "Handover templates that actually work",
    "When do you stop investigating an incidental finding?",
    "Talking to families about uncertainty",
    "Night shifts and decision fatigue",
    "Which follow-up intervals do you use after discharge?",
    "Guideline changes this year: what changed your practice?",
    "Teaching residents to present a case in two minutes",
)
TAGS = (
    "syncope", "chest-pain", "ecg", "sepsis", "anaemia", "falls", "imaging", "pregnancy",
    "renal", "dosing", "rash", "headache", "fever", "palliative", "handover", "teaching",
    "follow-up", "guidelines", "polypharmacy", "electrolytes",
)  # fmt: skip
POLL_QUESTIONS = (
    ("Which test would you order first?", ("Echocardiogram", "Holter monitor", "Exercise test")),
    ("Would you start treatment today?", ("Yes", "No", "Only after the results")),
    ("Who should lead follow-up?", ("Primary care", "The specialist", "Shared", "Not needed")),
)
OUTCOMES = (
    "The echo showed moderate aortic stenosis; referred for valve assessment and doing well.",
    "Symptoms settled after the medication change; no further episodes at six weeks.",
    "Cultures grew a sensitive organism; switched to oral therapy on day 5 and discharged.",
)
AGE_BANDS = ("18-29", "30s", "40s", "50s", "60s", "70s", "80s")
SEXES = ("female", "male")
SETTINGS = ("outpatient", "emergency", "inpatient", "intensive care")


def reply_texts(rng: random.Random, count: int) -> list[str]:
    """Distinct Markdown replies of about 60 to 130 words."""
    texts: set[str] = set()
    while len(texts) < count:
        middle = rng.sample(MIDDLES, rng.randint(2, 4))
        paragraphs = [rng.choice(OPENERS) + " " + " ".join(middle[:2])]
        if rng.random() < 0.3:
            paragraphs.append(rng.choice(LISTS))
        if len(middle) > 2:
            paragraphs.append("**Worth noting:** " + " ".join(middle[2:]))
        paragraphs.append(rng.choice(CLOSERS))
        texts.add("\n\n".join(paragraphs))
    return sorted(texts)


@dataclass(frozen=True)
class CaseText:
    """One case presentation: its facts, sections and the opening post assembled from them."""

    title: str
    age_band: str
    sex: str
    setting: str
    sections: dict[str, str]
    opening: str


def case_texts(rng: random.Random, count: int) -> list[CaseText]:
    """Distinct structured cases, their opening posts assembled as the write path does."""
    from forum.cases.services import CaseDraft, assemble_case

    cases: list[CaseText] = []
    for number in range(count):
        sections = {
            "presenting": " ".join(rng.sample(MIDDLES, 2)),
            "history": f"Day {rng.randint(1, 9)}: " + " ".join(rng.sample(MIDDLES, 2)),
            "examination": " ".join(rng.sample(MIDDLES, 2)),
            "management": rng.choice(LISTS),
            "question": rng.choice(QUESTIONS),
        }
        title = f"{TITLES[number % len(TITLES)]} ({number // len(TITLES) + 1})"
        facts = (rng.choice(AGE_BANDS), rng.choice(SEXES), rng.choice(SETTINGS))
        draft = CaseDraft(title, *facts, sections=sections)
        cases.append(CaseText(title, *facts, sections, assemble_case(draft)))
    return cases


class Cooked:
    """forum.text.cook, once per distinct text (the write path stores the HTML beside it)."""

    def __init__(self) -> None:
        self.html: dict[str, str] = {}

    def __call__(self, source: str) -> str:
        if source not in self.html:
            from forum import text

            self.html[source] = text.cook(source)
        return self.html[source]


# --- Seeding ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberLogin:
    """What a client needs to sign in as a member."""

    email: str
    totp_secret: str


@dataclass
class Seeded:
    """What the load needs to know about the data."""

    members: list[MemberLogin]
    thread_ids: list[int]  # published threads whose first page holds 20 posts for everyone
    community_slugs: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    distinct_texts: int = 0


def app_config(
    database_url: str, workdir: Path, secret_key: str, fernet_key: str
) -> dict[str, str]:
    """The FORUM_* settings both the seeding process and gunicorn use."""
    return {
        "FORUM_ENV": "development",
        "FORUM_SECRET_KEY": secret_key,
        "FORUM_ENCRYPTION_KEYS": fernet_key,
        "FORUM_DATABASE_URL": database_url,
        "FORUM_INSTANCE_PATH": str(workdir / "instance"),
        "FORUM_BASE_URL": "http://127.0.0.1",
        "FORUM_MAIL_BACKEND": "file",
        "FORUM_LOG_LEVEL": "WARNING",
        # Every client signs in from 127.0.0.1; the per-address limits are not what is measured.
        "FORUM_RATELIMIT_SIGN_IN": "10000 per minute",
        "FORUM_RATELIMIT_TOTP": "10000 per minute",
    }


def _chunks(rows: list[dict[str, Any]], size: int = 5_000) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _insert(connection: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    for chunk in _chunks(rows):
        connection.execute(table.insert(), chunk)


def seed(options: argparse.Namespace, rng: random.Random) -> Seeded:
    """Fill the app's empty database (inside an app context); returns what the load needs."""
    import pyotp
    import sqlalchemy as sa

    from forum.accounts import totp
    from forum.accounts.models import User
    from forum.accounts.passwords import hash_password
    from forum.accounts.services import display_name_key
    from forum.cases import models as m
    from forum.cases.communities import ensure_communities, practitioner_for
    from forum.extensions import db, utcnow

    began = time.perf_counter()
    db.create_all()
    ensure_communities()
    communities = {c.slug: c.id for c in db.session.scalars(sa.select(m.Community))}
    db.session.remove()  # the bulk load below writes on a connection of its own
    slugs = sorted(communities)
    cook = Cooked()
    now = utcnow()
    start = now - timedelta(days=365)

    # Members: one password hash for all (argon2 is slow on purpose), a TOTP secret each.
    password_hash = hash_password(PASSWORD)
    logins: list[MemberLogin] = []
    users: list[dict[str, Any]] = []
    specialty_of: dict[int, str] = {}
    for number in range(1, options.members + 1):
        secret = pyotp.random_base32(length=32)
        name = f"Dr Bench {number}"
        email = f"bench{number}@hospital.example"
        specialty_of[number] = slugs[number % len(slugs)]
        logins.append(MemberLogin(email, secret))
        users.append(
            {
                "id": number, "email": email, "email_confirmed_at": start,
                "pending_email": None, "password_hash": password_hash, "display_name": name,
                "display_name_key": display_name_key(name), "first_name": "Bench",
                "last_name": f"Member{number}", "created_at": start, "last_sign_in_at": None,
                "session_version": 1, "totp_secret_encrypted": totp.encrypt_secret(secret),
                "totp_confirmed_at": start, "totp_last_step": None, "totp_failures": 0,
                "totp_locked_until": None, "is_admin": False, "is_moderator": False,
                "is_verifier": False, "verified_at": start, "npi": f"{1_000_000_000 + number}",
                "specialty": specialty_of[number], "suspended_at": None,
                "suspension_reason": None,
            }
        )  # fmt: skip
    members_by_slug: dict[str, list[int]] = {}
    for member_id, slug in specialty_of.items():
        members_by_slug.setdefault(slug, []).append(member_id)
    member_ids = list(specialty_of)

    replies = reply_texts(rng, 400)
    cases = case_texts(rng, 150)
    discussion_bodies = reply_texts(rng, 60)

    threads: list[dict[str, Any]] = []
    sections: list[dict[str, Any]] = []
    tags: list[dict[str, Any]] = []
    posts: list[dict[str, Any]] = []
    aliases: list[dict[str, Any]] = []
    votes: list[dict[str, Any]] = []
    follows: set[tuple[int, int]] = set()
    reads: dict[tuple[int, int], datetime] = {}
    polls: list[dict[str, Any]] = []
    options_rows: list[dict[str, Any]] = []
    ballots: list[dict[str, Any]] = []
    accepted: list[dict[str, Any]] = []
    full_threads: list[int] = []
    thread_counts: dict[int, int] = dict.fromkeys(communities.values(), 0)

    post_id = 0
    option_id = 0
    per_thread, extra = divmod(options.posts, options.threads)
    for thread_id in range(1, options.threads + 1):
        slug = rng.choice(slugs)
        home = members_by_slug.get(slug) or member_ids
        author = rng.choice(home) if rng.random() < 0.8 else rng.choice(member_ids)
        is_case = rng.random() < 0.6
        anonymous = rng.random() < 0.15
        published = rng.random() >= 0.005  # a few threads wait for a moderator
        created = start + timedelta(minutes=rng.randint(0, 360 * 24 * 60))
        count = per_thread + (1 if thread_id <= extra else 0)
        thread: dict[str, Any] = {
            "id": thread_id, "community_id": communities[slug],
            "kind": "case" if is_case else "discussion", "author_id": author,
            "anonymous": anonymous, "visibility": "published" if published else "pending",
            "created_at": created, "accepted_post_id": None, "solved_at": None,
            "outcome_source": None, "outcome_html": None, "outcome_visibility": None,
            "outcome_added_at": None, "outcome_reminded_at": None,
        }  # fmt: skip
        if is_case:
            case = rng.choice(cases)
            thread.update(
                title=case.title, age_band=case.age_band, sex=case.sex, setting=case.setting
            )
            opening_source = case.opening
            sections.extend(
                {"thread_id": thread_id, "name": name, "source": source, "html": cook(source)}
                for name, source in case.sections.items()
            )
        else:
            thread.update(
                title=f"{rng.choice(DISCUSSION_TITLES)} ({thread_id})",
                age_band=None,
                sex=None,
                setting=None,
            )
            opening_source = rng.choice(discussion_bodies)
        tags.extend(
            {"thread_id": thread_id, "tag": tag} for tag in rng.sample(TAGS, rng.randint(0, 3))
        )

        alias_of: dict[int, int] = {}
        when = created
        live_times: list[datetime] = []
        other_live_replies: list[int] = []
        visible_to_all = 0
        reply_count = 0
        for position in range(count):
            post_id += 1
            opening = position == 0
            writer = author if opening else rng.choice(member_ids)
            hidden = "published"
            deleted_at = None
            if opening:
                post_anonymous = anonymous
                hidden = thread["visibility"]
                source = opening_source
            else:
                post_anonymous = rng.random() < 0.1
                roll = rng.random()
                if roll < 0.01:
                    hidden = "pending"
                elif roll < 0.015:
                    deleted_at = when + timedelta(hours=1)
                source = rng.choice(replies)
            alias_number = alias_specialty = None
            if post_anonymous:
                if writer not in alias_of:
                    alias_of[writer] = len(alias_of) + 1
                    aliases.append(
                        {"thread_id": thread_id, "user_id": writer, "number": alias_of[writer]}
                    )
                alias_number = alias_of[writer]
                alias_specialty = practitioner_for(specialty_of[writer])
            live = hidden == "published" and deleted_at is None
            helpful = 0
            if live and not opening and rng.random() < 0.35:
                voters = [v for v in rng.sample(member_ids, rng.randint(1, 4)) if v != writer]
                votes.extend({"post_id": post_id, "user_id": v, "created_at": when} for v in voters)
                helpful = len(voters)
            posts.append(
                {
                    "id": post_id, "thread_id": thread_id, "author_id": writer,
                    "is_opening": opening, "anonymous": post_anonymous,
                    "alias_number": alias_number, "alias_specialty": alias_specialty,
                    "source": source, "html": cook(source), "visibility": hidden,
                    "created_at": when, "edited_at": None, "deleted_at": deleted_at,
                    "helpful_count": helpful, "quoted_post_id": None,
                }
            )  # fmt: skip
            if hidden == "published":
                visible_to_all += 1
            if live:
                live_times.append(when)
                if not opening:
                    reply_count += 1
                    if writer != author:
                        other_live_replies.append(post_id)
            when += timedelta(minutes=rng.randint(5, 600))

        last_activity = max(live_times, default=created)
        status = "open"
        if is_case and other_live_replies:
            status = "answered"
            if rng.random() < 0.25:
                status = "solved"
                accepted.append({"b_id": thread_id, "b_post": rng.choice(other_live_replies)})
                thread["solved_at"] = last_activity
                if rng.random() < 0.5:
                    outcome = rng.choice(OUTCOMES)
                    thread.update(
                        outcome_source=outcome,
                        outcome_html=cook(outcome),
                        outcome_visibility="published",
                        outcome_added_at=last_activity,
                    )
        thread.update(status=status, last_activity_at=last_activity, reply_count=reply_count)
        threads.append(thread)
        follows.add((thread_id, author))
        reads[(thread_id, author)] = last_activity
        if published:
            thread_counts[communities[slug]] += 1
            if visible_to_all >= PAGE_SIZE:
                full_threads.append(thread_id)

        if thread_id % 40 == 0:  # a poll on one thread in forty, with its secret ballots
            question, labels = rng.choice(POLL_QUESTIONS)
            poll_id = thread_id // 40
            voters = rng.sample(member_ids, rng.randint(5, 40))
            tally = [0] * len(labels)
            for _ in voters:
                tally[rng.randrange(len(labels))] += 1
            polls.append(
                {
                    "id": poll_id, "thread_id": thread_id, "question": question,
                    "multiple": False, "closes_at": None, "voter_count": len(voters),
                    "closed_notified_at": None,
                }
            )  # fmt: skip
            for position, (label, votes_for) in enumerate(zip(labels, tally, strict=True), 1):
                option_id += 1
                options_rows.append(
                    {
                        "id": option_id, "poll_id": poll_id, "position": position,
                        "label": label, "votes": votes_for,
                    }
                )  # fmt: skip
            ballots.extend({"poll_id": poll_id, "user_id": v, "cast_at": created} for v in voters)

    for member_id in member_ids:  # members follow a few threads beyond their own
        for thread_id in rng.sample(range(1, options.threads + 1), 10):
            follows.add((thread_id, member_id))
            reads.setdefault((thread_id, member_id), start + timedelta(days=rng.randint(0, 364)))

    engine = db.engine
    with engine.begin() as connection:
        _insert(connection, User.__table__, users)
        _insert(connection, m.Thread.__table__, threads)
        _insert(connection, m.CaseSection.__table__, sections)
        _insert(connection, m.ThreadTag.__table__, tags)
        _insert(connection, m.Post.__table__, posts)
        _insert(connection, m.ThreadAlias.__table__, aliases)
        _insert(connection, m.HelpfulVote.__table__, votes)
        _insert(connection, m.Poll.__table__, polls)
        _insert(connection, m.PollOption.__table__, options_rows)
        _insert(connection, m.Ballot.__table__, ballots)
        follow_rows = [
            {"thread_id": t, "user_id": u, "created_at": reads[(t, u)]} for t, u in follows
        ]
        _insert(connection, m.Follow.__table__, follow_rows)
        read_rows = [{"thread_id": t, "user_id": u, "read_at": at} for (t, u), at in reads.items()]
        _insert(connection, m.ThreadRead.__table__, read_rows)
        if accepted:
            connection.execute(
                sa.update(m.Thread)
                .where(m.Thread.id == sa.bindparam("b_id"))
                .values(accepted_post_id=sa.bindparam("b_post")),
                accepted,
            )
        connection.execute(
            sa.update(m.Community)
            .where(m.Community.id == sa.bindparam("b_id"))
            .values(thread_count=sa.bindparam("b_count")),
            [{"b_id": key, "b_count": value} for key, value in thread_counts.items()],
        )
    _after_bulk_load(engine)
    seeded = Seeded(
        members=logins,
        thread_ids=full_threads,
        community_slugs=slugs,
        counts={
            "members": len(users),
            "threads": len(threads),
            "posts": len(posts),
            "anonymous posts": sum(1 for p in posts if p["anonymous"]),
            "aliases": len(aliases),
            "helpful votes": len(votes),
            "polls": len(polls),
            "ballots": len(ballots),
            "follows": len(follow_rows),
        },
        seconds=time.perf_counter() - began,
        distinct_texts=len(cook.html),
    )
    db.session.remove()
    engine.dispose()
    return seeded


def _after_bulk_load(engine: Any) -> None:
    """Sequences past the explicit ids (PostgreSQL), and planner statistics as autovacuum would."""
    import sqlalchemy as sa

    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as connection:
        for name in ("user_account", "thread", "post", "poll", "poll_option"):
            table = sa.table(name, sa.column("id"))
            highest = connection.scalar(sa.select(sa.func.max(table.c.id)))
            connection.execute(
                sa.select(sa.func.setval(sa.func.pg_get_serial_sequence(table.name, "id"), highest))
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("VACUUM ANALYZE"))


def seed_in_child(options: argparse.Namespace, env: dict[str, str], out: Connection) -> None:
    """Seed in a process of its own, configured like the server, so the parent stays small."""
    os.environ.update(env)
    from forum import create_app

    app = create_app()
    with app.app_context():
        out.send(seed(options, random.Random(options.seed)))
    out.close()


def require(condition: object, message: str) -> None:
    """Stop the benchmark when the app does not answer as a real member would see it."""
    if not condition:
        raise SystemExit(message)


# --- HTTP clients -------------------------------------------------------------------------------


class Client:
    """One keep-alive connection with a session cookie, reconnecting when the server closes it."""

    def __init__(self, port: int, cookie: str | None = None) -> None:
        self.port = port
        self.cookie = cookie
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        """Status, Location and body; a new session cookie from the server is kept."""
        headers = {"User-Agent": USER_AGENT, "Connection": "keep-alive"}
        if self.cookie:
            headers["Cookie"] = f"{SESSION_COOKIE}={self.cookie}"
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()  # the server closed an idle connection: ask again
                if attempt:
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie" and value.startswith(SESSION_COOKIE + "="):
                self.cookie = value.split(";", 1)[0].split("=", 1)[1] or None
        if response.getheader("Connection", "").lower() == "close":
            self.connection.close()
        return response.status, response.getheader("Location", ""), data.decode()

    def close(self) -> None:
        self.connection.close()


def csrf_token(page: str) -> str:
    """The CSRF token of the form on a page."""
    found = _CSRF.search(page)
    if found is None:
        raise SystemExit("no CSRF token on the page")
    return found[1]


def sign_in(port: int, member: MemberLogin) -> str:
    """Both steps through the real forms; returns the session cookie."""
    import pyotp

    client = Client(port)
    status, _, page = client.request("GET", "/sign-in")
    require(status == 200, f"sign-in page: {status}")
    form = {"csrf_token": csrf_token(page), "email": member.email, "password": PASSWORD}
    status, location, _ = client.request("POST", "/sign-in", form)
    require(status == 302 and "/two-factor" in location, f"password step: {status} {location}")
    status, _, page = client.request("GET", "/two-factor")
    require(status == 200, f"code page: {status}")
    form = {"csrf_token": csrf_token(page), "code": pyotp.TOTP(member.totp_secret).now()}
    status, location, _ = client.request("POST", "/two-factor", form)
    require(status == 302, f"code step: {status}")
    client.close()
    require(bool(client.cookie), "no session cookie after signing in")
    return str(client.cookie)


@dataclass(frozen=True)
class Load:
    """One client's share of a measurement."""

    port: int
    cookie: str | None
    paths: list[str]
    measure_from: float  # time.monotonic(): requests starting before this are the warm-up
    measure_until: float
    seed: int


def run_client(load: Load, out: Connection) -> None:
    """Send requests one after another until the end; report latencies of the measured ones."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    rng = random.Random(load.seed)
    client = Client(load.port, load.cookie)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    while True:
        began = time.monotonic()
        if began >= load.measure_until:
            break
        try:
            status, _, _ = client.request("GET", rng.choice(load.paths))
            outcome = str(status)
        except OSError as error:  # counted like a bad status: the server failed this request
            status, outcome = 0, type(error).__name__
            client.close()
        ended = time.monotonic()
        if began >= load.measure_from:
            if status == 200:
                latencies.append(ended - began)
            else:
                errors[outcome] = errors.get(outcome, 0) + 1
    client.close()
    out.send((latencies, errors))
    out.close()


@dataclass(frozen=True)
class Figures:
    """One page's measurement."""

    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def measure(
    name: str,
    port: int,
    cookies: Sequence[str | None],
    paths: list[str],
    warmup: float,
    duration: float,
) -> Figures:
    """Drive one page with one process per client for warm-up + duration seconds."""
    context = multiprocessing.get_context("fork")
    begin = time.monotonic() + 0.5  # every client starts together
    loads = [
        Load(port, cookie, paths, begin + warmup, begin + warmup + duration, number)
        for number, cookie in enumerate(cookies)
    ]
    pipes = []
    workers = []
    for load in loads:
        reader, writer = context.Pipe(duplex=False)
        worker = context.Process(target=run_client, args=(load, writer), daemon=True)
        worker.start()
        writer.close()
        pipes.append(reader)
        workers.append(worker)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    for reader in pipes:
        found, failed = reader.recv()
        latencies.extend(found)
        for key, value in failed.items():
            errors[key] = errors.get(key, 0) + value
    for worker in workers:
        worker.join()
    latencies.sort()
    cuts = quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [0.0] * 99
    return Figures(name, len(latencies), duration, cuts[49] * 1000, cuts[98] * 1000, errors)


# --- The server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_gunicorn(env: dict[str, str], workers: int, log: Path) -> tuple[subprocess.Popen, int]:
    """gunicorn with sync workers on a free loopback port, answering the ceiling route."""
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "--workers", str(workers),
        "--bind", f"127.0.0.1:{port}",
        "--pythonpath", f"{ROOT},{ROOT / 'benchmarks'}",
        "--error-logfile", str(log),
        "pages_wsgi:app",
    ]  # fmt: skip
    server = subprocess.Popen(command, env={**os.environ, **env}, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn stopped:\n{log.read_text()}")
        try:
            status, _, _ = Client(port).request("GET", "/bench/ceiling")
        except OSError:
            time.sleep(0.2)
            continue
        if status == 200:
            return server, port
    server.terminate()
    raise SystemExit(f"gunicorn did not answer in time:\n{log.read_text()}")


def stop(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def check_pages(port: int, cookie: str, seeded: Seeded) -> None:
    """The measured pages are the real ones: full access checks, 20 posts, 20 threads."""
    client = Client(port, cookie)
    status, _, page = client.request("GET", f"/t/{seeded.thread_ids[0]}")
    require(status == 200, f"thread page answered {status}")
    require(len(_POST.findall(page)) == PAGE_SIZE, "the thread page should show 20 posts")
    status, _, page = client.request("GET", f"/c/{seeded.community_slugs[0]}")
    require(status == 200 and _ROW.search(page), f"community page answered {status}")
    status, _, page = client.request("GET", "/")
    require(status == 200 and _ROW.search(page) and "Your feed" in page, f"feed answered {status}")
    status, location, _ = Client(port).request("GET", f"/t/{seeded.thread_ids[0]}")
    require(status == 302 and "/sign-in" in location, "a stranger must be sent to sign in")
    client.close()


# --- One database -------------------------------------------------------------------------------


def create_pg_database() -> str:
    import psycopg

    name = f"curbside_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_database(database: str, options: argparse.Namespace, workdir: Path) -> bool:
    """Seed, serve, sign in, measure, print; True when the targets are met."""
    from cryptography.fernet import Fernet

    url = f"sqlite:///{workdir / 'bench.sqlite3'}" if database == "sqlite" else create_pg_database()
    env = app_config(url, workdir, secrets.token_urlsafe(48), Fernet.generate_key().decode())
    try:
        context = multiprocessing.get_context("fork")
        reader, writer = context.Pipe(duplex=False)
        seeder = context.Process(target=seed_in_child, args=(options, env, writer))
        seeder.start()
        writer.close()
        try:
            seeded: Seeded = reader.recv()
        except EOFError:
            raise SystemExit("seeding failed (see the traceback above)") from None
        seeder.join()
        counts = ", ".join(f"{value:,} {key}" for key, value in seeded.counts.items())
        print(f"\n{database}: seeded {counts} in {seeded.seconds:.1f} s")
        print(f"  ({seeded.distinct_texts} distinct texts cooked once each)")

        server, port = start_gunicorn(env, options.workers, workdir / f"gunicorn-{database}.log")
        try:
            chosen = random.Random(options.seed).sample(seeded.members, options.clients)
            cookies = [sign_in(port, member) for member in chosen]
            check_pages(port, cookies[0], seeded)
            pages: list[tuple[str, Sequence[str | None], list[str]]] = [
                ("thread page", cookies, [f"/t/{t}" for t in seeded.thread_ids]),
                ("community page", cookies, [f"/c/{s}" for s in seeded.community_slugs]),
                ("home feed", cookies, ["/"]),
                ("ceiling", [None] * len(cookies), ["/bench/ceiling"]),
                ("ceiling, signed in", cookies, ["/bench/ceiling"]),
                ("floor: cached page", cookies, [f"/bench/floor/{t}" for t in seeded.thread_ids]),
            ]
            results = [
                measure(name, port, jar, paths, options.warmup, options.duration)
                for name, jar, paths in pages
            ]
        finally:
            stop(server)
    finally:
        if database == "postgresql":
            drop_pg_database(url)
    return report(results, options)


def report(results: list[Figures], options: argparse.Namespace) -> bool:
    """Print one database's figures; True when the targets are met."""
    print(
        f"  {options.clients} clients, {options.workers} gunicorn workers, "
        f"{options.warmup:g} s warm-up, {options.duration:g} s measured per page"
    )
    print(f"  {'page':<20}{'requests/s':>12}{'p50 ms':>10}{'p99 ms':>10}  errors")
    for figures in results:
        errors = ", ".join(f"{k}: {v}" for k, v in figures.errors.items()) or "none"
        print(
            f"  {figures.name:<20}{figures.rate:>12,.1f}{figures.p50_ms:>10.1f}"
            f"{figures.p99_ms:>10.1f}  {errors}"
        )
    thread, ceiling, signed_in = results[0], results[3], results[4]
    share = thread.rate / ceiling.rate if ceiling.rate else 0.0
    met = (
        share >= TARGET_SHARE
        and thread.p99_ms < TARGET_P99_MS
        and not any(figures.errors for figures in results)
    )
    print(
        f"  thread page: {share:.0%} of the ceiling's rate (target at least {TARGET_SHARE:.0%}), "
        f"p99 {thread.p99_ms:.1f} ms (target under {TARGET_P99_MS:.0f} ms): "
        f"{'met' if met else 'NOT met'}"
    )
    if signed_in.rate:
        print(
            f"  (thread page: {thread.rate / signed_in.rate:.0%} of the signed-in ceiling's rate)"
        )
    floor = results[5]
    if ceiling.rate:
        print(
            f"  (a thread page served whole from a cache would reach at most "
            f"{floor.rate / ceiling.rate:.0%} of the ceiling's rate: the floor)"
        )
    return met


def checked_databases(
    parser: argparse.ArgumentParser, options: argparse.Namespace
) -> tuple[str, ...]:
    """Refuse sizes the pages cannot be measured with, say what will be seeded, and return the
    databases to run on (shared with benchmarks/load.py)."""
    if options.posts < options.threads * PAGE_SIZE:
        parser.error("give at least 20 posts a thread, so thread pages hold 20 posts")
    if options.clients > options.members:
        parser.error("each client signs in as a member of its own: --clients <= --members")
    print(
        f"Seeding {options.posts:,} posts in {options.threads:,} threads by "
        f"{options.members:,} members; {os.cpu_count()} CPUs on this machine, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    return ("sqlite", "postgresql") if options.database == "both" else (options.database,)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=5_000)
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds measured per page")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per page")
    parser.add_argument(
        "--clients", type=int, default=4, help="concurrent clients (default: two a worker)"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seed", type=int, default=20260404, help="random seed for the data")
    options = parser.parse_args()
    databases = checked_databases(parser, options)
    met = True
    with tempfile.TemporaryDirectory(prefix="curbside-bench-") as folder:
        for database in databases:
            met = bench_database(database, options, Path(folder)) and met
    print(f"\nTargets {'met' if met else 'NOT met'} on {', '.join(databases)}.")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()

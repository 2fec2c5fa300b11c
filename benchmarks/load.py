"""Load: many members at once against gunicorn, then proof that nothing was lost or doubled.

Seeds a fresh database (20,000 posts in 1,000 threads by 200 verified members by default, with
benchmarks/pages.py's seeding), builds the search index from it (`FORUM_SEARCH_BACKEND` whoosh on
SQLite, postgres on PostgreSQL, as a deployment would choose), serves the app with gunicorn
(2 sync workers, as pages.py does) on 127.0.0.1 and signs 100 members in through the real forms,
each with a session of its own. Then 100 simulated members act at once for 60 seconds, each one
request at a time with a short pause to think (0.5 to 1.5 s by default) between actions:

- read a thread page, a community page or their home feed;
- search (common clinical words, phrases, prefixes, filters; now and then their own last reply);
- reply: open a thread page, take the form's CSRF token, post a reply whose text carries a word
  of its own (a marker); success is the redirect the app gives to the new post (`#p<id>`);
- mark a post on a thread page helpful (or take the mark back), as its button says.

Replies and votes go mostly to a few "hot" threads (20 by default), so that writers meet on the
same rows. The load generator is a few processes (4 by default), each running its share of the
members as asyncio tasks over raw HTTP/1.1 on asyncio streams: one connection per request, as
gunicorn's sync workers close each connection after answering.

After the run, with the server stopped, it checks straight in the database (SQLAlchemy Core on
reflected tables, not the app's own queries) and in the search engine:

- every reply a client was told succeeded exists exactly once, published, with the id it was
  told; no reply appears twice, whether or not its client heard back; nothing else was posted;
- each thread's reply count, last activity and case status agree with its live posts; each
  post's helpful count with its vote rows; each community's thread count with its threads;
  anonymous posts carry their author's alias in the thread;
- the search outbox drained by itself, every stored reply is found by its marker exactly once
  (as its own post), and `flask search check` finds the index in step with the database;
- no response was a 5xx, no request failed or timed out, every answer was the expected one.

    .venv/bin/python benchmarks/load.py                                  # both databases
    .venv/bin/python benchmarks/load.py --database sqlite --clients 20 --duration 10

No rate limit applies to replies, votes or searches (Flask-Limiter guards sign-in, sign-up,
password reset, two-factor codes, verification claims and the PHI check endpoint only); the
benchmark raises the sign-in and two-factor limits, because all its members sign in from
127.0.0.1 within a few seconds (as pages.py does). Reply texts go through the PHI gate before
the run and any it would hold are left out (their number is printed): a held reply is not
published, so the checks would fail on the texts rather than on the forum.

The figures are the whole machine's: the load generator runs beside the server (the CPU each
used is printed), and with 100 members and 2 sync workers most of each latency is the wait in
gunicorn's queue. Prints a summary table and PASS/FAIL lines; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from statistics import quantiles
from typing import Any
from urllib.parse import urlencode

import pages  # benchmarks/pages.py: seeding, sign-in through the real forms, the server's app

ROOT = pages.ROOT
SESSION_COOKIE = pages.SESSION_COOKIE
# The one pages.py signs in with: sessions are bound to it ("strong" session protection).
USER_AGENT = pages.USER_AGENT

# Actions and their weights: reads dominate, as on any forum, but writes are frequent enough
# to meet each other on the hot threads.
MIX: dict[str, int] = {
    "thread page": 34,
    "community page": 12,
    "home feed": 14,
    "search": 15,
    "reply": 15,
    "helpful vote": 10,
}
REPORTED = tuple(MIX)
ANONYMOUS_SHARE = 0.1  # replies posted anonymously (they take an alias in the thread)
OWN_SEARCH_SHARE = 0.25  # searches for the member's own last reply (read-your-writes)
HOT_READ_SHARE = 0.2  # thread reads and votes that go to a hot thread
SEARCHES = (
    "troponin",
    "echocardiogram",
    "holter",
    "loop recorder",
    '"loop recorder"',
    "sepsis antibiotics",
    "orthostatic",
    "cardio*",
    "thyroid function",
    "physiotherapy",
    "radiologist",
    "syncope",
    "renal function dosing",
    "multidisciplinary",
    "medication review",
    "imaging",
    "the patient",  # common words: the slow case for every engine
)

# Replies: pages.py's clinical texts, each with a slot for the marker word.
SLOT = "MARKERSLOT"
SAMPLE_MARKER = "qzvsampleword"
MARKER_PREFIX = "qzv"  # no English word starts so, and search sees the marker as one word
_MARKER = re.compile(rf"\b({MARKER_PREFIX}[a-z]+)\b")
_CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
_VOTE = re.compile(r'formaction="(/p/(\d+))/helpful" name="state" value="(on|off)"')

Form = dict[str, str]


# --- What the clients do ------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """One load-generator process's share of the run."""

    port: int
    process: int
    members: list[tuple[int, str]]  # (client number, session cookie)
    thread_ids: list[int]
    hot_ids: list[int]
    slugs: list[str]
    texts: list[str]  # reply texts with SLOT where the marker goes
    nonce: str  # letters unique to this run
    start: float  # time.monotonic(): every member begins together
    duration: float
    think: float
    timeout: float
    seed: int


@dataclass
class Tally:
    """What one process saw: latencies and outcomes per action, and every reply it tried."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    outcomes: dict[str, Counter[str]] = field(default_factory=dict)
    acked: list[tuple[str, int, int]] = field(default_factory=list)  # marker, post id, thread id
    unacked: list[tuple[str, int, str]] = field(default_factory=list)  # marker, thread, outcome
    own_searches: int = 0
    own_found: int = 0
    samples: list[str] = field(default_factory=list)  # a few unexpected answers, for the report
    finished: float = 0.0  # time.monotonic() when the last answer came
    cpu_seconds: float = 0.0  # the load generator's own CPU time

    def note(self, action: str, outcome: str, seconds: float | None, where: str) -> None:
        """Count one answer (or failure); keep the latency of the good ones."""
        self.outcomes.setdefault(action, Counter())[outcome] += 1
        if outcome == "ok" and seconds is not None:
            self.latencies.setdefault(action, []).append(seconds)
        elif len(self.samples) < 10:
            self.samples.append(f"{action}: {where} -> {outcome}")
        self.finished = max(self.finished, time.monotonic())

    def merge(self, other: Tally) -> None:
        """Add another process's tally to this one."""
        for action, found in other.latencies.items():
            self.latencies.setdefault(action, []).extend(found)
        for action, counts in other.outcomes.items():
            self.outcomes.setdefault(action, Counter()).update(counts)
        self.acked.extend(other.acked)
        self.unacked.extend(other.unacked)
        self.own_searches += other.own_searches
        self.own_found += other.own_found
        self.samples.extend(other.samples[: max(0, 10 - len(self.samples))])
        self.finished = max(self.finished, other.finished)
        self.cpu_seconds += other.cpu_seconds


@dataclass(frozen=True)
class Answer:
    """A response as the client needs it."""

    status: int
    location: str
    body: str


def letters(number: int, width: int) -> str:
    """`number` in base 26 with the letters a-z, `width` letters wide."""
    out = []
    for _ in range(width):
        number, digit = divmod(number, 26)
        out.append(chr(ord("a") + digit))
    return "".join(reversed(out))


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def exchange(port: int, request: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Send one HTTP/1.1 request on a new connection; status, headers and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = []
        for line in head[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers.append((name.strip().lower(), value.strip()))
        found = dict(headers)
        if "chunked" in found.get("transfer-encoding", "").lower():
            body = await _read_chunked(reader)
        elif "content-length" in found:
            body = await reader.readexactly(int(found["content-length"]))
        else:
            body = await reader.read()
        return status, headers, body
    finally:
        writer.close()
        with contextlib.suppress(OSError):  # the server closed first: nothing left to say
            await writer.wait_closed()


class Member:
    """One simulated member: a session cookie, one request at a time, pauses to think."""

    def __init__(self, plan: Plan, number: int, cookie: str, tally: Tally) -> None:
        self.plan = plan
        self.number = number
        self.cookie = cookie
        self.tally = tally
        self.rng = random.Random(plan.seed * 1_000 + number)
        self.sequence = 0
        self.last_reply: tuple[str, int] | None = None  # marker, post id

    async def request(self, method: str, path: str, form: Form | None) -> Answer:
        """One request with the member's cookie; a new session cookie is kept."""
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.plan.port}",
            f"User-Agent: {USER_AGENT}",
            f"Cookie: {SESSION_COOKIE}={self.cookie}",
            "Connection: close",
        ]
        payload = b""
        if form is not None:
            payload = urlencode(form).encode()
            lines.append("Content-Type: application/x-www-form-urlencoded")
            lines.append(f"Content-Length: {len(payload)}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
        status, headers, body = await exchange(self.plan.port, raw)
        location = ""
        for name, value in headers:
            if name == "set-cookie" and value.startswith(SESSION_COOKIE + "="):
                self.cookie = value.split(";", 1)[0].split("=", 1)[1] or self.cookie
            elif name == "location":
                location = value
        return Answer(status, location, body.decode("utf-8", "replace"))

    async def timed(
        self,
        action: str,
        method: str,
        path: str,
        form: Form | None = None,
        redirect: re.Pattern[str] | None = None,
        showing: str = "",
    ) -> tuple[Answer | None, str]:
        """Ask, time and count; the outcome is "ok" when the answer is the expected one:
        200 (with `showing` in the page), or (with `redirect`) a 302 whose Location matches it."""
        began = time.monotonic()
        try:
            answer = await asyncio.wait_for(self.request(method, path, form), self.plan.timeout)
        except (OSError, EOFError, asyncio.LimitOverrunError, ValueError) as error:
            self.tally.note(action, type(error).__name__, None, f"{method} {path}")
            return None, type(error).__name__
        elapsed = time.monotonic() - began
        if redirect is None:
            outcome = "ok" if answer.status == 200 else str(answer.status)
            if outcome == "ok" and showing not in answer.body:
                outcome = "200 without the member's page"
        elif answer.status != 302:
            outcome = str(answer.status)
        elif redirect.search(answer.location):
            outcome = "ok"
        else:
            outcome = f"302 to {answer.location.split('?', 1)[0][:40]}"
        self.tally.note(action, outcome, elapsed, f"{method} {path}")
        return answer, outcome

    def marker(self) -> str:
        """A word no other reply of this run carries."""
        self.sequence += 1
        return (
            MARKER_PREFIX
            + self.plan.nonce
            + letters(self.plan.process, 2)
            + letters(self.number, 3)
            + letters(self.sequence, 4)
        )

    def some_thread(self) -> int:
        if self.rng.random() < HOT_READ_SHARE:
            return self.rng.choice(self.plan.hot_ids)
        return self.rng.choice(self.plan.thread_ids)

    async def read_thread(self) -> None:
        await self.timed("thread page", "GET", f"/t/{self.some_thread()}")

    async def read_community(self) -> None:
        path = f"/c/{self.rng.choice(self.plan.slugs)}"
        if self.rng.random() < 0.1:
            path += "?page=2"
        await self.timed("community page", "GET", path)

    async def read_feed(self) -> None:
        await self.timed("home feed", "GET", "/", showing="Your feed")

    async def search(self) -> None:
        own = self.last_reply if self.rng.random() < OWN_SEARCH_SHARE else None
        query: Form = {"q": own[0] if own else self.rng.choice(SEARCHES)}
        if own is None and self.rng.random() < 0.2:
            query["community"] = self.rng.choice(self.plan.slugs)
        if own is None and self.rng.random() < 0.1:
            query["sort"] = "newest"
        answer, outcome = await self.timed("search", "GET", "/search?" + urlencode(query))
        if own is not None and answer is not None and outcome == "ok":
            self.tally.own_searches += 1
            self.tally.own_found += f'href="/p/{own[1]}"' in answer.body

    async def reply(self) -> None:
        thread_id = self.rng.choice(self.plan.hot_ids)
        page, outcome = await self.timed("thread page", "GET", f"/t/{thread_id}")
        token = _CSRF.search(page.body) if page is not None and outcome == "ok" else None
        if token is None:
            return
        marker = self.marker()
        form = {
            "csrf_token": token[1],
            "body": self.rng.choice(self.plan.texts).replace(SLOT, marker),
            "quoted_post_id": "",
        }
        if self.rng.random() < ANONYMOUS_SHARE:
            form["anonymous"] = "y"
        landing = re.compile(rf"/t/{thread_id}(\?page=\d+)?#p(\d+)$")
        answer, outcome = await self.timed(
            "reply", "POST", f"/t/{thread_id}/reply", form, redirect=landing
        )
        found = landing.search(answer.location) if answer is not None else None
        if outcome == "ok" and found:
            self.tally.acked.append((marker, int(found[2]), thread_id))
            self.last_reply = (marker, int(found[2]))
        else:
            self.tally.unacked.append((marker, thread_id, outcome))

    async def vote(self) -> None:
        thread_id = (
            self.some_thread() if self.rng.random() < 0.5 else self.rng.choice(self.plan.hot_ids)
        )
        page, outcome = await self.timed("thread page", "GET", f"/t/{thread_id}")
        if page is None or outcome != "ok":
            return
        token, buttons = _CSRF.search(page.body), _VOTE.findall(page.body)
        if token is None or not buttons:
            return
        path, post_id, state = self.rng.choice(buttons)
        landing = re.compile(rf"/t/{thread_id}(\?page=\d+)?#p{post_id}$")
        form = {"csrf_token": token[1], "state": state}
        await self.timed("helpful vote", "POST", f"{path}/helpful", form, redirect=landing)

    async def run(self) -> None:
        """Act until the run's end, starting at a random moment of the first pause."""
        actions: dict[str, Callable[[], Awaitable[None]]] = {
            "thread page": self.read_thread,
            "community page": self.read_community,
            "home feed": self.read_feed,
            "search": self.search,
            "reply": self.reply,
            "helpful vote": self.vote,
        }
        names, weights = list(MIX), list(MIX.values())
        end = self.plan.start + self.plan.duration
        wait = self.plan.start - time.monotonic() + self.rng.uniform(0, self.plan.think)
        await asyncio.sleep(max(0.0, wait))
        while time.monotonic() < end:
            await actions[self.rng.choices(names, weights)[0]]()
            await asyncio.sleep(self.rng.uniform(0.5, 1.5) * self.plan.think)


async def _run_members(plan: Plan, tally: Tally) -> None:
    members = [Member(plan, number, cookie, tally) for number, cookie in plan.members]
    await asyncio.gather(*(member.run() for member in members))


def run_process(plan: Plan, out: Connection) -> None:
    """A load-generator process: its members as asyncio tasks; sends back its tally."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tally = Tally()
    asyncio.run(_run_members(plan, tally))
    tally.cpu_seconds = time.process_time()
    out.send(tally)
    out.close()


def drive(
    port: int,
    cookies: list[str],
    prepared: Prepared,
    hot_ids: list[int],
    options: argparse.Namespace,
) -> tuple[Tally, float]:
    """Run every member for the duration; the merged tally and the seconds it took."""
    context = multiprocessing.get_context("fork")
    start = time.monotonic() + 1.0
    nonce = letters(secrets.randbelow(26**4), 4)
    numbered = list(enumerate(cookies))
    processes = min(options.processes, len(cookies))
    readers, workers = [], []
    for process in range(processes):
        plan = Plan(
            port=port,
            process=process,
            members=numbered[process::processes],
            thread_ids=prepared.seeded.thread_ids,
            hot_ids=hot_ids,
            slugs=prepared.seeded.community_slugs,
            texts=prepared.texts,
            nonce=nonce,
            start=start,
            duration=options.duration,
            think=options.think,
            timeout=options.timeout,
            seed=options.seed + process,
        )
        reader, writer = context.Pipe(duplex=False)
        worker = context.Process(target=run_process, args=(plan, writer), daemon=True)
        worker.start()
        writer.close()
        readers.append(reader)
        workers.append(worker)
    tally = Tally()
    for reader in readers:
        try:
            tally.merge(reader.recv())
        except EOFError:
            raise SystemExit("a load-generator process died (see the traceback above)") from None
    for worker in workers:
        worker.join()
    return tally, max(tally.finished - start, options.duration)


# --- Preparing: seed, index, texts --------------------------------------------------------------


@dataclass
class Prepared:
    """The seeded data, the index built from it and the reply texts the gate lets through."""

    seeded: pages.Seeded
    texts: list[str]
    held_texts: list[str]
    indexed: int
    index_seconds: float


def reply_templates(seed: int, count: int) -> list[str]:
    """Clinical replies of 60 to 130 words, each ending with a sentence holding the marker."""
    texts = pages.reply_texts(random.Random(seed), count)
    return [f"{text}\n\nTracking word for this load test: {SLOT}." for text in texts]


def prepare_in_child(
    options: argparse.Namespace, env: dict[str, str], templates: list[str], out: Connection
) -> None:
    """Seed, build the search index and sift the reply texts, configured like the server."""
    os.environ.update(env)
    from forum import create_app, phi
    from forum.search import service

    app = create_app()
    with app.app_context():
        seeded = pages.seed(options, random.Random(options.seed))
        began = time.perf_counter()
        indexed = service.reindex()
        service.drain()
        index_seconds = time.perf_counter() - began
        clean: list[str] = []
        held: list[str] = []
        for template in templates:
            result = phi.gate({"body": template.replace(SLOT, SAMPLE_MARKER)})
            (held if result.findings else clean).append(template)
    out.send(Prepared(seeded, clean, held, indexed, index_seconds))
    out.close()


def in_child(target: Callable[..., None], *args: Any) -> Any:
    """Run target(*args, pipe) in a forked process and return what it sends."""
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(target=target, args=(*args, writer))
    child.start()
    writer.close()
    try:
        found = reader.recv()
    except EOFError:
        raise SystemExit(f"{target.__name__} failed (see the traceback above)") from None
    child.join()
    return found


# --- The server ---------------------------------------------------------------------------------


def start_server(env: dict[str, str], workers: int, log: Path) -> tuple[subprocess.Popen, int]:
    """gunicorn with sync workers on a free loopback port; the app's own log goes to `log`."""
    port = pages.free_port()
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "--workers", str(workers),
        "--bind", f"127.0.0.1:{port}",
        "--pythonpath", f"{ROOT},{ROOT / 'benchmarks'}",
        "--error-logfile", str(log),
        "--capture-output",
        "pages_wsgi:app",
    ]  # fmt: skip
    with log.open("ab") as sink:
        server = subprocess.Popen(
            command, env={**os.environ, **env}, cwd=ROOT, stdout=sink, stderr=sink
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn stopped:\n{log.read_text()}")
        try:
            status, _, _ = pages.Client(port).request("GET", "/bench/ceiling")
        except OSError:
            time.sleep(0.2)
            continue
        if status == 200:
            return server, port
    server.terminate()
    raise SystemExit(f"gunicorn did not answer in time:\n{log.read_text()}")


def server_cpu_seconds(pid: int) -> float:
    """CPU time of gunicorn's master and its workers so far (Linux /proc; 0 elsewhere)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        total = 0
        for each in [pid, *map(int, children)]:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, ValueError, IndexError):
        return 0.0
    return total / os.sysconf("SC_CLK_TCK")


def sign_in_all(port: int, members: list[pages.MemberLogin]) -> list[str]:
    """Each member through the real sign-in forms, a few at a time."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda member: pages.sign_in(port, member), members))


def server_log_lines(log: Path) -> tuple[int, int, list[str]]:
    """Tracebacks, warnings and errors in the server's log, and a few distinct ones."""
    text = log.read_text(errors="replace") if log.exists() else ""
    tracebacks = text.count("Traceback (most recent call last)")
    flagged = [
        line
        for line in text.splitlines()
        if " WARNING " in line or " ERROR " in line or "[CRITICAL]" in line or "[ERROR]" in line
    ]
    distinct: list[str] = []
    for line in flagged:
        gist = re.sub(r"^\S+ \S+ ", "", line)[:160]
        if gist not in distinct:
            distinct.append(gist)
    return tracebacks, len(flagged), distinct[:8]


# --- Checking -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """One check's outcome."""

    name: str
    passed: bool
    detail: str


def _utc(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite, should a driver hand back text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _examples(items: list[Any], limit: int = 5) -> str:
    shown = ", ".join(str(item) for item in items[:limit])
    return shown + (" ..." if len(items) > limit else "")


def sqlalchemy_url(url: str) -> str:
    """psycopg 3 for postgresql:// URLs, as the app chooses."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def highest_post_id(url: str) -> int:
    """The last post id before the run: every later post is one the load wrote."""
    import sqlalchemy as sa

    engine = sa.create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as connection:
            return int(connection.scalar(sa.text("SELECT MAX(id) FROM post")) or 0)
    finally:
        engine.dispose()


def check_replies(new_posts: list[Any], tally: Tally) -> list[Verdict]:
    """Every acknowledged reply exactly once, published, with its id; nothing doubled or stray."""
    by_marker: dict[str, list[Any]] = {}
    stray = []
    for row in new_posts:
        markers = set(_MARKER.findall(row.source))
        if len(markers) != 1:
            stray.append(row.id)
        for marker in markers:
            by_marker.setdefault(marker, []).append(row)
    missing, doubled, wrong, unpublished = [], [], [], []
    for marker, post_id, thread_id in tally.acked:
        rows = by_marker.get(marker, [])
        if not rows:
            missing.append(post_id)
        elif len(rows) > 1:
            doubled.append(post_id)
        elif rows[0].id != post_id or rows[0].thread_id != thread_id:
            wrong.append(post_id)
        elif rows[0].visibility != "published" or rows[0].deleted_at is not None:
            unpublished.append(f"{post_id} ({rows[0].visibility})")
    tried = {marker for marker, _, _ in tally.unacked}
    told = {marker for marker, _, _ in tally.acked}
    twice = sorted(marker for marker, rows in by_marker.items() if len(rows) > 1)
    unknown = sorted(marker for marker in by_marker if marker not in told | tried)
    silent = sorted(marker for marker in by_marker if marker in tried)
    acked = len(tally.acked)
    return [
        Verdict(
            "acknowledged replies stored exactly once",
            not (missing or doubled or wrong),
            f"{acked:,} acknowledged; missing {len(missing)}, stored more than once "
            f"{len(doubled)}, under another id or thread {len(wrong)}"
            + (f" (post ids {_examples(missing + doubled + wrong)})" if missing or wrong else ""),
        ),
        Verdict(
            "acknowledged replies published",
            not unpublished,
            f"{acked - len(unpublished):,} of {acked:,} published"
            + (f"; not: {_examples(unpublished)}" if unpublished else ""),
        ),
        Verdict(
            "no reply stored twice, acknowledged or not",
            not twice,
            f"{len(by_marker):,} distinct replies in {len(new_posts):,} new posts; "
            f"{len(tally.unacked)} not acknowledged, of which {len(silent)} stored anyway"
            + (f"; doubled: {_examples(twice)}" if twice else ""),
        ),
        Verdict(
            "no post the clients did not send",
            not (stray or unknown),
            f"{len(stray)} new posts without exactly one marker, {len(unknown)} unknown markers",
        ),
    ]


def check_counters(connection: Any, tables: dict[str, Any]) -> list[Verdict]:
    """Denormalised counters against the rows they count."""
    import sqlalchemy as sa

    post, thread = tables["post"], tables["thread"]
    vote, community, alias = tables["helpful_vote"], tables["community"], tables["thread_alias"]
    live = sa.and_(post.c.visibility == "published", post.c.deleted_at.is_(None))
    replies: Counter[int] = Counter()
    latest: dict[int, datetime] = {}
    others: set[int] = set()
    authors = {row.id: row.author_id for row in connection.execute(sa.select(thread))}
    rows = connection.execute(
        sa.select(post.c.thread_id, post.c.is_opening, post.c.author_id, post.c.created_at).where(
            live
        )
    )
    for row in rows:
        created = _utc(row.created_at)
        assert created is not None  # noqa: S101 - a NOT NULL column
        latest[row.thread_id] = max(latest.get(row.thread_id, created), created)
        if not row.is_opening:
            replies[row.thread_id] += 1
            if row.author_id != authors[row.thread_id]:
                others.add(row.thread_id)
    bad_count, bad_latest, bad_status = [], [], []
    for row in connection.execute(sa.select(thread)):
        if row.reply_count != replies[row.id]:
            bad_count.append(f"thread {row.id}: {row.reply_count} vs {replies[row.id]}")
        created = _utc(row.created_at)
        assert created is not None  # noqa: S101 - a NOT NULL column
        expected = max(latest.get(row.id, created), created)
        if _utc(row.last_activity_at) != expected:
            bad_latest.append(f"thread {row.id}")
        if row.kind == "case":
            if row.status == "solved":
                wanted = "solved" if row.accepted_post_id is not None else "answered or open"
            else:
                wanted = "answered" if row.id in others else "open"
            if row.status != wanted:
                bad_status.append(f"thread {row.id}: {row.status} vs {wanted}")
    votes = dict(
        connection.execute(
            sa.select(vote.c.post_id, sa.func.count()).group_by(vote.c.post_id)
        ).all()
    )
    bad_votes = [
        f"post {row.id}: {row.helpful_count} vs {votes.get(row.id, 0)}"
        for row in connection.execute(sa.select(post.c.id, post.c.helpful_count))
        if row.helpful_count != votes.get(row.id, 0)
    ]
    listed = dict(
        connection.execute(
            sa.select(thread.c.community_id, sa.func.count())
            .where(thread.c.visibility == "published")
            .group_by(thread.c.community_id)
        ).all()
    )
    bad_communities = [
        f"{row.slug}: {row.thread_count} vs {listed.get(row.id, 0)}"
        for row in connection.execute(sa.select(community))
        if row.thread_count != listed.get(row.id, 0)
    ]
    numbers = {(r.thread_id, r.user_id): r.number for r in connection.execute(sa.select(alias))}
    bad_aliases = [
        f"post {row.id}"
        for row in connection.execute(
            sa.select(post.c.id, post.c.thread_id, post.c.author_id, post.c.alias_number).where(
                post.c.anonymous.is_(True)
            )
        )
        if numbers.get((row.thread_id, row.author_id)) != row.alias_number
    ]
    vote_rows = sum(votes.values())
    return [
        Verdict(
            "thread reply counts agree with live replies",
            not bad_count,
            f"{len(authors):,} threads, {sum(replies.values()):,} live replies"
            + (f"; {len(bad_count)} differ: {_examples(bad_count)}" if bad_count else ""),
        ),
        Verdict(
            "thread last activity agrees with the latest live post",
            not bad_latest,
            f"{len(bad_latest)} differ" + (f": {_examples(bad_latest)}" if bad_latest else ""),
        ),
        Verdict(
            "case status agrees with the replies",
            not bad_status,
            f"{len(bad_status)} differ" + (f": {_examples(bad_status)}" if bad_status else ""),
        ),
        Verdict(
            "helpful counts agree with vote rows",
            not bad_votes,
            f"{vote_rows:,} votes"
            + (f"; {len(bad_votes)} posts differ: {_examples(bad_votes)}" if bad_votes else ""),
        ),
        Verdict(
            "community thread counts agree with their threads",
            not bad_communities,
            f"{len(bad_communities)} differ"
            + (f": {_examples(bad_communities)}" if bad_communities else ""),
        ),
        Verdict(
            "anonymous posts carry their author's alias",
            not bad_aliases,
            f"{len(numbers):,} aliases; {len(bad_aliases)} posts differ"
            + (f": {_examples(bad_aliases)}" if bad_aliases else ""),
        ),
    ]


def check_database(url: str, baseline: int, tally: Tally) -> tuple[list[Verdict], list[Any]]:
    """Every database check; also the posts the load wrote (for the search check)."""
    import sqlalchemy as sa

    engine = sa.create_engine(sqlalchemy_url(url))
    try:
        meta = sa.MetaData()
        names = ["post", "thread", "helpful_vote", "community", "thread_alias"]
        meta.reflect(engine, only=names)
        tables = {name: meta.tables[name] for name in names}
        post = tables["post"]
        with engine.connect() as connection:
            new_posts = list(
                connection.execute(
                    sa.select(
                        post.c.id,
                        post.c.thread_id,
                        post.c.source,
                        post.c.visibility,
                        post.c.deleted_at,
                    ).where(post.c.id > baseline)
                )
            )
            verdicts = check_replies(new_posts, tally) + check_counters(connection, tables)
    finally:
        engine.dispose()
    return verdicts, new_posts


@dataclass(frozen=True)
class SearchFindings:
    """What the search engine says after the run."""

    pending_after_run: int
    drained: int
    pending_after_drain: int
    hits: dict[str, list[int]]  # marker -> post ids found


def search_in_child(env: dict[str, str], markers: list[str], out: Connection) -> None:
    """Ask the app's engine for each marker, after draining what the outbox still holds."""
    os.environ.update(env)
    from forum import create_app
    from forum.search import service
    from forum.search.core import Filters, ParsedQuery, Term

    app = create_app()
    with app.app_context():
        pending = service.pending()
        drained = service.drain()
        left = service.pending()
        engine = service.backend()
        hits = {}
        for marker in markers:
            query = ParsedQuery(groups=((Term(marker),),))
            found = engine.search(query, Filters(), newest=False, page=1)
            hits[marker] = [hit.post_id for hit in found.hits]
    out.send(SearchFindings(pending, drained, left, hits))
    out.close()


def check_search(env: dict[str, str], new_posts: list[Any]) -> list[Verdict]:
    """Every stored, published reply found by its marker exactly once; the index in step."""
    stored = {}
    for row in new_posts:
        markers = _MARKER.findall(row.source)
        if len(markers) == 1 and row.visibility == "published" and row.deleted_at is None:
            stored[markers[0]] = row.id
    findings: SearchFindings = in_child(search_in_child, env, sorted(stored))
    wrong = [
        f"post {post_id}: found {findings.hits.get(marker)}"
        for marker, post_id in stored.items()
        if findings.hits.get(marker) != [post_id]
    ]
    command = [str(Path(sys.executable).with_name("flask")), "--app", "app", "search", "check"]
    checked = subprocess.run(
        command, env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True, check=False
    )
    said = " / ".join(line.strip() for line in checked.stdout.splitlines()[:2])
    return [
        Verdict(
            "search outbox drained by the requests themselves",
            findings.pending_after_run == 0 and findings.pending_after_drain == 0,
            f"{findings.pending_after_run} outbox rows left after the run, "
            f"{findings.pending_after_drain} after `drain`",
        ),
        Verdict(
            "every stored reply found by search exactly once",
            not wrong,
            f"{len(stored) - len(wrong):,} of {len(stored):,} found as their own post"
            + (f"; {_examples(wrong)}" if wrong else ""),
        ),
        Verdict(
            "`flask search check`: index in step with the database",
            checked.returncode == 0,
            said or checked.stderr.strip()[-300:],
        ),
    ]


def check_answers(tally: Tally) -> list[Verdict]:
    """No 5xx, no failed request, every answer the expected one."""
    outcomes: Counter[str] = Counter()
    for counts in tally.outcomes.values():
        outcomes.update(counts)
    total = sum(outcomes.values())
    server_errors = sum(n for key, n in outcomes.items() if key[:1] == "5")
    failed = sum(n for key, n in outcomes.items() if not key[:1].isdigit() and key != "ok")
    other = total - outcomes["ok"] - server_errors - failed
    idle = [action for action in REPORTED if not tally.outcomes.get(action, Counter())["ok"]]
    return [
        Verdict(
            "every action exercised",
            not idle,
            "each action answered as expected at least once"
            if not idle
            else f"never answered as expected: {', '.join(idle)}",
        ),
        Verdict("no 5xx response", not server_errors, f"{server_errors} of {total:,} responses"),
        Verdict("no failed or timed-out request", not failed, f"{failed} of {total:,} requests"),
        Verdict(
            "every answer the expected one (200, or the redirect to the post)",
            not other,
            f"{other} unexpected" + (f": {_examples(tally.samples)}" if other else ""),
        ),
    ]


# --- Reporting ----------------------------------------------------------------------------------


def _percentiles(latencies: list[float]) -> tuple[float, float, float]:
    if not latencies:
        return 0.0, 0.0, 0.0
    if len(latencies) == 1:
        return (latencies[0] * 1000,) * 3
    cuts = quantiles(sorted(latencies), n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000


def print_figures(
    tally: Tally, seconds: float, options: argparse.Namespace, machine: tuple[float, float]
) -> None:
    """The throughput and latency table; `machine`: load average before, server CPU seconds."""
    load_before, server_cpu = machine
    print(
        f"  {options.clients} members in {options.processes} load processes for "
        f"{options.duration:g} s ({seconds:.1f} s until the last answer), "
        f"{options.workers} gunicorn sync workers, pauses of {options.think / 2:g}-"
        f"{options.think * 1.5:g} s"
    )
    print(
        f"  load average {load_before:.1f} before the run, "
        f"{os.getloadavg()[0]:.1f} at its end (1 minute); CPU used: server "
        f"{server_cpu:.1f} s, load generator {tally.cpu_seconds:.1f} s"
    )
    header = f"  {'action':<16}{'requests':>10}{'per s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
    print(header + "  errors")
    total = 0
    everything: list[float] = []
    for action in REPORTED:
        counts = tally.outcomes.get(action, Counter())
        latencies = tally.latencies.get(action, [])
        everything.extend(latencies)
        done = sum(counts.values())
        total += done
        p50, p95, p99 = _percentiles(latencies)
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()) if k != "ok") or "none"
        print(
            f"  {action:<16}{done:>10,}{done / seconds:>8.1f}{p50:>9.0f}{p95:>9.0f}{p99:>9.0f}"
            f"  {errors}"
        )
    p50, p95, p99 = _percentiles(everything)
    print(f"  {'all':<16}{total:>10,}{total / seconds:>8.1f}{p50:>9.0f}{p95:>9.0f}{p99:>9.0f}")
    print("  (thread page includes the page each reply and vote starts from)")
    print(
        f"  replies acknowledged: {len(tally.acked):,}, not acknowledged: {len(tally.unacked)}; "
        f"searches for one's own last reply that found it: {tally.own_found}/{tally.own_searches}"
    )


# --- One database -------------------------------------------------------------------------------


def load_database(database: str, options: argparse.Namespace, workdir: Path) -> bool:
    """Seed, serve, sign in, load, check, print; True when every check passes."""
    from cryptography.fernet import Fernet

    folder = workdir / database
    folder.mkdir()
    if database == "sqlite":
        url = f"sqlite:///{folder / 'load.sqlite3'}"
    else:
        url = pages.create_pg_database()
    env = pages.app_config(url, folder, secrets.token_urlsafe(48), Fernet.generate_key().decode())
    env["FORUM_SEARCH_BACKEND"] = "whoosh" if database == "sqlite" else "postgres"
    log = folder / "gunicorn.log"
    try:
        templates = reply_templates(options.seed, 300)
        prepared: Prepared = in_child(prepare_in_child, options, env, templates)
        counts = ", ".join(f"{value:,} {key}" for key, value in prepared.seeded.counts.items())
        print(f"\n{database}: seeded {counts} in {prepared.seeded.seconds:.1f} s")
        print(
            f"  search ({env['FORUM_SEARCH_BACKEND']}): {prepared.indexed:,} posts indexed in "
            f"{prepared.index_seconds:.1f} s; {len(prepared.texts)} reply texts, "
            f"{len(prepared.held_texts)} left out because the PHI gate would hold them"
        )
        if not prepared.texts:
            raise SystemExit("the PHI gate holds every reply text")
        rng = random.Random(options.seed)
        hot_ids = rng.sample(prepared.seeded.thread_ids, options.hot_threads)
        chosen = rng.sample(prepared.seeded.members, options.clients)

        server, port = start_server(env, options.workers, log)
        try:
            began = time.perf_counter()
            cookies = sign_in_all(port, chosen)
            print(f"  {len(cookies)} members signed in in {time.perf_counter() - began:.1f} s")
            pages.check_pages(port, cookies[0], prepared.seeded)
            baseline = highest_post_id(url)
            load_before = os.getloadavg()[0]
            cpu_before = server_cpu_seconds(server.pid)
            tally, seconds = drive(port, cookies, prepared, hot_ids, options)
            server_cpu = server_cpu_seconds(server.pid) - cpu_before
        finally:
            pages.stop(server)
        print_figures(tally, seconds, options, (load_before, server_cpu))
        tracebacks, flagged, distinct = server_log_lines(log)
        print(f"  server log: {tracebacks} tracebacks, {flagged} warnings or errors")
        for line in distinct:
            print(f"    {line}")

        verdicts = check_answers(tally)
        database_verdicts, new_posts = check_database(url, baseline, tally)
        verdicts += database_verdicts + check_search(env, new_posts)
    finally:
        if database == "postgresql":
            pages.drop_pg_database(url)
    for verdict in verdicts:
        print(f"  {'PASS' if verdict.passed else 'FAIL'}  {verdict.name}: {verdict.detail}")
    return all(verdict.passed for verdict in verdicts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=1_000)
    parser.add_argument("--members", type=int, default=200, help="members seeded")
    parser.add_argument("--clients", type=int, default=100, help="members acting at once")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--think", type=float, default=1.0, help="mean pause between actions (s)")
    parser.add_argument("--processes", type=int, default=4, help="load-generator processes")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--hot-threads", type=int, default=20, help="threads replies go to")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seed", type=int, default=20260404, help="random seed for the data")
    options = parser.parse_args()
    if options.clients < 1 or options.processes < 1 or options.hot_threads < 1:
        parser.error("--clients, --processes and --hot-threads must be at least 1")
    databases = pages.checked_databases(parser, options)
    passed = True
    with tempfile.TemporaryDirectory(prefix="curbside-load-") as folder:
        for database in databases:
            passed = load_database(database, options, Path(folder)) and passed
    print(f"\nLoad checks {'PASSED' if passed else 'FAILED'} on {', '.join(databases)}.")
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()

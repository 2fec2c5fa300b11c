"""The search seam: which engine, keeping it in step through the outbox, and asking it.

Writes put outbox rows in their own transaction (forum.search.documents); after the commit the
request drains them (`drain`), and `flask search sync` drains what a crash left behind.
Draining is serialised (an advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite), so two
workers never write an older state of a post over a newer one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, g, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session, joinedload, selectinload

from forum.cases.models import Post, Thread
from forum.extensions import db
from forum.search import documents
from forum.search.core import Backend, Document, batched
from forum.search.models import SearchOutbox

log = logging.getLogger(__name__)

DRAIN_BATCH = 500
REINDEX_BATCH = 1_000
# Any constant the deployment does not otherwise use; names the drain's advisory lock.
_DRAIN_LOCK_KEY = 0x5EA6C4


class SearchConfigError(RuntimeError):
    """The configured engine cannot run on this database."""


def engine_name(app: Flask) -> str:
    """`whoosh` or `postgres`: as configured, else by the database in use."""
    chosen = (app.config.get("SEARCH_BACKEND") or "").strip().lower()
    with app.app_context():
        dialect = db.engine.dialect.name
    if not chosen:
        return "postgres" if dialect == "postgresql" else "whoosh"
    if chosen not in ("whoosh", "postgres"):
        raise SearchConfigError(f"FORUM_SEARCH_BACKEND must be whoosh or postgres, not {chosen!r}")
    if chosen == "postgres" and dialect != "postgresql":
        raise SearchConfigError("FORUM_SEARCH_BACKEND=postgres needs a PostgreSQL database.")
    return chosen


def backend() -> Backend:
    """The app's search engine (made once per app and process)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get("search_backend")
    if found is None:
        found = app.extensions["search_backend"] = _make_backend(app)
    return found


def _make_backend(app: Flask) -> Backend:
    if engine_name(app) == "postgres":
        from forum.search import pg_backend

        # Migration 0006 creates the table; this covers databases made by create_all (tests).
        with db.engine.begin() as connection:
            pg_backend.create_schema(connection)
        return pg_backend.PgBackend(db.engine)
    from forum.search.whoosh_backend import WhooshBackend

    return WhooshBackend(
        Path(app.instance_path) / "search-index",
        processes=app.config["SEARCH_REBUILD_PROCESSES"],
    )


# --- Draining the outbox ------------------------------------------------------------------------


def _lock_for_draining() -> None:
    """Serialise drains for the rest of this transaction."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DRAIN_LOCK_KEY})
    # SQLite: the transaction began IMMEDIATE (forum._configure_sqlite), so it holds the lock.


def _load_posts(post_ids: set[int], thread_ids: set[int]) -> list[Post]:
    """The posts named, and every post of the threads named, with what documents need."""
    wanted = sa.or_(Post.id.in_(post_ids), Post.thread_id.in_(thread_ids))
    query = (
        sa.select(Post)
        .where(wanted)
        .options(
            selectinload(Post.images),
            joinedload(Post.thread).selectinload(Thread.tags),
            joinedload(Post.thread).selectinload(Thread.poll),
        )
    )
    return list(db.session.scalars(query).unique())


def apply(post_ids: set[int], thread_ids: set[int]) -> tuple[int, int]:
    """Index what is searchable among these posts and drop the rest: (indexed, removed)."""
    posts = _load_posts(post_ids, thread_ids)
    indexed: list[Document] = [
        documents.document(post, post.thread)
        for post in posts
        if documents.is_searchable(post, post.thread)
    ]
    kept = {doc.post_id for doc in indexed}
    gone = (post_ids | {post.id for post in posts}) - kept
    engine = backend()
    if indexed:
        engine.add(indexed)
    if gone:
        engine.remove(sorted(gone))
    return len(indexed), len(gone)


def drain(batch: int = DRAIN_BATCH) -> int:
    """Bring the index up to date with the outbox; returns how many rows were handled."""
    handled = 0
    while True:
        # Another worker's drain often took this request's rows already: then nothing waits for
        # the lock (on PostgreSQL every writing request would queue behind every drain).
        if db.session.scalar(sa.select(SearchOutbox.id).limit(1)) is None:
            db.session.rollback()
            return handled
        _lock_for_draining()
        rows = db.session.execute(
            sa.select(SearchOutbox.id, SearchOutbox.post_id, SearchOutbox.thread_id)
            .order_by(SearchOutbox.id)
            .limit(batch)
        ).all()
        if not rows:
            db.session.rollback()
            return handled
        post_ids = {row.post_id for row in rows if row.post_id is not None}
        thread_ids = {row.thread_id for row in rows if row.thread_id is not None}
        apply(post_ids, thread_ids)
        done = [row.id for row in rows]
        db.session.execute(sa.delete(SearchOutbox).where(SearchOutbox.id.in_(done)))
        db.session.commit()
        handled += len(rows)


def pending() -> int:
    """Outbox rows not yet drained."""
    return int(db.session.scalar(sa.select(sa.func.count(SearchOutbox.id))) or 0)


# --- Rebuilding and checking --------------------------------------------------------------------


def searchable_ids() -> Iterator[list[int]]:
    """Ids of every searchable post, in batches (keyset pages: constant memory)."""
    last = 0
    while True:
        ids = list(
            db.session.scalars(
                sa.select(Post.id)
                .join(Thread, Thread.id == Post.thread_id)
                .where(Post.id > last, documents.searchable_filter())
                .order_by(Post.id)
                .limit(REINDEX_BATCH)
            )
        )
        if not ids:
            return
        yield ids
        last = ids[-1]


def reindex(progress: Callable[[int], None] = lambda _: None) -> int:
    """Rebuild the index from the database; returns the number of posts indexed."""
    _lock_for_draining()
    started_at = db.session.scalar(sa.select(sa.func.max(SearchOutbox.id))) or 0
    db.session.rollback()
    total = 0

    def batches() -> Iterator[list[Document]]:
        nonlocal total
        for ids in searchable_ids():
            posts = _load_posts(set(ids), set())
            yield [documents.document(post, post.thread) for post in posts]
            total += len(posts)
            db.session.expunge_all()  # keep memory flat over a large forum

    touched = backend().rebuild(batches(), progress)
    # Posts written by requests during the rebuild: its copies of them may be older.
    for post_ids in batched(touched, DRAIN_BATCH):
        apply(set(post_ids), set())
    # What changed during the rebuild and is not drained yet is still in the outbox.
    db.session.execute(sa.delete(SearchOutbox).where(SearchOutbox.id <= started_at))
    db.session.commit()
    return total


@dataclass(frozen=True)
class CheckReport:
    """Posts members may see but the index lacks, and indexed posts they may not see."""

    missing: list[int]
    extra: list[int]

    @property
    def in_step(self) -> bool:
        """The index holds exactly the searchable posts."""
        return not self.missing and not self.extra


def check() -> CheckReport:
    """Compare the index with the database."""
    expected = {post_id for ids in searchable_ids() for post_id in ids}
    indexed = backend().post_ids()
    return CheckReport(sorted(expected - indexed), sorted(indexed - expected))


def searchable_count() -> int:
    """How many posts a full rebuild would index."""
    query = sa.select(sa.func.count(Post.id)).join(Thread, Thread.id == Post.thread_id)
    return int(db.session.scalar(query.where(documents.searchable_filter())) or 0)


# --- After each commit --------------------------------------------------------------------------


def _note_commit(session: Session) -> None:
    if session.info.pop("search_outbox_written", False) and has_app_context():
        g.search_outbox_pending = True


def _forget(session: Session, previous_transaction: Any = None) -> None:
    del previous_transaction
    session.info.pop("search_outbox_written", None)


def _drain_after_request(error: BaseException | None) -> None:
    """Drain what this request's commits wrote; a failure leaves the rows for the next drain."""
    del error
    if not g.pop("search_outbox_pending", False):
        return
    try:
        drain()
    except Exception as problem:  # the write itself succeeded; the index catches up later
        db.session.rollback()
        log.warning("Search outbox not drained: %s", type(problem).__name__)


def init_app(app: Flask) -> None:
    """Install the outbox hook and drain after every request that wrote to the outbox."""
    documents.install()
    if not event.contains(Session, "after_commit", _note_commit):
        event.listen(Session, "after_commit", _note_commit)
        event.listen(Session, "after_soft_rollback", _forget)
    app.teardown_request(_drain_after_request)


def engine_label() -> str:
    """The engine in use, for messages."""
    return backend().name

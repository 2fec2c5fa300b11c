"""From posts to search documents, and the outbox rows that keep the index in step.

Every flush that changes what members may see of a post (its text, visibility, deletion or
anonymity; its thread's title, tags, status, community or visibility; a poll or an image)
writes outbox rows in the same transaction, from one session hook rather than from each
write path, so no path can forget. Draining (forum.search.service) reads the posts' state then.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from forum import text
from forum.cases.models import (
    CaseSection,
    Poll,
    Post,
    PostImage,
    Thread,
    ThreadTag,
    Visibility,
)
from forum.extensions import utcnow
from forum.search.core import Document
from forum.search.models import SearchOutbox

# Thread columns a document carries; other thread changes (counts, activity) do not matter.
_THREAD_FIELDS = ("title", "visibility", "status", "community_id", "age_band", "kind", "anonymous")
_POST_FIELDS = ("html", "visibility", "deleted_at", "anonymous", "thread_id", "is_opening")


def is_searchable(post: Post, thread: Thread) -> bool:
    """What every member may see: published posts, not deleted, in published threads."""
    return (
        thread.visibility == Visibility.PUBLISHED
        and post.visibility == Visibility.PUBLISHED
        and post.deleted_at is None
    )


def document(post: Post, thread: Thread) -> Document:
    """The post as the index holds it; an anonymous post's author is left out."""
    return Document(
        post_id=post.id,
        thread_id=thread.id,
        community_id=thread.community_id,
        # The title goes with the opening post only: a title word would otherwise find every
        # reply of the thread and bury other threads.
        title=thread.title if post.is_opening else "",
        body=text.plain_text(post.html),
        tags=tuple(tag.tag for tag in thread.tags),
        kind=thread.kind,
        age_band=thread.age_band or "",
        status=thread.status,
        has_poll=thread.poll is not None,
        has_images=bool(post.images),
        is_opening=post.is_opening,
        created_at=post.created_at,
        author_id=None if post.anonymous else post.author_id,
    )


# --- The outbox hook ------------------------------------------------------------------------


def _changed(obj: Any, fields: Iterable[str]) -> bool:
    state = sa.inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in fields)


def _touched(session: Session) -> tuple[set[int], set[int]]:
    """Post and thread ids whose documents this flush may change."""
    posts: set[int] = set()
    threads: set[int] = set()
    for obj in [*session.new, *session.dirty, *session.deleted]:
        fresh = obj in session.new or obj in session.deleted
        if isinstance(obj, Post):
            if fresh or _changed(obj, _POST_FIELDS):
                posts.add(obj.id)
        elif isinstance(obj, Thread):
            # A new thread is indexed through its new opening post.
            if obj in session.deleted or (obj not in session.new and _changed(obj, _THREAD_FIELDS)):
                threads.add(obj.id)
        elif isinstance(obj, PostImage):
            posts.add(obj.post_id)
        elif isinstance(obj, ThreadTag | Poll | CaseSection):
            threads.add(obj.thread_id)
    return posts, threads


def _record(session: Session, flush_context: Any) -> None:
    """after_flush: write outbox rows for what the flush changed (ids are assigned by now)."""
    del flush_context
    posts, threads = _touched(session)
    rows = [{"post_id": i, "thread_id": None, "created_at": utcnow()} for i in posts if i]
    rows += [{"post_id": None, "thread_id": i, "created_at": utcnow()} for i in threads if i]
    if rows:
        session.connection().execute(sa.insert(SearchOutbox), rows)
        session.info["search_outbox_written"] = True


def install() -> None:
    """Attach the hook to every ORM session (once per process)."""
    if not event.contains(Session, "after_flush", _record):
        event.listen(Session, "after_flush", _record)


def searchable_filter() -> sa.ColumnElement[bool]:
    """is_searchable as SQL (the query must join Thread)."""
    return sa.and_(
        Thread.visibility == Visibility.PUBLISHED,
        Post.visibility == Visibility.PUBLISHED,
        Post.deleted_at.is_(None),
    )

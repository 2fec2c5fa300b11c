"""Who may see which threads and posts: the one helper every list, count and page goes through.

Members see published threads, and in them published posts (deleted ones as tombstones).
Pending, rejected and removed content reaches its author and moderators only.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from forum.accounts.models import Role, User
from forum.cases.models import Post, Thread, Visibility

# What an author still sees of their own content that nobody else does.
_HELD_FOR_AUTHOR = (Visibility.PENDING, Visibility.REJECTED, Visibility.REMOVED)


def is_moderator(viewer: User) -> bool:
    """Moderators (and admins) see held and removed content."""
    return viewer.has_role(Role.MODERATOR)


def visible_threads_query(viewer: User) -> sa.Select[Thread]:
    """Threads that may be listed and counted: published ones only, for every viewer.

    A held thread reaches its author and moderators on its own page (can_see_thread), never
    in community pages, feeds or counts.
    """
    del viewer  # lists are the same for everyone; the parameter keeps callers honest
    return sa.select(Thread).where(listed_threads_filter())


def listed_threads_filter() -> sa.ColumnElement[bool]:
    """The condition on Thread for lists and counts: published."""
    return Thread.visibility == Visibility.PUBLISHED


def visible_posts_filter(viewer: User) -> sa.ColumnElement[bool]:
    """The condition on Post for what the viewer sees on a thread page (tombstones included)."""
    if is_moderator(viewer):
        return sa.true()
    return visible_posts_filter_for(viewer.id)


def visible_posts_filter_for(viewer_id: int | sa.BindParameter[Any]) -> sa.ColumnElement[bool]:
    """What a viewer who is not a moderator sees: published posts, and their own held ones
    (the id may be a bound parameter, for statements built once)."""
    return sa.or_(
        Post.visibility == Visibility.PUBLISHED,
        sa.and_(Post.author_id == viewer_id, Post.visibility.in_(_HELD_FOR_AUTHOR)),
    )


def live_posts_filter() -> sa.ColumnElement[bool]:
    """The condition on Post for counts and activity: published and not deleted."""
    return sa.and_(Post.visibility == Visibility.PUBLISHED, Post.deleted_at.is_(None))


def can_see_thread(viewer: User, thread: Thread) -> bool:
    """Published threads for every physician; held ones for their author and moderators."""
    if thread.visibility == Visibility.PUBLISHED:
        return True
    return viewer.id == thread.author_id or is_moderator(viewer)


def can_see_post(viewer: User, post: Post) -> bool:
    """Whether the viewer may see the post's content (text and images)."""
    if not can_see_thread(viewer, post.thread):
        return False
    if is_moderator(viewer):
        return True
    if post.deleted_at is not None:
        return False
    if post.visibility == Visibility.PUBLISHED:
        return True
    return viewer.id == post.author_id and post.visibility in _HELD_FOR_AUTHOR


def can_see_outcome(viewer: User, thread: Thread) -> bool:
    """A held outcome reaches the case's author and moderators only."""
    if thread.outcome_html is None:
        return False
    if thread.outcome_visibility == Visibility.PUBLISHED:
        return True
    return viewer.id == thread.author_id or is_moderator(viewer)

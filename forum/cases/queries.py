"""What the case pages read: a fixed number of queries per page, whatever the page holds.

Each page loads its rows with their authors, tags and images eagerly (selectin or joined
loads) and the viewer's own marks (votes, bookmarks, follows) with one query each.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from forum.accounts.models import User
from forum.cases import polls
from forum.cases.models import (
    Bookmark,
    Community,
    Follow,
    HelpfulVote,
    Poll,
    Post,
    PostImage,
    PostRevision,
    Thread,
    ThreadRead,
    Visibility,
    alias_label,
)
from forum.cases.visibility import (
    can_see_outcome,
    can_see_thread,
    is_moderator,
    listed_threads_filter,
    visible_posts_filter,
    visible_posts_filter_for,
    visible_threads_query,
)
from forum.extensions import db, utcnow
from forum.moderation.models import ThreadLock

PAGE_SIZE = 20
MARKS = ("voted", "bookmarked", "following", "read", "locked")
MAX_PAGE = 10_000
# Ids are 32-bit integers on PostgreSQL; a larger number in a URL names nothing.
MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class ThreadRow:
    """A thread in a list, with whether the viewer has unread activity in it (feeds only)."""

    thread: Thread
    unread: bool = False


@dataclass(frozen=True)
class ListPage:
    """One page of a thread list."""

    rows: list[ThreadRow]
    page: int
    has_next: bool


@dataclass(frozen=True, slots=True)
class ImageRef:
    """An image on a post in a page of posts."""

    id: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class PostRow:
    """A post as the thread page reads it: the columns it shows, read without the ORM (the
    thread page is the most read page, and building full Post objects costs more than the
    posts' text)."""

    id: int
    thread_id: int
    author_id: int
    author_name: str
    is_opening: bool
    anonymous: bool
    alias_number: int | None
    alias_specialty: str | None
    html: str
    visibility: str
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    helpful_count: int
    images: list[ImageRef] = field(default_factory=list)

    @property
    def is_live(self) -> bool:
        """Published and not deleted (as Post.is_live)."""
        return self.visibility == Visibility.PUBLISHED and self.deleted_at is None

    @property
    def author_label(self) -> str:
        """The alias when anonymous, else the display name (as Post.author_label)."""
        if self.anonymous:
            return alias_label(self.alias_specialty, self.alias_number)
        return self.author_name


@dataclass(frozen=True)
class ThreadPage:
    """Everything the thread page shows, loaded in a fixed number of queries."""

    thread: Thread
    posts: list[PostRow]
    page: int
    pages: int
    voted: set[int] = field(default_factory=set)
    bookmarked: set[int] = field(default_factory=set)
    following: bool = False
    poll: polls.PollView | None = None
    show_outcome: bool = False
    moderator: bool = False
    locked: bool = False
    unread: bool = True  # activity since the viewer last read the thread (or never read)


@dataclass(frozen=True)
class BookmarkPage:
    """One page of the viewer's bookmarks."""

    posts: list[Post]
    page: int
    has_next: bool


def _listing(query: sa.Select[Any], page: int) -> sa.Select[Any]:
    return (
        query.order_by(Thread.last_activity_at.desc(), Thread.id.desc())
        .limit(PAGE_SIZE + 1)
        .offset((page - 1) * PAGE_SIZE)
        .options(
            joinedload(Thread.author),
            joinedload(Thread.community),
            selectinload(Thread.opening),
            selectinload(Thread.tags),
        )
    )


def community_threads(viewer: User, community: Community, page: int) -> ListPage:
    """A community's visible threads by latest activity, 20 a page."""
    query = _listing(visible_threads_query(viewer).where(Thread.community_id == community.id), page)
    threads = list(db.session.scalars(query))
    rows = [ThreadRow(thread) for thread in threads[:PAGE_SIZE]]
    return ListPage(rows, page, len(threads) > PAGE_SIZE)


def feed(viewer: User, page: int) -> ListPage:
    """The member's community and followed threads, newest activity first, with unread marks."""
    followed = sa.select(Follow.thread_id).where(Follow.user_id == viewer.id)
    home = sa.select(Community.id).where(Community.slug == (viewer.specialty or ""))
    read = sa.and_(ThreadRead.thread_id == Thread.id, ThreadRead.user_id == viewer.id)
    query = _listing(
        visible_threads_query(viewer)
        .add_columns(ThreadRead.read_at)
        .outerjoin(ThreadRead, read)
        .where(sa.or_(Thread.community_id.in_(home), Thread.id.in_(followed))),
        page,
    )
    found = list(db.session.execute(query))
    rows = [
        ThreadRow(thread, unread=_unread(thread.last_activity_at, read_at))
        for thread, read_at in found[:PAGE_SIZE]
    ]
    return ListPage(rows, page, len(found) > PAGE_SIZE)


def _unread(activity: datetime, read_at: datetime | None) -> bool:
    return read_at is None or activity > read_at


def community_counts() -> list[Community]:
    """Every community, by name, with its (kept in step) count of listed threads."""
    return list(db.session.scalars(sa.select(Community).order_by(Community.name)))


@functools.cache
def _thread_query() -> sa.Select[Thread]:
    """A thread with what its page shows about it, built once with the id bound at run time."""
    return (
        sa.select(Thread)
        .where(Thread.id == sa.bindparam("thread_id"))
        .options(
            joinedload(Thread.community),
            joinedload(Thread.author),
            # Joined rather than a query each: at most one poll, and one row per section (five
            # at most); the tags stay a query of their own so the rows do not multiply.
            joinedload(Thread.sections),
            joinedload(Thread.poll).selectinload(Poll.options),
            selectinload(Thread.tags),
        )
    )


def load_thread(thread_id: int) -> Thread | None:
    """A thread with what its page shows about it (community, tags, sections, poll)."""
    if not 0 < thread_id <= MAX_ID:
        return None
    found = db.session.execute(_thread_query(), {"thread_id": thread_id})
    return found.unique().scalar_one_or_none()


def visible_post_count(viewer: User, thread: Thread) -> int:
    """How many posts of the thread the viewer sees (tombstones included)."""
    count = db.session.scalar(
        sa.select(sa.func.count(Post.id)).where(
            Post.thread_id == thread.id, visible_posts_filter(viewer)
        )
    )
    return int(count or 0)


def thread_page(viewer: User, thread: Thread, page: int) -> ThreadPage | None:
    """A page of 20 posts the viewer may see, with their marks; None past the last page."""
    posts, total = _page_posts(viewer, thread, page)
    if not posts and page > 1:
        return None  # past the last page
    pages = max(1, -(-total // PAGE_SIZE))
    marks = viewer_marks(viewer, thread, [post.id for post in posts])
    poll = polls.poll_view(thread.poll, viewer, utcnow()) if thread.poll is not None else None
    return ThreadPage(
        thread=thread,
        posts=posts,
        page=page,
        pages=pages,
        voted=marks["voted"],
        bookmarked=marks["bookmarked"],
        following=bool(marks["following"]),
        locked=bool(marks["locked"]),
        unread=not marks["read"],
        poll=poll,
        show_outcome=can_see_outcome(viewer, thread),
        moderator=is_moderator(viewer),
    )


_POST_COLUMNS = (
    Post.id, Post.thread_id, Post.author_id, User.display_name.label("author_name"),
    Post.is_opening, Post.anonymous, Post.alias_number, Post.alias_specialty, Post.html,
    Post.visibility, Post.created_at, Post.edited_at, Post.deleted_at, Post.helpful_count,
)  # fmt: skip


@functools.cache
def _page_posts_query(moderator: bool) -> sa.Select[Any]:
    """The thread page's posts query, built once per kind of viewer (moderators see every
    post) with its values bound at run time: building statements costs more than running them.

    A page of visible posts with their authors' names, the number of posts the thread shows in
    all (the window count runs over every visible post before LIMIT applies) and the page's
    images (joined after the LIMIT).
    """
    visible = sa.true() if moderator else visible_posts_filter_for(sa.bindparam("viewer_id"))
    window = (
        sa.select(*_POST_COLUMNS, sa.func.count().over().label("total"))
        .join(User, User.id == Post.author_id)
        .where(Post.thread_id == sa.bindparam("thread_id"), visible)
        .order_by(Post.created_at, Post.id)
        .limit(sa.bindparam("limit"))
        .offset(sa.bindparam("offset"))
        .subquery()
    )
    return (
        sa.select(window, PostImage.id, PostImage.width, PostImage.height)
        .outerjoin(PostImage, PostImage.post_id == window.c.id)
        .order_by(window.c.created_at, window.c.id, PostImage.id)
    )


def _page_posts(viewer: User, thread: Thread, page: int) -> tuple[list[PostRow], int]:
    """A page of the posts the viewer may see, and how many they see in all: one query."""
    query = _page_posts_query(is_moderator(viewer))
    values = {
        "viewer_id": viewer.id,
        "thread_id": thread.id,
        "limit": PAGE_SIZE,
        "offset": (page - 1) * PAGE_SIZE,
    }
    posts: dict[int, PostRow] = {}
    total = 0
    width = len(_POST_COLUMNS)
    for row in db.session.execute(query, values):
        total = row[width]
        post = posts.get(row[0])
        if post is None:
            post = posts[row[0]] = PostRow(*row[:width])
        if row[width + 1] is not None:
            post.images.append(ImageRef(*row[width + 1 :]))
    return list(posts.values()), total


@functools.cache
def _marks_query() -> sa.CompoundSelect:
    """The viewer's marks on a thread page (see viewer_marks), built once, values bound."""
    viewer: sa.BindParameter[int] = sa.bindparam("viewer_id")
    thread: sa.BindParameter[int] = sa.bindparam("thread_id")
    ids: sa.BindParameter[list[int]] = sa.bindparam("post_ids", expanding=True)
    return sa.union_all(
        sa.select(sa.literal("voted", sa.String).label("mark"), HelpfulVote.post_id.label("id"))
        .where(HelpfulVote.user_id == viewer, HelpfulVote.post_id.in_(ids)),
        sa.select(sa.literal("bookmarked", sa.String), Bookmark.post_id)
        .where(Bookmark.user_id == viewer, Bookmark.post_id.in_(ids)),
        sa.select(sa.literal("following", sa.String), Follow.thread_id)
        .where(Follow.thread_id == thread, Follow.user_id == viewer),
        sa.select(sa.literal("read", sa.String), ThreadRead.thread_id)
        .where(ThreadRead.thread_id == thread, ThreadRead.user_id == viewer,
               ThreadRead.read_at >= sa.bindparam("last_activity", type_=ThreadRead.read_at.type)),
        sa.select(sa.literal("locked", sa.String), ThreadLock.thread_id)
        .where(ThreadLock.thread_id == thread),
    )  # fmt: skip


def viewer_marks(viewer: User, thread: Thread, ids: list[int]) -> dict[str, set[int]]:
    """In one query: the viewer's helpful votes and bookmarks among the posts, whether they
    follow the thread and have read its latest activity, and whether it is locked."""
    values = {
        "viewer_id": viewer.id,
        "thread_id": thread.id,
        "post_ids": ids,
        "last_activity": thread.last_activity_at,
    }
    found: dict[str, set[int]] = {name: set() for name in MARKS}
    for mark, mark_id in db.session.execute(_marks_query(), values):
        found[mark].add(mark_id)
    return found


def page_of_post(viewer: User, post: Post) -> int:
    """The thread page (20 posts each) on which the viewer finds the post."""
    before = db.session.scalar(
        sa.select(sa.func.count(Post.id)).where(
            Post.thread_id == post.thread_id,
            visible_posts_filter(viewer),
            sa.or_(
                Post.created_at < post.created_at,
                sa.and_(Post.created_at == post.created_at, Post.id < post.id),
            ),
        )
    )
    return int(before or 0) // PAGE_SIZE + 1


def bookmarks(viewer: User, page: int) -> BookmarkPage:
    """The viewer's bookmarked posts they may still see, most recently saved first."""
    thread_visible = sa.or_(
        listed_threads_filter(), Thread.author_id == viewer.id, sa.literal(is_moderator(viewer))
    )
    query = (
        sa.select(Post)
        .join(Bookmark, sa.and_(Bookmark.post_id == Post.id, Bookmark.user_id == viewer.id))
        .join(Thread, Thread.id == Post.thread_id)
        .where(visible_posts_filter(viewer), thread_visible)
        .order_by(Bookmark.created_at.desc(), Post.id.desc())
        .limit(PAGE_SIZE + 1)
        .offset((page - 1) * PAGE_SIZE)
        .options(
            joinedload(Post.author),
            joinedload(Post.thread).joinedload(Thread.community),
            selectinload(Post.images),
        )
    )
    posts = list(db.session.scalars(query))
    return BookmarkPage(posts[:PAGE_SIZE], page, len(posts) > PAGE_SIZE)


def revisions(post: Post) -> list[PostRevision]:
    """A post's earlier texts, newest first."""
    return list(
        db.session.scalars(
            sa.select(PostRevision)
            .where(PostRevision.post_id == post.id)
            .order_by(PostRevision.created_at.desc(), PostRevision.id.desc())
        )
    )


def load_post(post_id: int) -> Post | None:
    """A post with its thread."""
    if not 0 < post_id <= MAX_ID:
        return None
    return db.session.scalar(
        sa.select(Post).where(Post.id == post_id).options(joinedload(Post.thread))
    )


def visible_thread(viewer: User, thread_id: int) -> Thread | None:
    """The thread when the viewer may see it, else None (pages answer 404 either way)."""
    thread = load_thread(thread_id)
    if thread is None or not can_see_thread(viewer, thread):
        return None
    return thread

"""What the thread page shows of each post, decided once in Python rather than in the template.

The thread page is the forum's most read page. Deciding every label, permission and link here,
in one pass per post, leaves the template plain attribute reads: no method calls, macros or
URL building per post (those cost more than the posts' text). Links are the post's path plus
a suffix because every per-post action lives under `/p/<id>/...` (see views.post_paths).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from forum.accounts.models import User
from forum.cases.models import Thread, Visibility, is_editable
from forum.cases.queries import PostRow
from forum.templating import when

# What the held badge says, by the post's visibility.
HELD_BADGES: dict[str, str] = {
    Visibility.PENDING: "Waiting for review",
    Visibility.REJECTED: "Rejected by a moderator",
    Visibility.REMOVED: "Removed by a moderator",
}


@dataclass(frozen=True, slots=True)
class ImageCard:
    """An image attached to a post, as the page links it."""

    src: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class PostCard:
    """One post on the thread page: its text, its labels and what the viewer may do to it."""

    id: int
    path: str  # /p/<id>: the permanent link; action URLs add a suffix
    author_label: str
    created_iso: str
    created_text: str
    html: str
    is_opening: bool
    anonymous: bool
    edited: bool
    deleted: bool
    tombstone: bool  # deleted and the viewer is not a moderator: only the tombstone shows
    accepted: bool
    held: bool
    live: bool
    published: bool
    removed: bool
    badge: str
    own: bool
    helpful_count: int
    can_vote: bool
    voted: bool
    bookmarked: bool
    accept_state: str  # "on", "off" (withdraw) or "" (no button)
    can_edit: bool
    can_see_history: bool
    can_delete: bool
    can_flag: bool
    images: tuple[ImageCard, ...]
    images_pending: bool


@dataclass(frozen=True, slots=True)
class PageMarks:
    """The viewer's marks among the page's posts, and who the viewer is to the thread."""

    voted: set[int]
    bookmarked: set[int]
    moderator: bool


def post_card(
    post: PostRow, thread: Thread, viewer: User, marks: PageMarks, paths: PostPaths
) -> PostCard:
    """The post as this viewer sees it on the thread page."""
    own = viewer.id == post.author_id
    deleted = post.deleted_at is not None
    live = post.visibility == Visibility.PUBLISHED and not deleted
    accepted = thread.accepted_post_id == post.id
    path = paths.post(post.id)
    return PostCard(
        id=post.id,
        path=path,
        author_label=post.author_label,
        created_iso=post.created_at.isoformat(),
        created_text=when(post.created_at),
        html=post.html,
        is_opening=post.is_opening,
        anonymous=post.anonymous,
        edited=post.edited_at is not None,
        deleted=deleted,
        tombstone=deleted and not marks.moderator,
        accepted=accepted,
        held=post.visibility in (Visibility.PENDING, Visibility.REJECTED),
        live=live,
        published=post.visibility == Visibility.PUBLISHED,
        removed=post.visibility == Visibility.REMOVED,
        badge=HELD_BADGES.get(post.visibility, ""),
        own=own,
        helpful_count=post.helpful_count,
        can_vote=live and not own,
        voted=post.id in marks.voted,
        bookmarked=post.id in marks.bookmarked,
        accept_state=_accept_state(post, thread, viewer, accepted),
        can_edit=own and is_editable(post.visibility, post.deleted_at),
        can_see_history=post.edited_at is not None and (own or marks.moderator),
        can_delete=not deleted and (own or marks.moderator),
        can_flag=live and not own,
        images=image_cards(post.images, paths),
        images_pending=post.visibility == Visibility.PENDING,
    )


class Image(Protocol):
    """What linking an image reads of it (a PostImage or a page's ImageRef)."""

    @property
    def id(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...


def image_cards(images: Iterable[Image], paths: PostPaths) -> tuple[ImageCard, ...]:
    """A post's images as pages link them."""
    return tuple(ImageCard(paths.image(i.id), i.width, i.height) for i in images)


def _accept_state(post: PostRow, thread: Thread, viewer: User, accepted: bool) -> str:
    if accepted and viewer.id == thread.author_id:
        return "off"
    return "on" if thread.can_accept(viewer, post) else ""


@dataclass(frozen=True, slots=True)
class PostPaths:
    """Builds post and image paths from their prefixes: one url_for per page, not per post."""

    post_prefix: str  # "/p/" (with the script root when mounted under a prefix)
    image_prefix: str

    def post(self, post_id: int) -> str:
        """The post's permanent link; its actions add "/helpful", "/bookmark" and so on."""
        return f"{self.post_prefix}{post_id}"

    def image(self, image_id: int) -> str:
        """Where an attached image is served."""
        return f"{self.image_prefix}{image_id}"

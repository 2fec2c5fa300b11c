"""The search seam's shared shapes: what is indexed, what is asked, what comes back.

Both engines (forum/search/whoosh_backend.py, forum/search/pg_backend.py) implement Backend;
everything else (the outbox, the CLI, the page) talks to Backend only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar

PER_PAGE = 20

Item = TypeVar("Item")


class RebuildRunning(RuntimeError):
    """Another process is rebuilding the index."""


def batched(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """Lists of `size` items in order, the last one shorter (itertools.batched, Python 3.12)."""
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True)
class Document:
    """One post as members may see it: only published posts of published threads are indexed.

    `author_id` is None for anonymous posts: the index never learns who wrote them.
    """

    post_id: int
    thread_id: int
    community_id: int
    title: str  # the thread's title
    body: str  # the post's plain text (a case's opening post: its sections)
    tags: tuple[str, ...]
    kind: str  # "case" or "discussion"
    age_band: str  # "" for discussions
    status: str  # "open", "answered", "solved"
    has_poll: bool
    has_images: bool
    is_opening: bool
    created_at: datetime  # aware, UTC
    author_id: int | None


@dataclass(frozen=True)
class Term:
    """A word, lower-cased; prefix=True for "cardio*"."""

    text: str
    prefix: bool = False


@dataclass(frozen=True)
class Phrase:
    """Words that must appear together in this order, lower-cased."""

    words: tuple[str, ...]


Clause = Term | Phrase


@dataclass(frozen=True)
class ParsedQuery:
    """A member's query: every group must match (a group matches when any of its alternatives
    does: "a OR b", synonyms), and no excluded clause may match."""

    groups: tuple[tuple[Clause, ...], ...] = ()
    excluded: tuple[Clause, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing to look for (excluded words alone find nothing)."""
        return not self.groups


@dataclass(frozen=True)
class Filters:
    """Narrowing a search; None or "" means "any"."""

    community_id: int | None = None
    tag: str = ""
    kind: str = ""
    age_band: str = ""
    status: str = ""
    has_poll: bool | None = None
    has_images: bool | None = None
    since: datetime | None = None  # created at or after (aware, UTC)
    until: datetime | None = None  # created before (aware, UTC)
    author_id: int | None = None  # never matches anonymous posts (their author_id is None)


@dataclass(frozen=True)
class Hit:
    """One result: the post, and a snippet of its text with the matches in <mark> (HTML: the
    text is escaped, only the <mark> tags are markup)."""

    post_id: int
    thread_id: int
    snippet: str
    score: float = 0.0


@dataclass(frozen=True)
class ResultPage:
    """One page of results, best first (or newest first), and how many match in all."""

    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    exact: bool = True  # False: total is the engine's estimate (very common words)


class Backend(Protocol):
    """An index of Documents. add() replaces a document with the same post_id."""

    name: str

    def add(self, documents: Sequence[Document]) -> None:
        """Index these documents, replacing earlier versions of the same posts."""

    def remove(self, post_ids: Sequence[int]) -> None:
        """Drop these posts from the index (unknown ids are ignored)."""

    def search(
        self,
        query: ParsedQuery,
        filters: Filters,
        newest: bool,
        page: int,
        per_page: int = PER_PAGE,
    ) -> ResultPage:
        """A page of posts matching the query and filters, by relevance or newest first."""

    def post_ids(self) -> set[int]:
        """Every indexed post id (for `flask search check`)."""

    def clear(self) -> None:
        """Empty the index."""

    def rebuild(
        self, batches: Iterable[Sequence[Document]], progress: Callable[[int], None]
    ) -> set[int]:
        """Empty the index and fill it with these documents, calling `progress` with each
        number indexed; returns posts other writers touched meanwhile, to index again."""


WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The words both engines index and match: runs of letters and digits, lower-cased, with
    no stemming (drug names stay whole) and no stop words (two-letter terms such as "MI" count)."""
    return WORD.findall(text.lower())

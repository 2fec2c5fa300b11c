"""What a digest says: built from published content only, in batches of members.

Each member's digest covers the seven days before their own send moment, so members of one
community see different windows. The community's candidate threads (new ones, open cases,
polls) are loaded once per community and week with a few queries, and each window picks its
top items from them in memory; "new replies in threads you follow" is counted by the database,
one query per batch and send moment.
Queries per run grow with communities, batches and distinct send moments, not with members.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from forum.accounts.models import User
from forum.cases.models import (
    CaseStatus,
    Community,
    Follow,
    Poll,
    Post,
    Thread,
    ThreadKind,
    alias_label,
)
from forum.cases.visibility import listed_threads_filter, live_posts_filter
from forum.digest.schedule import PERIOD
from forum.extensions import db
from forum.text import plain_text

SECTION_LIMIT = 5
FOLLOWED_LIMIT = 10
SNIPPET_CHARS = 160
UNANSWERED_SINCE = timedelta(days=28)  # older open cases have had their chance
POLLS_AHEAD = PERIOD  # polls that close before the next digest arrives
# Bounded caches, so memory stays flat however many members a run has: a run reuses threads'
# facts and snippets across digests, and each send moment's sections across its members.
CACHE_MAX = 2_000
SECTIONS_MAX = 256


@dataclass(frozen=True)
class Recipient:
    """A member a digest is built for, with the period it covers (ending at the send moment)."""

    user_id: int
    email: str
    display_name: str
    specialty: str | None
    iso_week: str
    period_end: datetime
    time_zone: str

    @property
    def period_start(self) -> datetime:
        """A digest covers the seven days before its send moment."""
        return self.period_end - PERIOD


@dataclass(frozen=True)
class Item:
    """One thread in a section: title, public author label, snippet and what makes it notable."""

    thread_id: int
    title: str
    author: str
    snippet: str
    note: str
    closes_at: datetime | None = None  # polls: shown in the member's time zone
    count: int = 0  # followed threads: how many new replies


@dataclass
class Digest:
    """One member's digest for one week."""

    recipient: Recipient
    community_name: str | None
    active: list[Item] = field(default_factory=list)
    helpful: list[Item] = field(default_factory=list)
    followed: list[Item] = field(default_factory=list)
    unanswered: list[Item] = field(default_factory=list)
    polls: list[Item] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """Nothing to say: no e-mail is sent."""
        return not (self.active or self.helpful or self.followed or self.unanswered or self.polls)

    @property
    def new_replies(self) -> int:
        """New replies in the threads the member follows."""
        return sum(item.count for item in self.followed)


@dataclass(frozen=True)
class _ThreadFacts:
    title: str
    author_id: int
    author: str
    snippet: str


@dataclass(frozen=True)
class _Candidate:
    """A published thread of the community that may make a section, with its standing."""

    thread_id: int
    created_at: datetime
    last_activity_at: datetime
    replies: int
    helpful: int


@dataclass
class _CommunityWeek:
    """What a community offers digests whose send moment falls in one week (UTC)."""

    new_threads: list[_Candidate]
    open_cases: list[_Candidate]  # unanswered, newest first
    polls: list[tuple[int, str, datetime]]  # thread id, question, closes at; soonest first


@dataclass
class _CommunitySections:
    active: list[Item]
    helpful: list[Item]
    unanswered: list[tuple[int, Item]]  # (author id, item): members skip their own cases
    polls: list[Item]


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _week_anchor(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the moment's week: send moments of one week share what they load."""
    day = moment.astimezone(UTC).date()
    monday = day - timedelta(days=day.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)


def _bounded_set(cache: dict[Any, Any], key: Any, value: Any, limit: int = CACHE_MAX) -> Any:
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value
    return value


class DigestBuilder:
    """Builds digests for batches of members, sharing community sections across the run."""

    def __init__(self) -> None:
        self._communities = {
            c.slug: (c.id, c.name) for c in db.session.scalars(sa.select(Community))
        }
        self._weeks: dict[tuple[int, datetime], _CommunityWeek] = {}
        self._sections: dict[tuple[int, datetime], _CommunitySections] = {}
        self._facts: dict[int, _ThreadFacts] = {}
        self._snippets: dict[int, str] = {}

    def build(self, recipients: Sequence[Recipient]) -> list[Digest]:
        """The digests of a batch of members, in the order given."""
        followed = self._followed(recipients)
        return [self._digest(r, followed.get(r.user_id, [])) for r in recipients]

    def _digest(self, recipient: Recipient, followed: list[Item]) -> Digest:
        community = self._communities.get(recipient.specialty or "")
        digest = Digest(recipient, community[1] if community else None, followed=followed)
        if community is None:
            return digest
        sections = self._community_sections(community[0], recipient.period_end)
        digest.active = sections.active
        digest.helpful = sections.helpful
        digest.polls = sections.polls
        digest.unanswered = [
            item for author, item in sections.unanswered if author != recipient.user_id
        ][:SECTION_LIMIT]
        return digest

    # --- Community sections: loaded per (community, week), picked per send moment --------------

    def _community_sections(self, community_id: int, end: datetime) -> _CommunitySections:
        key = (community_id, end)
        found = self._sections.get(key)
        if found is None:
            found = _bounded_set(self._sections, key, self._pick(community_id, end), SECTIONS_MAX)
        return found

    def _community_week(self, community_id: int, anchor: datetime) -> _CommunityWeek:
        key = (community_id, anchor)
        found = self._weeks.get(key)
        if found is None:
            found = _bounded_set(self._weeks, key, self._load_week(community_id, anchor))
        return found

    def _pick(self, community_id: int, end: datetime) -> _CommunitySections:
        """The sections of a digest sent at `end`: what happened in the seven days before."""
        week = self._community_week(community_id, _week_anchor(end))
        start = end - PERIOD
        recent = [t for t in week.new_threads if start <= t.created_at < end]
        active = sorted(
            (t for t in recent if t.replies > 0),
            key=lambda t: (-t.replies, -t.last_activity_at.timestamp(), t.thread_id),
        )[:SECTION_LIMIT]
        helpful = sorted(
            (t for t in recent if t.helpful > 0), key=lambda t: (-t.helpful, t.thread_id)
        )[:SECTION_LIMIT]
        unanswered = [t for t in week.open_cases if end - UNANSWERED_SINCE <= t.created_at < end][
            : SECTION_LIMIT * 2
        ]
        polls = [p for p in week.polls if end <= p[2] < end + POLLS_AHEAD][:SECTION_LIMIT]
        ids = {t.thread_id for t in (*active, *helpful, *unanswered)} | {p[0] for p in polls}
        facts = self._thread_facts(ids)

        def item(thread_id: int, note: str, **extra: Any) -> Item:
            known = facts[thread_id]
            return Item(thread_id, known.title, known.author, known.snippet, note, **extra)

        return _CommunitySections(
            active=[item(t.thread_id, _plural(t.replies, "reply", "replies")) for t in active],
            helpful=[
                item(t.thread_id, _plural(t.helpful, "helpful vote", "helpful votes"))
                for t in helpful
            ],
            unanswered=[
                (facts[t.thread_id].author_id, item(t.thread_id, f"asked {t.created_at:%a %d %b}"))
                for t in unanswered
            ],
            polls=[item(i, question, closes_at=closes) for i, question, closes in polls],
        )

    def _load_week(self, community_id: int, anchor: datetime) -> _CommunityWeek:
        """Three queries: the threads, open cases and polls any send moment of the week needs."""
        here = sa.and_(Thread.community_id == community_id, listed_threads_filter())
        helpful = (
            sa.select(sa.func.coalesce(sa.func.sum(Post.helpful_count), 0))
            .where(Post.thread_id == Thread.id, live_posts_filter())
            .scalar_subquery()
        )
        columns = (Thread.id, Thread.created_at, Thread.last_activity_at, Thread.reply_count)
        new_threads = db.session.execute(
            sa.select(*columns, helpful).where(
                here, Thread.created_at >= anchor - PERIOD, Thread.created_at < anchor + PERIOD
            )
        ).all()
        open_cases = db.session.execute(
            sa.select(*columns, sa.literal(0))
            .where(
                here,
                Thread.kind == ThreadKind.CASE,
                Thread.status == CaseStatus.OPEN,
                Thread.reply_count == 0,
                Thread.created_at >= anchor - UNANSWERED_SINCE,
                Thread.created_at < anchor + PERIOD,
            )
            .order_by(Thread.created_at.desc(), Thread.id)
        ).all()
        polls = db.session.execute(
            sa.select(Thread.id, Poll.question, Poll.closes_at)
            .join(Poll, Poll.thread_id == Thread.id)
            .where(here, Poll.closes_at >= anchor, Poll.closes_at < anchor + 2 * PERIOD)
            .order_by(Poll.closes_at, Thread.id)
        ).all()
        return _CommunityWeek(
            new_threads=[
                _Candidate(i, made, active, replies, int(votes))
                for i, made, active, replies, votes in new_threads
            ],
            open_cases=[
                _Candidate(i, made, active, replies, 0)
                for i, made, active, replies, _ in open_cases
            ],
            polls=[(i, question, closes) for i, question, closes in polls if closes is not None],
        )

    def _thread_facts(self, thread_ids: Iterable[int]) -> dict[int, _ThreadFacts]:
        """Title, public author label and opening snippet of threads (one query for new ones)."""
        wanted = set(thread_ids)
        facts = {i: self._facts[i] for i in wanted if i in self._facts}
        missing = sorted(wanted - facts.keys())
        if missing:
            rows = db.session.execute(
                sa.select(
                    Thread.id, Thread.title, Thread.author_id, Thread.anonymous,
                    User.display_name, Post.id, Post.alias_specialty, Post.alias_number,
                    Post.html, live_posts_filter(),
                )
                .join(User, User.id == Thread.author_id)
                .outerjoin(Post, sa.and_(Post.thread_id == Thread.id, Post.is_opening.is_(True)))
                .where(Thread.id.in_(missing))
            ).all()  # fmt: skip
            for thread_id, title, author_id, anonymous, name, post_id, *opening in rows:
                specialty, number, cooked, live = opening
                if anonymous:
                    # An anonymous thread is labelled by its opening post's alias, never the name.
                    author = alias_label(specialty, number) if number else "Anonymous physician"
                else:
                    author = name
                snippet = self._snippet(post_id, cooked) if post_id is not None and live else ""
                facts[thread_id] = _ThreadFacts(title, author_id, author, snippet)
                _bounded_set(self._facts, thread_id, facts[thread_id])
        return facts

    def _snippet(self, post_id: int, cooked: str) -> str:
        found = self._snippets.get(post_id)
        if found is None:
            found = _bounded_set(self._snippets, post_id, plain_text(cooked, SNIPPET_CHARS))
        return found

    # --- New replies in followed threads: one query per batch ----------------------------------

    def _followed(self, recipients: Sequence[Recipient]) -> dict[int, list[Item]]:
        """New replies per followed thread, counted by the database for each send moment."""
        by_end: dict[datetime, list[int]] = {}
        for recipient in recipients:
            by_end.setdefault(recipient.period_end, []).append(recipient.user_id)
        counts: dict[int, list[tuple[int, int, int]]] = {}  # user -> (thread, count, latest)
        for end, user_ids in by_end.items():
            for user_id, thread_id, count, latest in self._followed_counts(user_ids, end):
                counts.setdefault(user_id, []).append((thread_id, count, latest))
        latest_ids = {latest for threads in counts.values() for _, _, latest in threads}
        replies = self._reply_facts(latest_ids)
        followed: dict[int, list[Item]] = {}
        for user_id, threads in counts.items():
            newest_first = sorted(threads, key=lambda entry: -entry[2])[:FOLLOWED_LIMIT]
            followed[user_id] = [
                Item(
                    thread_id,
                    *replies[latest],
                    note=_plural(count, "new reply", "new replies"),
                    count=count,
                )
                for thread_id, count, latest in newest_first
            ]
        return followed

    def _followed_counts(
        self, user_ids: list[int], end: datetime
    ) -> list[sa.Row[int, int, int, int]]:
        """(member, thread, new replies, latest reply id): live replies by others in the
        published threads the members follow, in the seven days before `end`."""
        return list(
            db.session.execute(
                sa.select(
                    Follow.user_id, Post.thread_id, sa.func.count(Post.id), sa.func.max(Post.id)
                )
                .join(Post, Post.thread_id == Follow.thread_id)
                .join(Thread, Thread.id == Post.thread_id)
                .where(
                    Follow.user_id.in_(user_ids),
                    listed_threads_filter(),
                    live_posts_filter(),
                    Post.is_opening.is_(False),
                    Post.author_id != Follow.user_id,
                    Post.created_at >= end - PERIOD,
                    Post.created_at < end,
                )
                .group_by(Follow.user_id, Post.thread_id)
            )
        )

    def _reply_facts(self, post_ids: set[int]) -> dict[int, tuple[str, str, str]]:
        """Thread title, public author label and snippet of replies, in one query."""
        if not post_ids:
            return {}
        rows = db.session.execute(
            sa.select(
                Post.id, Thread.title, Post.anonymous, Post.alias_specialty, Post.alias_number,
                User.display_name, Post.html,
            )
            .join(Thread, Thread.id == Post.thread_id)
            .join(User, User.id == Post.author_id)
            .where(Post.id.in_(sorted(post_ids)))
        ).all()  # fmt: skip
        return {
            post_id: (
                title,
                alias_label(specialty, number) if anonymous else name,
                self._snippet(post_id, cooked),
            )
            for post_id, title, anonymous, specialty, number, name, cooked in rows
        }

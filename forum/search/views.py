"""The search page: verified physicians search what they may see, with filters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, render_template, request
from markupsafe import Markup
from sqlalchemy.orm import joinedload
from werkzeug.datastructures import MultiDict

from forum import text
from forum.access import physician
from forum.accounts.models import User
from forum.accounts.services import display_name_key
from forum.cases.models import AgeBand, CaseStatus, Community, Post, Thread, ThreadKind
from forum.extensions import db
from forum.search import querylang, service
from forum.search.core import PER_PAGE, Filters, Hit
from forum.search.documents import is_searchable

bp = Blueprint("search", __name__)

MAX_PAGE = 50  # 1,000 results: past that, a narrower search serves better
FIELD_MAX = 200  # tag, author and date boxes


@dataclass(frozen=True)
class Result:
    """One result as the page shows it."""

    post_id: int
    thread_title: str
    community_name: str
    author_label: str
    created_at: datetime
    is_opening: bool
    snippet: Markup


@dataclass
class SearchPage:
    """What the template needs."""

    asked: bool = False
    results: list[Result] = field(default_factory=list)
    total: int = 0
    exact: bool = True
    page: int = 1
    problems: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def has_next(self) -> bool:
        """Another page of results follows."""
        return self.page * PER_PAGE < self.total and self.page < MAX_PAGE


def _text(args: MultiDict[str, str], name: str, limit: int = FIELD_MAX) -> str:
    value = "".join(ch for ch in args.get(name, "") if ch.isprintable())
    return " ".join(value.split())[:limit]


def _day(args: MultiDict[str, str], name: str, problems: list[str], label: str) -> date | None:
    value = _text(args, name, 10)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(f"{label}: use a date such as 2026-03-01.")
        return None


def _choice(args: MultiDict[str, str], name: str, allowed: type[Any]) -> str:
    value = _text(args, name, 40)
    return value if value in {str(item) for item in allowed} else ""


def _flag(args: MultiDict[str, str], name: str) -> bool | None:
    return True if args.get(name) in ("1", "on", "yes") else None


def _filters(args: MultiDict[str, str], problems: list[str]) -> Filters | None:
    """The filters asked for; None when they cannot match anything (an unknown author)."""
    community_id = None
    slug = _text(args, "community", 60)
    if slug:
        community_id = db.session.scalar(sa.select(Community.id).where(Community.slug == slug))
        if community_id is None:
            problems.append("There is no such community.")
            return None
    author_id = None
    author = _text(args, "author", 40)
    if author:
        author_id = db.session.scalar(
            sa.select(User.id).where(User.display_name_key == display_name_key(author))
        )
        if author_id is None:
            problems.append(f"No member goes by the name “{author}”.")
            return None
    since = _day(args, "since", problems, "From")
    until = _day(args, "until", problems, "To")
    return Filters(
        community_id=community_id,
        tag=_text(args, "tag", 40).lower().lstrip("#"),
        kind=_choice(args, "kind", ThreadKind),
        age_band=_choice(args, "age_band", AgeBand),
        status=_choice(args, "status", CaseStatus),
        has_poll=_flag(args, "has_poll"),
        has_images=_flag(args, "has_images"),
        since=datetime.combine(since, time(), UTC) if since else None,
        until=datetime.combine(until, time(), UTC) + timedelta(days=1) if until else None,
        author_id=author_id,
    )


def _results(hits: list[Hit]) -> list[Result]:
    """The hits' posts as members see them, in the engine's order; anything no longer
    searchable (hidden since it was indexed) is left out, whatever the index says."""
    ids = [hit.post_id for hit in hits]
    posts = {
        post.id: post
        for post in db.session.scalars(
            sa.select(Post)
            .where(Post.id.in_(ids))
            .options(
                joinedload(Post.author),
                joinedload(Post.thread).joinedload(Thread.community),
            )
        )
    }
    shown = []
    for hit in hits:
        post = posts.get(hit.post_id)
        if post is None or not is_searchable(post, post.thread):
            continue
        shown.append(
            Result(
                post_id=post.id,
                thread_title=post.thread.title,
                community_name=post.thread.community.name,
                author_label=post.author_label,
                created_at=post.created_at,
                is_opening=post.is_opening,
                snippet=text.marked(hit.snippet),
            )
        )
    return shown


def run(args: MultiDict[str, str]) -> SearchPage:
    """Search as the page's query string asks."""
    view = SearchPage()
    raw = args.get("q", "")
    if not raw.strip() and not args.get("page"):
        return view
    view.asked = True
    view.page = max(1, min(args.get("page", 1, type=int) or 1, MAX_PAGE))
    parsed = querylang.parse(raw)
    view.notices = list(parsed.notices)
    if parsed.error:
        view.problems.append(parsed.error)
        return view
    filters = _filters(args, view.problems)
    if filters is None or view.problems:
        return view
    newest = args.get("sort") == "newest"
    found = service.backend().search(parsed.query, filters, newest, view.page, PER_PAGE)
    view.total, view.exact = found.total, found.exact
    view.results = _results(found.hits)
    return view


@bp.route("/search")
@physician
def search() -> str:
    """Search cases and discussions."""
    communities = db.session.scalars(sa.select(Community).order_by(Community.name)).all()
    return render_template(
        "search/search.html",
        view=run(request.args),
        args=request.args,
        communities=communities,
        age_bands=list(AgeBand),
        statuses=list(CaseStatus),
    )

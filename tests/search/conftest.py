"""Search tests: the case kit, and helpers to drain the outbox and ask the search page."""

from __future__ import annotations

import html
import re

import pytest

from forum.accounts.models import Role
from forum.extensions import db
from forum.search import service
from forum.search.models import SearchOutbox
from tests.cases.conftest import Kit, kit, quiet_detector, scanner, text  # noqa: F401
from tests.conftest import FormClient
from tests.factories import Member

__all__ = ["Kit", "drain", "result_titles", "search_page", "text"]


@pytest.fixture(autouse=True)
def _clock(early_in_a_totp_step: None) -> None:
    """See tests/conftest.py: early_in_a_totp_step."""


def drain(kit: Kit) -> int:  # noqa: F811
    """Index what the outbox holds (content made through services, outside any request)."""
    with kit.db():
        handled = service.drain()
        assert db.session.scalar(db.select(db.func.count()).select_from(SearchOutbox)) == 0
        return handled


def search_page(client: FormClient, query: str, **filters: str) -> str:
    """The search page's text for a query and filters."""
    response = client.get("/search", query_string={"q": query, **filters})
    assert response.status_code == 200, response.status_code
    return html.unescape(response.get_data(as_text=True))


_RESULT = re.compile(r'class="search-result__title" href="/p/(\d+)">([^<]*)</a>')


def result_titles(page: str) -> list[tuple[int, str]]:
    """(post id, thread title) of each result, in order."""
    return [(int(post_id), title) for post_id, title in _RESULT.findall(page)]


@pytest.fixture
def reader(kit: Kit) -> tuple[Member, FormClient]:  # noqa: F811
    """A verified member signed in, to search with."""
    member = kit.member(display_name="Dr Reader")
    return member, kit.client(member)


@pytest.fixture
def moderator(kit: Kit) -> Member:  # noqa: F811
    """A moderator (who is also a verified physician)."""
    return kit.member(roles=(Role.MODERATOR,), display_name="Dr Moderator")

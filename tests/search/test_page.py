"""The search page: filters, paging, and bad input answered with a message, never an error."""

from __future__ import annotations

import pytest

from tests.conftest import FormClient
from tests.factories import Member
from tests.search.conftest import Kit, drain, result_titles, search_page

BAD_QUERIES = [
    '"unbalanced quote',
    "the of and",
    "x" * 2_000,
    "warfarin \x00\x07\x1b bleeding",
    "OR - * \"\" ''",
    "-warfarin",
    "cardio* OR OR -",
]


@pytest.mark.parametrize("query", BAD_QUERIES)
def test_bad_queries_get_a_message_or_results_never_an_error(
    kit: Kit, reader: tuple[Member, FormClient], query: str
) -> None:
    _, client = reader
    response = client.get("/search", query_string={"q": query})
    assert response.status_code == 200


def test_a_query_that_is_not_valid_utf8_is_answered(
    kit: Kit, reader: tuple[Member, FormClient]
) -> None:
    _, client = reader
    assert client.get("/search?q=%ED%A0%80%FF+warfarin").status_code == 200


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"since": "yesterday"}, "use a date such as"),
        ({"community": "astrology"}, "no such community"),
        ({"author": "Dr Nobody Here"}, "No member goes by"),
    ],
)
def test_bad_filters_are_explained(
    kit: Kit, reader: tuple[Member, FormClient], filters: dict[str, str], message: str
) -> None:
    _, client = reader
    assert message in search_page(client, "warfarin", **filters)


@pytest.mark.parametrize("page", ["abc", "-3", "0", "99999999999999999999"])
def test_odd_page_numbers_are_clamped(
    kit: Kit, reader: tuple[Member, FormClient], page: str
) -> None:
    _, client = reader
    response = client.get("/search", query_string={"q": "warfarin", "page": page})
    assert response.status_code == 200


def test_an_empty_search_shows_the_form_only(kit: Kit, reader: tuple[Member, FormClient]) -> None:
    _, client = reader
    page = search_page(client, "")
    assert "Search for" in page
    assert "result" not in page.lower().split("search for")[1].split("</form>")[1]


def test_filters_paging_newest_first_and_synonyms(
    kit: Kit, reader: tuple[Member, FormClient], quiet_detector: None
) -> None:
    author = kit.member()
    case_id = kit.case(author, title="Inferior MI with bradycardia")
    discussion_id = kit.discussion(author, title="Myocardial infarction in the young")
    for number in range(23):
        kit.reply(author, discussion_id, f"Troponin note {number}.")
    drain(kit)
    _, client = reader
    both = {title for _, title in result_titles(search_page(client, "myocardial infarction"))}
    assert both == {"Inferior MI with bradycardia", "Myocardial infarction in the young"}
    cases_only = result_titles(search_page(client, "MI", kind="case"))
    assert {title for _, title in cases_only} == {"Inferior MI with bradycardia"}
    first = search_page(client, "troponin", sort="newest")
    assert "23 results" in first
    newest = result_titles(first)
    assert len(newest) == 20
    assert [post for post, _ in newest] == sorted((post for post, _ in newest), reverse=True)
    second = result_titles(search_page(client, "troponin", sort="newest", page="2"))
    assert len(second) == 3
    assert not {post for post, _ in newest} & {post for post, _ in second}
    with kit.db():
        assert kit.thread(case_id).is_case

"""Watched words: validated patterns that block, hold or flag through the same gate."""

from __future__ import annotations

import time

import pytest

from forum.cases import services as cases
from forum.cases.models import Post, Visibility
from forum.moderation import policy, services
from forum.moderation.models import WatchedWord
from tests.factories import Member
from tests.moderation.conftest import Kit, open_items, text


def _watch(kit: Kit, moderator: Member, pattern: str, action: str, regex: bool = False) -> None:
    with kit.db():
        services.add_watched_word(kit.user(moderator), pattern, regex, action)


def test_a_block_word_sends_the_text_back_and_stores_nothing(
    kit: Kit, quiet_detector: None, moderator: Member
) -> None:
    thread_id = kit.case(kit.member())
    _watch(kit, moderator, "crock", "block")
    before = kit.count(Post)
    with pytest.raises(cases.Blocked):
        kit.reply(kit.member(), thread_id, "What a CROCK of a guideline.")
    assert kit.count(Post) == before
    response = kit.client(kit.member()).post(
        f"/t/{thread_id}/reply", data={"body": "A crock, frankly."}
    )
    assert response.status_code == 422
    assert "<mark>crock</mark>" in text(response)


def test_a_hold_word_stores_the_post_pending_for_review(
    kit: Kit, quiet_detector: None, moderator: Member
) -> None:
    thread_id = kit.case(kit.member())
    _watch(kit, moderator, "miracle cur*", "hold")
    post_id = kit.reply(kit.member(), thread_id, "A miracle cure, they say.")
    with kit.db():
        assert kit.post(post_id).visibility == Visibility.PENDING
    [item] = open_items(kit)
    assert item.post_id == post_id
    assert item.reason_list == ["watched"]


def test_a_flag_word_publishes_and_queues_the_post(
    kit: Kit, quiet_detector: None, moderator: Member
) -> None:
    thread_id = kit.case(kit.member())
    _watch(kit, moderator, r"\bbuy\s+now\b", "flag", regex=True)
    post_id = kit.reply(kit.member(), thread_id, "Buy   now at our clinic.")
    with kit.db():
        assert kit.post(post_id).visibility == Visibility.PUBLISHED
    [item] = open_items(kit)
    assert item.post_id == post_id
    assert item.reason_list == ["watched"]


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("(a+)+$", "repeat inside a repeat"),
        ("(a|aa)*b", "Alternatives inside a repeat"),
        (r"(\w)\1", "Back-references"),
        ("a.*b.*c", "one open-ended repeat"),
        ("x{1,500}", "up to 50"),
        ("[unclosed", "not a valid regular expression"),
        ("a*", "matches empty text"),
        ("a" * 101, "100 characters"),
    ],
)
def test_dangerous_or_broken_patterns_are_refused(pattern: str, problem: str) -> None:
    with pytest.raises(policy.PatternError, match=problem):
        policy.compile_pattern(pattern, is_regex=True)


def test_an_accepted_pattern_stays_fast_on_hostile_text() -> None:
    matcher = policy.compile_pattern(r"\bfoo\w*bar", is_regex=True)
    started = time.perf_counter()
    matcher.search("foo" + "o" * 20_000)
    assert time.perf_counter() - started < 0.5


def test_moderators_add_and_try_patterns_on_the_page(kit: Kit, moderator: Member) -> None:
    client = kit.client(moderator)
    tried = client.post(
        "/moderation/watched-words/try",
        data={"pattern": "tox*", "sample": "Toxic? Intoxicated. toxin."},
    )
    assert tried.status_code == 200
    page = text(tried)
    assert "<mark>Toxic</mark>" in page
    assert "<mark>toxin</mark>" in page
    assert "Intoxicated" in page
    assert kit.count(WatchedWord) == 0
    refused = client.post(
        "/moderation/watched-words", data={"pattern": "(a+)+", "is_regex": "y", "action": "hold"}
    )
    assert refused.status_code == 422
    assert kit.count(WatchedWord) == 0
    added = client.post("/moderation/watched-words", data={"pattern": "tox*", "action": "flag"})
    assert added.status_code == 302
    assert kit.count(WatchedWord) == 1

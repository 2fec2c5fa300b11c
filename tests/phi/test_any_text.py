"""The detector takes any text a member can type: it never raises, and its spans are sane."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forum.phi import scan

# Digits that are digits to str.isdigit() but not to int(): superscripts, circled numbers.
TRICKY = [
    "born 191²",
    "aged 9²",
    "ages 1²³ and 4",
    "age 9¹ 10",
    "MRN ①②③④⑤⑥",
    "seen on 3/1⁴/2024",
    "aged ٩٢ years",  # Arabic-Indic digits are decimal digits
    "\x00\x1f call 415\u200b555\u200b0132",
    "\U0001d7d7\U0001d7d0 years old",  # mathematical bold digits 9 and 2
]


@pytest.mark.parametrize("text", TRICKY)
def test_unusual_digits_do_not_break_the_scan(text: str) -> None:
    for finding in scan(text):
        assert 0 <= finding.start < finding.end <= len(text)


def test_arabic_indic_digits_still_count_as_an_age() -> None:
    assert [f.kind.value for f in scan("aged ٩٢ years")] == ["AGE_OVER_89"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_any_text_scans_without_error(text: str) -> None:
    for finding in scan(text):
        assert 0 <= finding.start < finding.end <= len(text)

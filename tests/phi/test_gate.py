"""The gate: verdicts from findings, and the site allow-list."""

from __future__ import annotations

from forum.phi import Verdict, gate


def test_clean_fields_pass_the_gate() -> None:
    result = gate({"title": "SGLT2i in HFpEF?", "body": "BP 140/90, eGFR 45. Start?"})
    assert result.verdict is Verdict.CLEAN
    assert result.findings == {}


def test_a_clear_identifier_blocks_and_is_reported_per_field() -> None:
    result = gate({"title": "Question", "body": "Call me at 415-555-0132."})
    assert result.verdict is Verdict.BLOCK
    assert result.blocked
    assert list(result.findings) == ["body"]


def test_a_doubtful_name_alone_holds_for_review() -> None:
    result = gate({"body": "Saw Shravyo today about the biopsy results."})
    assert result.verdict is Verdict.REVIEW
    assert result.held


def test_allow_listed_terms_are_dropped() -> None:
    result = gate({"body": "Saw Shravyo today about the results."}, allowed_terms={"shravyo"})
    assert result.verdict is Verdict.CLEAN

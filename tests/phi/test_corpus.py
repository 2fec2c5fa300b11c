"""Figures on labelled sets: the shared dev set and the marked posts beside these tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from forum.phi.evaluate import Post, Report, evaluate, format_report, load
from tests.phi.helpers import marked_lines, parse_marked

DEV_SET = Path(__file__).resolve().parents[2].parent / "shared" / "phi" / "dev.jsonl"


def _marked(phi_file: str, clean_file: str) -> list[Post]:
    posts = []
    for index, line in enumerate(marked_lines(phi_file) + marked_lines(clean_file)):
        text, spans = parse_marked(line)
        posts.append(Post(f"line-{index}", text, tuple(spans)))
    return posts


def _assert_targets(report: Report) -> None:
    summary = format_report(report) + f"\nmissed: {report.missed}\nalarms: {report.false_alarms}"
    assert report.post_recall >= 0.99, summary
    assert report.clean_pass_rate >= 0.95, summary
    for kind, tally in report.kinds.items():
        assert tally.recall >= 0.97, f"{kind}\n{summary}"


@pytest.mark.skipif(not DEV_SET.exists(), reason="shared/phi/dev.jsonl is not beside the repo")
def test_the_dev_set_meets_the_targets() -> None:
    report = evaluate(load(DEV_SET), min_seconds=0.05)
    _assert_targets(report)


def test_the_tuning_posts_meet_the_targets() -> None:
    report = evaluate(_marked("extra_phi.txt", "extra_clean.txt"), min_seconds=0.05)
    _assert_targets(report)


def test_the_posts_written_after_tuning_meet_the_targets() -> None:
    report = evaluate(_marked("fresh_phi.txt", "fresh_clean.txt"), min_seconds=0.05)
    _assert_targets(report)


def test_a_detector_that_finds_nothing_scores_zero_recall_and_full_pass_rate() -> None:
    posts = _marked("fresh_phi.txt", "fresh_clean.txt")
    report = evaluate(posts, lambda text: [], min_seconds=0.0)
    assert report.post_recall == 0.0
    assert report.clean_pass_rate == 1.0
    assert all(tally.recall == 0.0 for tally in report.kinds.values())


def test_span_recall_counts_any_overlapping_finding_and_reports_the_same_kind_rate() -> None:
    post = Post("p", "Call Tom at 555-201-3344.", ((5, 8, "NAME"), (12, 24, "PHONE")))
    report = evaluate([post], lambda text: [(5, 8, "CITY"), (12, 24, "PHONE")], min_seconds=0.0)
    assert report.kinds["NAME"].recall == 1.0
    assert report.kinds["NAME"].same_kind_recall == 0.0
    assert report.kinds["PHONE"].same_kind_recall == 1.0

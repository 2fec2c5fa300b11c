"""Figures for a labelled set: span recall per kind, post recall, clean pass rate, speed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forum.phi.findings import Finding
from forum.phi.scanner import scan

# A detector returns (start, end, kind) triples; ours adapts scan() to that shape.
Span = tuple[int, int, str]
Detector = Callable[[str], Sequence[Span]]


@dataclass(frozen=True)
class Post:
    """One labelled post: its text and its identifier spans."""

    id: str
    text: str
    spans: tuple[Span, ...]

    @property
    def has_phi(self) -> bool:
        return bool(self.spans)


@dataclass
class KindRecall:
    """How many labelled spans of one kind were found by any finding, and by one of that kind."""

    total: int = 0
    found: int = 0
    same_kind: int = 0

    @property
    def recall(self) -> float:
        return self.found / self.total if self.total else 1.0

    @property
    def same_kind_recall(self) -> float:
        return self.same_kind / self.total if self.total else 1.0


@dataclass
class Report:
    """The figures the issue asks for."""

    posts: int = 0
    phi_posts: int = 0
    stopped: int = 0  # PHI posts with at least one finding (block or review)
    clean_posts: int = 0
    clean_passed: int = 0  # clean posts with no finding at all
    kinds: dict[str, KindRecall] = field(default_factory=dict)
    megabytes: float = 0.0
    seconds: float = 0.0  # wall-clock time for one pass
    cpu_seconds: float = 0.0  # this process's CPU time for one pass (steady on a busy machine)
    missed: list[tuple[str, str, str]] = field(default_factory=list)  # (post id, kind, text)
    false_alarms: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def post_recall(self) -> float:
        return self.stopped / self.phi_posts if self.phi_posts else 1.0

    @property
    def clean_pass_rate(self) -> float:
        return self.clean_passed / self.clean_posts if self.clean_posts else 1.0

    @property
    def mb_per_second(self) -> float:
        return self.megabytes / self.seconds if self.seconds else float("inf")

    @property
    def cpu_mb_per_second(self) -> float:
        return self.megabytes / self.cpu_seconds if self.cpu_seconds else float("inf")

    @property
    def ms_per_post(self) -> float:
        return 1000 * self.seconds / self.posts if self.posts else 0.0

    @property
    def min_span_recall(self) -> float:
        return min((k.recall for k in self.kinds.values()), default=1.0)


def load(path: str | Path) -> list[Post]:
    """Posts from a JSON-lines file in the format of shared/phi/dev.jsonl."""
    posts = []
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                posts.append(parse(json.loads(line)))
    return posts


def parse(row: dict[str, Any]) -> Post:
    """One row of the labelled format."""
    spans = tuple((int(s["start"]), int(s["end"]), str(s["kind"])) for s in row.get("phi", []))
    return Post(str(row.get("id", "")), str(row["text"]), spans)


def ours(text: str) -> list[Span]:
    """Our detector in the evaluation's shape."""
    return [_span(f) for f in scan(text)]


def _span(item: Finding) -> Span:
    return (item.start, item.end, str(item.kind))


def evaluate(posts: Iterable[Post], detector: Detector = ours, min_seconds: float = 0.3) -> Report:
    """Score a detector on labelled posts; time it over enough passes to be stable."""
    posts = list(posts)
    report = Report()
    for post in posts:
        found = detector(post.text)
        report.posts += 1
        if post.has_phi:
            report.phi_posts += 1
            if found:
                report.stopped += 1
        else:
            report.clean_posts += 1
            if not found:
                report.clean_passed += 1
            report.false_alarms.extend((post.id, k, post.text[s:e]) for s, e, k in found)
        for start, end, kind in post.spans:
            tally = report.kinds.setdefault(kind, KindRecall())
            tally.total += 1
            hits = [f for f in found if f[0] < end and start < f[1]]
            if hits:
                tally.found += 1
                if any(f[2] == kind for f in hits):
                    tally.same_kind += 1
            else:
                report.missed.append((post.id, kind, post.text[start:end]))
    report.megabytes = sum(len(p.text.encode("utf-8")) for p in posts) / 1e6
    report.seconds, report.cpu_seconds = _time(posts, detector, min_seconds)
    return report


def _time(posts: list[Post], detector: Detector, min_seconds: float) -> tuple[float, float]:
    """Wall and CPU seconds for one pass over the posts, averaged over as many passes as
    min_seconds takes."""
    if not posts:
        return 0.0, 0.0
    passes = 0
    began, began_cpu = time.perf_counter(), time.process_time()
    while True:
        for post in posts:
            detector(post.text)
        passes += 1
        elapsed = time.perf_counter() - began
        if elapsed >= min_seconds:
            return elapsed / passes, (time.process_time() - began_cpu) / passes


def format_report(report: Report, name: str = "curbside") -> str:
    """The figures as a small plain-text table."""
    lines = [
        f"detector: {name}",
        f"posts: {report.posts} ({report.phi_posts} with PHI, {report.clean_posts} clean)",
        f"post recall (block or review): {report.post_recall:.3f}"
        f"  ({report.stopped}/{report.phi_posts})",
        f"clean pass rate (no finding):  {report.clean_pass_rate:.3f}"
        f"  ({report.clean_passed}/{report.clean_posts})",
        "span recall by kind (any finding overlaps / finding of the same kind):",
    ]
    for kind in sorted(report.kinds):
        tally = report.kinds[kind]
        lines.append(
            f"  {kind:<12} {tally.recall:.3f}  same kind {tally.same_kind_recall:.3f}"
            f"  (n={tally.total})"
        )
    lines.append(f"lowest span recall: {report.min_span_recall:.3f}")
    lines.append(
        f"speed: {report.mb_per_second:.2f} MB/s, {report.ms_per_post:.3f} ms per post"
        f" (wall clock); {report.cpu_mb_per_second:.2f} MB/s by CPU time"
    )
    return "\n".join(lines)

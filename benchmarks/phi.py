"""PHI detector figures, ours beside scrubadub's, on a labelled set (default: the dev set).

Usage: .venv/bin/python benchmarks/phi.py [SET.jsonl ...]

scrubadub (pip install -e '.[bench]') runs with its default detectors plus date_of_birth.
Its name detector needs TextBlob corpora downloaded at run time, which this offline machine
cannot fetch, so scrubadub runs without name detection; that is said in the output.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

from forum.phi.evaluate import Detector, Report, Span, evaluate, format_report, load, ours
from forum.phi.knowledge import lexicon

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SET = ROOT.parent / "shared" / "phi" / "dev.jsonl"

# scrubadub's filth types, mapped to the nearest Safe Harbor kind for the same-kind column.
SCRUBADUB_KINDS = {
    "email": "EMAIL",
    "phone": "PHONE",
    "url": "URL",
    "twitter": "URL",
    "social_security_number": "SSN",
    "credit_card": "ACCOUNT",
    "credential": "OTHER_ID",
    "date_of_birth": "DATE",
    "name": "NAME",
}


def scrubadub_detector() -> Detector | None:
    """scrubadub wrapped in the evaluation's shape, or None when it is not installed."""
    try:
        import scrubadub
    except ImportError:
        return None
    scrubber = scrubadub.Scrubber()
    scrubber.add_detector("date_of_birth")

    def detect(text: str) -> Sequence[Span]:
        return [
            (f.beg, f.end, SCRUBADUB_KINDS.get(f.type, "OTHER_ID"))
            for f in scrubber.iter_filth(text)
        ]

    return detect


def load_figures() -> str:
    """How long the word lists take to load, and the memory they hold."""
    tracemalloc.start()
    began = time.perf_counter()
    lexicon.cache_clear()
    lexicon()
    seconds = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return f"load: {seconds:.3f} s, {peak / 1e6:.1f} MB peak for the word lists (tracemalloc)"


def side_by_side(left: Report, right: Report) -> str:
    """The headline figures in two columns."""
    rows = [
        ("post recall", f"{left.post_recall:.3f}", f"{right.post_recall:.3f}"),
        ("clean pass rate", f"{left.clean_pass_rate:.3f}", f"{right.clean_pass_rate:.3f}"),
        ("lowest span recall", f"{left.min_span_recall:.3f}", f"{right.min_span_recall:.3f}"),
        ("MB/s", f"{left.mb_per_second:.2f}", f"{right.mb_per_second:.2f}"),
        ("ms per post", f"{left.ms_per_post:.3f}", f"{right.ms_per_post:.3f}"),
    ]
    for kind in sorted(set(left.kinds) | set(right.kinds)):
        a, b = left.kinds.get(kind), right.kinds.get(kind)
        rows.append(
            (
                f"span recall {kind}",
                f"{a.recall:.3f}" if a else "-",
                f"{b.recall:.3f}" if b else "-",
            )
        )
    width = max(len(r[0]) for r in rows)
    lines = [f"{'':<{width}}  {'curbside':>10}  {'scrubadub':>10}"]
    lines += [f"{name:<{width}}  {a:>10}  {b:>10}" for name, a, b in rows]
    return "\n".join(lines)


def main(paths: list[str]) -> None:
    print(load_figures())
    other = scrubadub_detector()
    for path in paths or [str(DEFAULT_SET)]:
        posts = load(path)
        print(f"\n== {path} ==")
        mine = evaluate(posts, ours, min_seconds=1.0)
        print(format_report(mine))
        if other is None:
            print("\nscrubadub is not installed (pip install -e '.[bench]'); skipped.")
            continue
        theirs = evaluate(posts, other, min_seconds=1.0)
        print()
        print(format_report(theirs, "scrubadub 2 (default detectors + date_of_birth; no names)"))
        print()
        print(side_by_side(mine, theirs))


if __name__ == "__main__":
    main(sys.argv[1:])

"""Load time, memory and speed: reported, not asserted (they depend on the machine)."""

from __future__ import annotations

import time
import tracemalloc

from forum.phi import scan
from forum.phi.knowledge import lexicon

TYPICAL_POST = (
    "Admitted a 74-year-old last night with aspiration pneumonia, WBC 15.2, lactate 2.1, "
    "on pip-tazo day 2. Family wants everything done. BP 100/60. How do you run that meeting?"
)


def test_word_lists_load_once_and_report_their_cost(capsys: object) -> None:
    lexicon.cache_clear()
    tracemalloc.start()
    began = time.perf_counter()
    lex = lexicon()
    seconds = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert lexicon() is lex  # loaded once per process
    assert "smith" in lex.surnames
    assert "maria" in lex.given
    assert "hashimoto" in lex.medical
    print(f"\nPHI word lists: {seconds:.3f} s, {peak / 1e6:.1f} MB peak")


def test_a_typical_post_is_scanned_quickly() -> None:
    scan(TYPICAL_POST)  # warm
    runs = 200
    began = time.perf_counter()
    for _ in range(runs):
        scan(TYPICAL_POST)
    per_post = (time.perf_counter() - began) / runs
    print(f"\nPHI scan: {per_post * 1000:.3f} ms per typical post")
    assert scan(TYPICAL_POST) == []

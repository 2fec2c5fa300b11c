"""Rebuilding a Whoosh index on every core.

Whoosh indexes in pure Python: one process writes a few hundred posts a second, and merging
segments as they grow copies each post several times more, so a million posts took hours. A
rebuild instead hands runs of BUILD_CHUNK consecutive posts to worker processes. Each writes
its run as one segment of a private index in a staging folder, with no lock (nothing else reads
or cleans that folder), and the parent adopts the finished segments into the real index in the
order the posts came, so document numbers still follow that order (search reads the newest
first). Segments this size need no merging: a million posts make twenty.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import chain, islice
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from whoosh import index

from forum.search.core import Document, batched

Fields = Callable[[Document], dict[str, Any]]  # a document's field values for the schema

BUILD_CHUNK = 50_000  # posts per segment a worker writes
# Memory a worker may use to sort its segment's postings before spilling them to disk (which
# would cost a third more time): 50,000 posts of 120 words fit, in about 3 GB.
SORT_MEMORY_MB = 4096


@dataclass(frozen=True)
class BuiltSegment:
    """A segment written in `staging`, ready to be moved into the index."""

    staging: Path
    segment: Any  # whoosh.codec.whoosh3.W3Segment: picklable, names its files
    documents: int

    def files(self) -> list[Path]:
        return sorted(self.staging.glob(f"{self.segment.segment_id()}.*"))


def build_segment(
    staging: Path, documents: Sequence[Document], schema: Any, fields: Fields
) -> BuiltSegment:
    """Write these documents, in order, as the one segment of a new index in `staging`.

    Runs in a worker process (spawned: it shares nothing with the parent but these arguments).
    """
    staging.mkdir(parents=True)
    built = index.create_in(str(staging), schema)
    writer = built.writer(limitmb=SORT_MEMORY_MB)
    try:
        for document in documents:
            writer.add_document(**fields(document))
    except BaseException:
        writer.cancel()
        raise
    writer.commit(merge=False)
    with built.reader() as reader:
        return BuiltSegment(staging, reader.segment(), len(documents))


def built_segments(
    batches: Iterable[Sequence[Document]],
    staging_root: Path,
    processes: int,
    schema: Any,
    fields: Fields,
) -> Iterator[BuiltSegment]:
    """Segments of BUILD_CHUNK documents each, in the order the documents came.

    With one run or one process, the runs are written here; otherwise by `processes` workers,
    with at most one run waiting beyond those being written (each is held in memory)."""
    runs = batched(chain.from_iterable(batches), BUILD_CHUNK)
    head = list(islice(runs, 2))  # a single run is not worth starting workers for
    ordered = enumerate(chain(head, runs))
    if len(head) < 2 or processes < 2:
        for number, run in ordered:
            yield build_segment(staging_root / str(number), run, schema, fields)
        return
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        writing: deque[Future[BuiltSegment]] = deque()
        try:
            for number, run in ordered:
                staging = staging_root / str(number)
                writing.append(pool.submit(build_segment, staging, run, schema, fields))
                if len(writing) > processes:
                    yield writing.popleft().result()
            while writing:
                yield writing.popleft().result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise

"""The Whoosh engine: an index of posts in a directory, safe to write from several processes.

Writers (the outbox in every gunicorn worker, `flask search rebuild`) serialise on an flock
beside the index, so none loses an update or trips over Whoosh's own write lock. Readers need
no lock: each commit writes a new generation, and a searcher refreshes to the latest one.
"""

from __future__ import annotations

import fcntl
import html
import os
import shutil
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from pathlib import Path
from typing import Any, TypeGuard

from whoosh import fields, index, writing
from whoosh import query as wq
from whoosh.analysis import Token, Tokenizer
from whoosh.reading import SegmentReader
from whoosh.searching import Searcher

from forum.search import whoosh_postings, whoosh_rebuild
from forum.search.core import (
    PER_PAGE,
    WORD,
    Clause,
    Document,
    Filters,
    Hit,
    ParsedQuery,
    Phrase,
    RebuildRunning,
    ResultPage,
    Term,
    words,
)

TITLE_BOOST = 2.0
TEXT_FIELDS = ("title", "body")
# Posts per commit in add(): a large write (every post of a moved thread, say) lets other
# writers in between batches instead of holding the lock for minutes.
BATCH = 2000
MERGE_FANOUT = 8  # segments of one size class merged at once (see _merge_tail)
LIVE_MERGE_LIMIT = 8000  # documents a write smaller than BATCH may merge (about a second's work)
LOCK_TIMEOUT = 120.0  # seconds a writer waits for the lock (a batch's merge can take a while)
# Search scores at most the newest CANDIDATES matches (more only for deep pages), as the
# PostgreSQL engine does; the index is visited from its end in windows of at least MIN_WINDOW
# documents, each four times the last, until that many are found.
CANDIDATES = 200
MIN_WINDOW = 2048
SPARSE_SHARE = 8  # windows give way to sets once the next would cover 1/8 of the index
SET_BUDGET = 400_000  # postings matching by sets may read (about 80 ms at the most)
PREFIX_TERMS = 256  # a prefix of more words than this is matched by windows
FILTER_CACHE = 16  # filter results kept per thread (a broad one is a set of many doc numbers)
SNIPPET_CHARS = 240  # the length of a snippet, give or take a word
LONG_WORD = 30  # a snippet's ends move at most this far to a space
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class LockTimeout(TimeoutError):
    """Another writer held the index for longer than the writer was prepared to wait."""


class WordsTokenizer(Tokenizer):
    """Tokens exactly as core.words() finds them (lower-case the whole text, then runs of letters
    and digits), with character offsets into the original text for highlighting.

    Lower-casing whole text rather than each token keeps words() semantics (e.g. a final sigma);
    the rare characters that lengthen when lower-cased (such as "İ") get their offsets mapped back.
    """

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs: Any,
    ) -> Iterator[Token]:
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            spans: Iterable[tuple[str, int, int]] = [(value.lower(), 0, len(value))]
        else:
            spans = _word_spans(value)
        for pos, (text, start, end) in enumerate(spans):
            token.text = text
            token.boost = 1.0
            token.stopped = False
            if keeporiginal:
                token.original = text
            if positions:
                token.pos = start_pos + pos
            if chars:
                token.startchar = start_char + start
                token.endchar = start_char + end
            yield token


def _word_spans(value: str) -> Iterator[tuple[str, int, int]]:
    """(word, start, end) for each word of `value`, offsets into `value` itself."""
    lowered = value.lower()
    if len(lowered) == len(value):  # lower() never shrinks a character: offsets are shared
        for match in WORD.finditer(lowered):
            yield match.group(), match.start(), match.end()
        return
    origin = [index for index, char in enumerate(value) for _ in char.lower()]
    for match in WORD.finditer(lowered):
        yield match.group(), origin[match.start()], origin[match.end() - 1] + 1


ANALYZER = WordsTokenizer()


def _schema(positions: bool) -> fields.Schema:
    """The index's fields; `positions` keeps word positions in title and body (older indexes
    answer phrases by them: current ones find phrases through word pairs, checked against the
    post's own words, and leave positions out, which makes every posting list cheaper to read
    and to write)."""
    return fields.Schema(
        post_id=fields.ID(stored=True, unique=True, sortable=True),
        thread_id=fields.STORED(),
        community_id=fields.ID(),
        tags=fields.KEYWORD(lowercase=True, commas=True),
        kind=fields.ID(),
        age_band=fields.ID(),
        status=fields.ID(),
        has_poll=fields.ID(),
        has_images=fields.ID(),
        is_opening=fields.ID(),
        created_at=fields.NUMERIC(numtype=int, bits=64, signed=True, sortable=True),
        author_id=fields.ID(),  # absent for anonymous posts, so no author filter can match them
        title=fields.TEXT(
            analyzer=ANALYZER, stored=True, field_boost=TITLE_BOOST, phrase=positions
        ),
        body=fields.TEXT(analyzer=ANALYZER, stored=True, phrase=positions),
        # Each pair of neighbouring words (in title or body) as one of PAIR_BUCKETS hashed terms:
        # a phrase of everyday words then reads a short list of posts that may hold it, each
        # checked against its own words, instead of word positions in every post with both words.
        pairs=fields.KEYWORD(scorable=True),
    )


SCHEMA = _schema(positions=False)
LEGACY_SCHEMA = _schema(positions=True)  # an index without FORMAT_MARKER was written with it
PAIR_BUCKETS = 1 << 16  # changing it (or pair_bucket) means `flask search reindex`
# Marker files in the index folder. FORMAT_MARKER: the current format (word pairs, no word
# positions). PAIRS_MARKER alone: an older index with word pairs and positions. Neither: an
# index from before word pairs, which answers phrases by positions until reindexed.
FORMAT_MARKER = "FORMAT_3"
PAIRS_MARKER = "WORD_PAIRS"
JOURNAL = "REBUILDING"  # while a rebuild runs: the posts other writers touched meanwhile


class WhooshBackend:
    """Backend over a Whoosh index in `path`; the write lock is the file `<path>.lock`."""

    name = "whoosh"

    def __init__(
        self, path: Path, lock_timeout: float = LOCK_TIMEOUT, processes: int | None = None
    ) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self.processes = processes or os.cpu_count() or 1  # a rebuild's worker processes
        self._lock_path = path.with_name(path.name + ".lock")
        self._journal_path = path / JOURNAL
        self._rebuild_lock_path = path.with_name(path.name + ".rebuild.lock")
        self._local = threading.local()  # a searcher per thread: whoosh's are not shareable
        self._index = self._open_or_create()
        self._current = (path / FORMAT_MARKER).exists()
        # Only an index built since word pairs were indexed has them for every post; an older
        # one answers phrases by word positions until `flask search reindex` rebuilds it.
        self._pairs = self._current or (path / PAIRS_MARKER).exists()

    # --- writing ---------------------------------------------------------------------------

    def add(self, documents: Sequence[Document]) -> None:
        """Index these documents, replacing earlier versions of the same posts."""
        latest = list({document.post_id: document for document in documents}.values())
        for start in range(0, len(latest), BATCH):
            batch = latest[start : start + BATCH]
            with self._locked() as deadline:
                writer = self._writer(deadline)
                try:
                    # One searcher for the batch's deletions: update_document() would open a
                    # reader over every segment for each post.
                    _delete(writer, [document.post_id for document in batch])
                    kept = _merge_tail(writer, len(batch))
                    for document in batch:
                        writer.add_document(**index_fields(document))
                    self._journal(document.post_id for document in batch)
                except BaseException:
                    writer.cancel()
                    raise
                writer.commit(mergetype=lambda _writer, _segments, kept=kept: kept)

    def remove(self, post_ids: Sequence[int]) -> None:
        """Drop these posts from the index (unknown ids are ignored)."""
        if not post_ids:
            return
        with self._locked() as deadline:
            writer = self._writer(deadline)
            try:
                _delete(writer, post_ids)
                self._journal(post_ids)
            except BaseException:
                writer.cancel()
                raise
            writer.commit(merge=False)  # merging would reorder documents (see _merge_tail)

    def clear(self) -> None:
        """Empty the index."""
        with self._locked() as deadline:
            self._empty(deadline)

    def rebuild(
        self, batches: Iterable[Sequence[Document]], progress: Callable[[int], None]
    ) -> set[int]:
        """Empty the index and fill it with these documents, in order, on every core (see
        whoosh_rebuild); returns the posts that other writers added or removed meanwhile. The
        rebuild's copies of those may be older than theirs: index them again afterwards."""
        staging_root = self.path.with_name(self.path.name + ".build")
        with self._sole_rebuild():
            shutil.rmtree(staging_root, ignore_errors=True)  # left by a rebuild that was killed
            with self._locked() as deadline:
                self._empty(deadline)
                self._journal_path.write_text("")
            try:
                built_segments = whoosh_rebuild.built_segments(
                    batches, staging_root, self.processes, SCHEMA, index_fields
                )
                for built in built_segments:
                    self._adopt(built)
                    progress(built.documents)
            finally:
                shutil.rmtree(staging_root, ignore_errors=True)
                with self._locked():
                    touched = self._journal_path.read_text().split()
                    self._journal_path.unlink()
        return {int(post_id) for post_id in touched}

    @contextmanager
    def _sole_rebuild(self) -> Iterator[None]:
        """Refuse a second rebuild while one runs: each would empty the other's work."""
        with self._rebuild_lock_path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RebuildRunning("another `flask search reindex` is running") from None
            yield

    def _rebuilding(self) -> bool:
        """Whether a rebuild holds its lock now (in any process)."""
        with self._rebuild_lock_path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            return False  # closing the file lets the lock go

    def _empty(self, deadline: float) -> None:
        """A new generation with no segments (generations only grow, so every cached searcher
        notices the change)."""
        self._index = index.open_dir(str(self.path), schema=SCHEMA)  # an older format ends
        self._writer(deadline).commit(mergetype=writing.CLEAR)
        (self.path / FORMAT_MARKER).touch()
        self._current = self._pairs = True

    def _adopt(self, built: whoosh_rebuild.BuiltSegment) -> None:
        """Move a segment written elsewhere into the index, after its last document."""
        with self._locked() as deadline:
            writer = self._writer(deadline)
            try:
                for file in built.files():
                    os.replace(file, self.path / file.name)  # same file system: a rename
            except BaseException:
                writer.cancel()
                raise
            writer.commit(mergetype=lambda _writer, segments: [*segments, built.segment])

    def _journal(self, post_ids: Iterable[int]) -> None:
        """While a rebuild runs (in any process), note the posts written outside it. Called
        with the writers' lock held."""
        if not self._journal_path.exists():
            return
        if not self._rebuilding():  # left by a rebuild that was killed: nobody will read it
            self._journal_path.unlink(missing_ok=True)
            return
        with self._journal_path.open("a") as journal:
            journal.write("".join(f"{post_id}\n" for post_id in post_ids))

    def _open_or_create(self) -> Any:
        if index.exists_in(str(self.path)):
            return self._open()
        with self._locked():  # two processes starting at once must not both create it
            self.path.mkdir(parents=True, exist_ok=True)
            if index.exists_in(str(self.path)):
                return self._open()
            created = index.create_in(str(self.path), SCHEMA)
            (self.path / FORMAT_MARKER).touch()
            return created

    def _open(self) -> Any:
        current = (self.path / FORMAT_MARKER).exists()
        return index.open_dir(str(self.path), schema=SCHEMA if current else LEGACY_SCHEMA)

    def _follow_reindex(self) -> None:
        """Another process may have rebuilt an older index in the current format (the marker
        appears once it is empty): from then on, read and write it as such."""
        if not self._current and (self.path / FORMAT_MARKER).exists():
            self._index = index.open_dir(str(self.path), schema=SCHEMA)
            self._current = self._pairs = True
            self._local = threading.local()

    @contextmanager
    def _locked(self) -> Iterator[float]:
        """Hold the writers' lock; yields the monotonic deadline for the whole write."""
        deadline = time.monotonic() + self.lock_timeout
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock_path.open("a") as handle:
            pause = 0.005
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LockTimeout(f"search index busy: {self._lock_path}") from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.1)
            try:
                yield deadline
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _writer(self, deadline: float) -> Any:
        """A writer; Whoosh's own lock is free unless something outside this class writes, so
        wait for it (Whoosh retries internally) only as long as the deadline allows."""
        self._follow_reindex()
        remaining = max(deadline - time.monotonic(), 0.0)
        try:
            return self._index.writer(timeout=remaining, delay=0.05)
        except index.LockError as error:
            raise LockTimeout(f"search index busy: {self.path}") from error

    # --- reading ---------------------------------------------------------------------------

    def search(
        self,
        query: ParsedQuery,
        filters: Filters,
        newest: bool,
        page: int,
        per_page: int = PER_PAGE,
    ) -> ResultPage:
        """A page of posts matching the query and filters, by relevance or newest first."""
        if query.empty or page < 1 or per_page < 1:
            return ResultPage()
        searcher = self._searcher()
        allowed = self._allowed(searcher, filters)
        if allowed is not None and not allowed:
            # Also because Whoosh reads an empty filter set as "no filter".
            return ResultPage()
        # Excluded posts as a set rather than an AndNot query: Whoosh 2.7.4's AndNotMatcher
        # lets through a first match that an earlier-numbered excluded post precedes.
        barred, maybe_barred = self._excluded(searcher, query)
        limit = page * per_page
        pairs = self._pairs and _has_phrase(query)
        found = _newest_matches(
            searcher,
            _Wanted(_all(query.groups, pairs), query, self._pairs),
            max(CANDIDATES + 1, limit),
            _Admission(allowed, barred, maybe_barred, _reads_as(searcher, query), pairs),
        )
        chosen = found.ranked(searcher, newest)[limit - per_page : limit]
        marked = _Marked.of(query)
        hits = []
        for docnum, score in chosen:
            stored = searcher.stored_fields(docnum)
            hits.append(
                Hit(
                    post_id=int(stored["post_id"]),
                    thread_id=stored["thread_id"],
                    snippet=snippet(stored.get("body", ""), marked),
                    score=0.0 if newest else score,
                )
            )
        return ResultPage(hits=hits, total=found.total, exact=found.complete)

    def post_ids(self) -> set[int]:
        """Every indexed post id (for `flask search check`)."""
        reader = self._searcher().reader()
        if reader.doc_count() == 0:
            return set()
        column = reader.column_reader("post_id")
        return {int(column[docnum]) for docnum in reader.all_doc_ids()}

    def _searcher(self) -> Searcher:
        """This thread's searcher, refreshed to the latest commit (cheap when nothing changed:
        unchanged segments are reused)."""
        self._follow_reindex()
        local = self._local
        if getattr(local, "pid", None) != os.getpid():  # never share file handles across a fork
            searcher = self._index.searcher()
            local.pid = os.getpid()
        else:
            searcher = local.searcher.refresh()
        if searcher is not getattr(local, "searcher", None):
            local.searcher = searcher
            local.allowed = OrderedDict()
        return searcher

    def _excluded(
        self, searcher: Searcher, query: ParsedQuery
    ) -> tuple[set[int] | None, set[int] | None]:
        """Posts an excluded word (or phrase, by positions) bars, and posts holding an excluded
        phrase's word-pair buckets, which it bars only if their words hold it."""
        if not query.excluded:
            return None, None
        by_pairs = [c for c in query.excluded if self._pairs and _is_phrase(c)]
        rest = [c for c in query.excluded if c not in by_pairs]
        barred = set(searcher.docs_for_query(_any(rest))) if rest else None
        maybe = set(searcher.docs_for_query(_any(by_pairs, pairs=True))) if by_pairs else None
        return barred, maybe

    def _allowed(self, searcher: Searcher, filters: Filters) -> set[int] | None:
        """The documents the filters allow (None: all), kept until the index changes: the same
        few filters come back often, and gathering a broad one visits many documents."""
        narrowing = _filter(filters)
        if narrowing is None:
            return None
        cache: OrderedDict[Filters, set[int]] = self._local.allowed
        if filters in cache:
            cache.move_to_end(filters)
        else:
            if len(cache) >= FILTER_CACHE:
                cache.popitem(last=False)  # the least recently used: a popular filter stays
            cache[filters] = set(searcher.docs_for_query(narrowing))
        return cache[filters]


@dataclass
class _Candidates:
    """The newest matches of a query (highest document numbers: Whoosh numbers documents in the
    order they were added), scored, and how many match in all."""

    matches: list[tuple[int, float]]  # (docnum, score)
    total: int  # counted, or estimated from the part of the index visited
    complete: bool  # the total is a count

    def ranked(self, searcher: Searcher, newest: bool) -> list[tuple[int, float]]:
        """Newest first by creation time (an edited post is re-added, so document order alone
        would put it first); by relevance, the newest CANDIDATES best first, then the rest newest
        first, as in the PostgreSQL engine, so that deep pages neither repeat nor skip a post."""
        if not self.matches:  # an empty index has no columns to read
            return []
        created = searcher.reader().column_reader("created_at")
        by_date = sorted(self.matches, key=lambda match: (-created[match[0]], -match[0]))
        if newest:
            return by_date
        ranked = sorted(by_date[:CANDIDATES], key=lambda match: -match[1])  # stable: ties newest
        return ranked + by_date[CANDIDATES:]


@dataclass(frozen=True)
class _Admission:
    """Which matches count: those the filters allow (None: all), not barred by an excluded
    word, and whose own words pass `check` when a phrase was found by word-pair buckets (for
    every match when `check_every`, else for those holding an excluded phrase's buckets)."""

    allowed: set[int] | None
    barred: set[int] | None
    maybe_barred: set[int] | None
    check: Callable[[int], bool]
    check_every: bool

    def admits(self, docnum: int) -> bool:
        if self.allowed is not None and docnum not in self.allowed:
            return False
        if self.barred and docnum in self.barred:
            return False
        unsure = self.check_every or bool(self.maybe_barred and docnum in self.maybe_barred)
        return not unsure or self.check(docnum)


@dataclass(frozen=True)
class _Wanted:
    """What a search looks for: its Whoosh query (for matchers and scores), and the parsed
    query it came from (for matching by sets of document numbers instead)."""

    query: Any
    parsed: ParsedQuery
    pairs: bool  # the index holds word pairs


def _newest_matches(
    searcher: Searcher, wanted: _Wanted, count: int, admission: _Admission
) -> _Candidates:
    """At least `count` of the newest documents matching (when there are), scored. The index
    is visited from its end in growing windows and every match in them is a candidate: a common
    word matches tens of thousands of posts, and scoring them all in pure Python costs far more
    than a page is worth (as in the PostgreSQL engine, totals beyond them are estimated).

    Matches that are sparse (the next window would cover an eighth of the index or more) or
    that need their words checked (phrases found by word pairs) are finished by sets of
    document numbers (see whoosh_postings) when that reads few enough postings."""
    documents = searcher.doc_count_all()
    leaves = searcher.leaf_searchers()
    context = searcher.context()
    window = _first_window(searcher, wanted.query, count, admission.allowed, documents)
    found: list[tuple[int, float]] = []
    upper = documents
    by_sets = True  # until the query turns out to need too many postings
    while upper > 0 and len(found) < count:
        if by_sets and (admission.check_every or window * SPARSE_SHARE >= documents):
            groups = _group_terms(searcher.reader(), wanted.parsed, wanted.pairs)
            if groups is not None:
                left = count - len(found)
                rest = _by_sets(searcher, wanted.query, groups, upper, left, admission)
                return _Candidates(found + rest.matches, len(found) + rest.total, rest.complete)
            by_sets = False
        lower = max(0, upper - window)
        for subsearcher, offset in leaves:
            start = max(lower - offset, 0)
            end = min(upper - offset, subsearcher.doc_count_all())
            if start < end:  # only the segments overlapping the window
                matcher = wanted.query.matcher(subsearcher, context)
                found.extend(_matches_between(matcher, offset, start, end, admission))
        upper = lower
        window *= 4
    visited = documents - upper
    seen = len(found)
    total = seen if not upper or not visited else max(seen, round(seen * documents / visited))
    return _Candidates(found, total, not upper)


def _group_terms(
    reader: Any, query: ParsedQuery, pairs: bool
) -> list[whoosh_postings.GroupTerms] | None:
    """The query's groups as index terms, or None when sets would not do: a phrase in an index
    without word pairs, a prefix of very many words, or more postings than SET_BUDGET."""
    groups = []
    for group in query.groups:
        words: list[whoosh_postings.IndexTerm] = []
        phrases = []
        for clause in group:
            if _is_phrase(clause):
                if not pairs:
                    return None
                phrases.append(tuple(("pairs", bucket) for bucket in _phrase_buckets(clause)))
                continue
            term = _as_term(clause)
            if not term.text:  # matches nothing, as in _clause
                continue
            for name in TEXT_FIELDS:
                if not term.prefix:
                    words.append((name, term.text))
                    continue
                expanded = list(islice(reader.expand_prefix(name, term.text), PREFIX_TERMS + 1))
                if len(expanded) > PREFIX_TERMS:
                    return None
                words.extend((name, text) for text in expanded)
        groups.append(whoosh_postings.GroupTerms(tuple(words), tuple(phrases)))
    if whoosh_postings.postings_to_read(reader, groups) > SET_BUDGET:
        return None
    return groups


def _by_sets(
    searcher: Searcher,
    query: Any,
    groups: list[whoosh_postings.GroupTerms],
    upper: int,
    count: int,
    admission: _Admission,
) -> _Candidates:
    """The newest `count` admitted matches numbered below `upper`, scored, counting the rest.
    Only matches that some group found through a phrase's buckets alone need their words
    checked; the total estimates those left unchecked from the share of checked ones that held."""
    matched = whoosh_postings.group_matches(searcher.leaf_searchers(), groups, upper)
    documents = matched.documents
    if admission.allowed is not None:
        documents &= admission.allowed
    if admission.barred:
        documents -= admission.barred
    unsure = matched.unsure | (documents & (admission.maybe_barred or set()))
    newest = sorted(documents, reverse=True)
    taken: list[int] = []
    checked = refused = position = 0
    while position < len(newest) and len(taken) < count:
        docnum = newest[position]
        position += 1
        if docnum in unsure:
            checked += 1
            if not admission.check(docnum):
                refused += 1
                continue
        taken.append(docnum)
    unchecked = sum(1 for docnum in newest[position:] if docnum in unsure)
    estimated_refusals = round(unchecked * refused / checked) if checked else 0
    total = len(newest) - refused - estimated_refusals
    return _Candidates(_scored(searcher, query, taken), total, not unchecked)


def _scored(searcher: Searcher, query: Any, docnums: list[int]) -> list[tuple[int, float]]:
    """Each document's score for the query, as the matchers would have given it."""
    scores: dict[int, float] = {}
    context = searcher.context()
    for subsearcher, offset in searcher.leaf_searchers():
        size = subsearcher.doc_count_all()
        mine = sorted(docnum - offset for docnum in docnums if offset <= docnum < offset + size)
        if not mine:
            continue
        matcher = query.matcher(subsearcher, context)
        for local in mine:
            if matcher.is_active() and matcher.id() < local:
                matcher.skip_to(local)
            here = matcher.is_active() and matcher.id() == local
            scores[local + offset] = float(matcher.score()) if here else 0.0
    return [(docnum, scores[docnum]) for docnum in docnums]


def _first_window(
    searcher: Searcher, wanted_query: Any, wanted: int, allowed: set[int] | None, documents: int
) -> int:
    """How many of the newest documents probably hold `wanted` matches: from the query's own
    estimate (an upper bound for AND), narrowed by the share of documents the filters allow."""
    if not documents:
        return 0
    density = max(wanted_query.estimate_size(searcher.reader()), 1) / documents
    if allowed is not None:
        density *= len(allowed) / documents
    return max(MIN_WINDOW, min(documents, int(wanted * 1.5 / max(density, 1e-9))))


def _matches_between(
    matcher: Any, offset: int, start: int, end: int, admission: _Admission
) -> Iterator[tuple[int, float]]:
    """(docnum, score) of the matches in [start, end) of one segment, as index document numbers."""
    if start >= end or not matcher.is_active():
        return
    matcher.skip_to(start)  # block postings skip whole blocks: documents before are never read
    while matcher.is_active():
        docnum = matcher.id()
        if docnum >= end:
            return
        docnum += offset
        if admission.admits(docnum):
            yield docnum, float(matcher.score())
        matcher.next()


def _merge_tail(writer: Any, incoming: int) -> list[Any]:
    """Copy the newest segments into the writer's new one, before the `incoming` documents, and
    return the segments kept. Search reads the newest documents first by document number, so
    merging must keep the order documents were added in; Whoosh's own policies merge segments
    of any age and put them after the new documents.

    This one merges the trailing segments once MERGE_FANOUT of one size class (powers of
    MERGE_FANOUT) have gathered, or when smaller ones trail what is written: each document is
    copied about log8(documents / batch) times, and emptied segments are dropped. A small write
    (a request's posts) merges at most LIVE_MERGE_LIMIT documents, so no request rewrites a
    large segment; those come from rebuilds (see whoosh_rebuild) and large writes."""
    segments = list(writer.segments)
    limit = None if incoming >= BATCH else LIVE_MERGE_LIMIT
    merged, keep = incoming, len(segments)
    while keep:
        start = keep
        while start and _size_class(segments[start - 1].doc_count()) <= _size_class(merged):
            start -= 1
        taken = [segment.doc_count() for segment in segments[start:keep]]
        smaller = any(_size_class(size) < _size_class(merged) for size in taken)
        if not taken or (len(taken) + 1 < MERGE_FANOUT and not smaller):
            break
        if limit is not None and merged + sum(taken) > limit:
            break
        keep, merged = start, merged + sum(taken)
    for segment in segments[keep:]:
        reader = SegmentReader(writer.storage, writer.schema, segment)
        writer.add_reader(reader)
        reader.close()
    return segments[:keep]


def _size_class(documents: int) -> int:
    """0 below MERGE_FANOUT documents, 1 below its square, and so on."""
    size_class = 0
    while documents >= MERGE_FANOUT:
        documents //= MERGE_FANOUT
        size_class += 1
    return size_class


def _delete(writer: Any, post_ids: Iterable[int]) -> None:
    with writer.searcher() as searcher:
        for post_id in post_ids:
            writer.delete_by_term("post_id", str(post_id), searcher=searcher)


def index_fields(document: Document) -> dict[str, Any]:
    values: dict[str, Any] = {
        "post_id": str(document.post_id),
        "thread_id": document.thread_id,
        "community_id": str(document.community_id),
        "tags": ",".join(document.tags),
        "kind": document.kind,
        "age_band": document.age_band,
        "status": document.status,
        "has_poll": _flag(document.has_poll),
        "has_images": _flag(document.has_images),
        "is_opening": _flag(document.is_opening),
        "created_at": _micros(document.created_at),
        "title": document.title,
        "body": document.body,
        "pairs": " ".join(sorted(_pair_buckets(document.title) | _pair_buckets(document.body))),
    }
    if document.author_id is not None:
        values["author_id"] = str(document.author_id)
    # Whoosh treats a missing field as "no terms"; an empty string would index an empty term.
    return {name: value for name, value in values.items() if value != ""}


def pair_bucket(first: str, second: str) -> str:
    """The hashed term of two neighbouring words (crc32: the same in every process)."""
    return f"{zlib.crc32(f'{first} {second}'.encode()) % PAIR_BUCKETS:04x}"


def _pair_buckets(text: str) -> set[str]:
    return {pair_bucket(first, second) for first, second in pairwise(words(text))}


def _flag(value: bool) -> str:
    return "y" if value else "n"


def _micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (no float rounding)."""
    return (moment - EPOCH) // timedelta(microseconds=1)


# --- query translation ---------------------------------------------------------------------


def _all(groups: Sequence[Sequence[Clause]], pairs: bool = False) -> Any:
    """Every group: any of its alternatives, each in title or body. With `pairs`, a phrase
    matches every post holding its word pairs' buckets: a superset, checked by _reads_as."""
    return wq.And([_any(group, pairs) for group in groups])


def _any(clauses: Sequence[Clause], pairs: bool = False) -> Any:
    return wq.Or([_clause(clause, pairs) for clause in clauses])


def _clause(clause: Clause, pairs: bool = False) -> Any:
    if _is_phrase(clause):
        if pairs:
            return wq.And([wq.Term("pairs", bucket) for bucket in _phrase_buckets(clause)])
        return wq.Or([wq.Phrase(name, list(clause.words)) for name in TEXT_FIELDS])
    term = _as_term(clause)
    if not term.text:  # an empty prefix would match every word
        return wq.NullQuery
    if term.prefix:
        return wq.Or([wq.Prefix(name, term.text) for name in TEXT_FIELDS])
    return wq.Or([wq.Term(name, term.text) for name in TEXT_FIELDS])


def _is_phrase(clause: Clause) -> TypeGuard[Phrase]:
    return isinstance(clause, Phrase) and len(clause.words) > 1


def _as_term(clause: Clause) -> Term:
    """A clause that is not a phrase of several words, as a term (an empty phrase: no text)."""
    return clause if isinstance(clause, Term) else Term(next(iter(clause.words), ""))


def _phrase_buckets(phrase: Phrase) -> list[str]:
    """The pair-bucket terms a post holding the phrase holds (each once, in order)."""
    return sorted({pair_bucket(a, b) for a, b in pairwise(phrase.words)})


def _has_phrase(query: ParsedQuery) -> bool:
    return any(_is_phrase(clause) for group in query.groups for clause in group)


def _reads_as(searcher: Searcher, query: ParsedQuery) -> Callable[[int], bool]:
    """Whether a post's own words (title or body, each on its own) satisfy every group and
    hold nothing excluded."""

    def check(docnum: int) -> bool:
        stored = searcher.stored_fields(docnum)
        texts = [words(stored.get("title", "")), words(stored.get("body", ""))]
        return all(
            any(_holds(clause, texts) for clause in group) for group in query.groups
        ) and not any(_holds(clause, texts) for clause in query.excluded)

    return check


def _holds(clause: Clause, texts: list[list[str]]) -> bool:
    if isinstance(clause, Term):
        if clause.prefix:
            return any(word.startswith(clause.text) for text in texts for word in text)
        return any(clause.text in text for text in texts)
    size = len(clause.words)
    target = list(clause.words)
    return any(
        text[start : start + size] == target
        for text in texts
        for start in range(len(text) - size + 1)
        if text[start] == target[0]
    )


def _filter(filters: Filters) -> Any | None:
    """The filters as one unscored query, or None when nothing narrows."""
    parts = []
    if filters.community_id is not None:
        parts.append(wq.Term("community_id", str(filters.community_id)))
    if filters.tag.strip():
        parts.append(wq.Term("tags", filters.tag.strip().lower()))
    for name in ("kind", "age_band", "status"):
        if value := getattr(filters, name):
            parts.append(wq.Term(name, value))
    for name in ("has_poll", "has_images"):
        if (flag := getattr(filters, name)) is not None:
            parts.append(wq.Term(name, _flag(flag)))
    if filters.since is not None or filters.until is not None:
        since = _micros(filters.since) if filters.since is not None else None
        until = _micros(filters.until) if filters.until is not None else None
        parts.append(wq.NumericRange("created_at", since, until, endexcl=True))
    if filters.author_id is not None:
        parts.append(wq.Term("author_id", str(filters.author_id)))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else wq.And(parts)


# --- snippets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Marked:
    """The words a snippet marks: those the query looks for (not the excluded ones)."""

    words: frozenset[str]
    prefixes: tuple[str, ...]

    @classmethod
    def of(cls, query: ParsedQuery) -> _Marked:
        words: set[str] = set()
        prefixes: list[str] = []
        for clause in (clause for group in query.groups for clause in group):
            if isinstance(clause, Phrase):
                words.update(clause.words)
            elif clause.prefix:
                if clause.text:
                    prefixes.append(clause.text)
            else:
                words.add(clause.text)
        return cls(frozenset(words), tuple(prefixes))

    def __contains__(self, word: str) -> bool:
        return word in self.words or word.startswith(self.prefixes)

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, word) of each marked word in `text`, offsets into `text`."""
        lowered = text.lower()
        if len(lowered) != len(text):  # rare: offsets need mapping back
            return [(start, end, word) for word, start, end in _word_spans(text) if word in self]
        words, prefixes = self.words, self.prefixes
        return [
            (*match.span(), word)
            for match in WORD.finditer(lowered)
            if (word := match.group()) in words or (prefixes and word.startswith(prefixes))
        ]


def snippet(body: str, marked: _Marked) -> str:
    """HTML: about SNIPPET_CHARS of `body` around its densest run of marked words, each in
    <mark>, the rest escaped; the opening of the body when nothing in it is marked.

    Done here rather than with whoosh.highlight, whose fragmenter costs 250-400 µs a hit in
    Python (5-8 ms a page), several times what this does."""
    matches = marked.find(body)
    if not matches:
        return _opening(body)
    first, last = _densest(matches)
    span_start, span_end = matches[first][0], matches[last][1]
    length = max(SNIPPET_CHARS, span_end - span_start)
    # Centre the matches; near either end of the body, take the spare context from the other.
    start = max(min(span_start - (length - (span_end - span_start)) // 2, len(body) - length), 0)
    start, end = _word_start(body, start), _word_end(body, min(start + length, len(body)))
    parts = ["…" if start > 0 else ""]
    position = start
    for match_start, match_end, _ in matches[first : last + 1]:
        parts.append(html.escape(body[position:match_start]))
        parts.append("<mark>" + html.escape(body[match_start:match_end]) + "</mark>")
        position = match_end
    parts.append(html.escape(body[position:end]))
    parts.append("…" if end < len(body) else "")
    return "".join(parts)


def _densest(matches: list[tuple[int, int, str]]) -> tuple[int, int]:
    """Indexes of the first and last match of the window of SNIPPET_CHARS with the most
    different marked words (then the most matches; the earliest on a tie)."""
    best = (0, 0, 0, 0)  # (distinct words, matches, -first, last) of the best window so far
    last = 0
    for first, (start, _, _) in enumerate(matches):
        last = max(last, first)
        while last + 1 < len(matches) and matches[last + 1][1] - start <= SNIPPET_CHARS:
            last += 1
        distinct = len({word for _, _, word in matches[first : last + 1]})
        best = max(best, (distinct, last + 1 - first, -first, last))
    return -best[2], best[3]


def _word_start(body: str, position: int) -> int:
    """`position`, moved back to the start of the word it falls in (0 if no word is before),
    but not by more than a long word's length (a pasted URL is cut)."""
    if not WORD.search(body, 0, position):
        return 0
    stop = max(position - LONG_WORD, 0)
    while position > stop and not body[position - 1].isspace():
        position -= 1
    return position


def _word_end(body: str, position: int) -> int:
    """`position`, moved on to the end of the word it falls in (the end if no word follows),
    but not by more than a long word's length."""
    if not WORD.search(body, position):
        return len(body)
    stop = min(position + LONG_WORD, len(body))
    while position < stop and not body[position].isspace():
        position += 1
    return position


def _opening(body: str) -> str:
    if len(body) <= SNIPPET_CHARS:
        return html.escape(body)
    cut = body.rfind(" ", 0, SNIPPET_CHARS)
    return html.escape(body[: cut if cut > 0 else SNIPPET_CHARS].rstrip()) + "…"

"""Matching whole groups of a query by sets of document numbers read from Whoosh's postings.

Whoosh intersects posting lists in pure Python, a few microseconds a step, so words that are
common apart but rare together (three clinical words, say) make it walk most of the index for a
page of results. Reading each term's document numbers a block at a time and intersecting
Python sets costs a fraction of a microsecond a posting, and how many postings that reads is
known beforehand from the terms' document frequencies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.matching.wrappers import FilterMatcher
from whoosh.reading import TermNotFound

IndexTerm = tuple[str, str | bytes]  # (field name, term text)


@dataclass(frozen=True)
class GroupTerms:
    """One group of a query as index terms: a post matches it when it holds any of `words`,
    or every term of one of `phrases` (a phrase's word-pair buckets: a superset of the posts
    holding the phrase, so those matches are checked against the post's own words)."""

    words: tuple[IndexTerm, ...]
    phrases: tuple[tuple[IndexTerm, ...], ...] = ()

    def terms(self) -> Iterable[IndexTerm]:
        yield from self.words
        for phrase in self.phrases:
            yield from phrase


@dataclass
class GroupMatches:
    """Documents below a bound that every group matches, and those of them that some group
    matched only through a phrase's buckets: they hold the phrase only if their words say so."""

    documents: set[int]
    unsure: set[int]


def postings_to_read(reader: Any, groups: Sequence[GroupTerms]) -> int:
    """How many postings matching these groups by sets would read (each term counted once)."""
    terms = {term for group in groups for term in group.terms()}
    return sum(reader.doc_frequency(field, text) for field, text in terms)


def group_matches(
    leaves: Sequence[tuple[Any, int]], groups: Sequence[GroupTerms], below: int
) -> GroupMatches:
    """Match every group over the documents numbered below `below` (index document numbers;
    `leaves` are the searcher's (segment searcher, offset) pairs)."""
    read: dict[IndexTerm, set[int]] = {}

    def ids(term: IndexTerm) -> set[int]:
        if term not in read:
            read[term] = _term_ids(leaves, term, below)
        return read[term]

    documents: set[int] | None = None
    unsure: set[int] = set()
    for group in groups:
        plain = set().union(*(ids(term) for term in group.words))
        by_phrase: set[int] = set()
        for phrase in group.phrases:
            by_phrase |= set.intersection(*(ids(term) for term in phrase)) - plain
        matched = plain | by_phrase
        documents = matched if documents is None else documents & matched
        unsure |= by_phrase
        if not documents:
            break
    documents = documents or set()
    return GroupMatches(documents, unsure & documents)


def _term_ids(leaves: Sequence[tuple[Any, int]], term: IndexTerm, below: int) -> set[int]:
    found: set[int] = set()
    for subsearcher, offset in leaves:
        if offset >= below:
            continue
        local = posting_ids(subsearcher.reader(), *term)
        if offset + subsearcher.doc_count_all() > below:
            found.update(docnum + offset for docnum in local if docnum + offset < below)
        elif offset:
            found.update(docnum + offset for docnum in local)
        else:
            found.update(local)
    return found


def posting_ids(reader: Any, field: str, text: str | bytes) -> list[int]:
    """The live documents of one segment holding the term, in order, read a block at a time.

    Reads W3LeafMatcher's blocks directly (Whoosh 2.7's on-disk postings: each block a pickled
    tuple whose first item is the document numbers as deltas); other matchers (postings short
    enough to be kept with the term) are read one by one."""
    try:
        matcher = reader.postings(field, text)
    except TermNotFound:
        return []
    deleted: frozenset[int] = frozenset()
    if isinstance(matcher, FilterMatcher):  # the segment has deleted documents
        deleted, matcher = matcher._ids, matcher.child
    if isinstance(matcher, W3LeafMatcher):
        found: list[int] = []
        while matcher.is_active():
            if matcher._data is None:
                matcher._read_data()
            found.extend(accumulate(matcher._data[0]))
            matcher._next_block()
    else:
        found = list(matcher.all_ids())
    return [docnum for docnum in found if docnum not in deleted] if deleted else found

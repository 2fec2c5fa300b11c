"""The Whoosh engine on real index files: what it finds, in which order, with which snippets, and
that several processes can write to one index at once."""

from __future__ import annotations

import fcntl
import multiprocessing
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest
from whoosh import index
from whoosh.searching import Searcher

from forum.search import whoosh_backend, whoosh_rebuild
from forum.search.core import (
    Clause,
    Document,
    Filters,
    ParsedQuery,
    Phrase,
    RebuildRunning,
    ResultPage,
    Term,
    batched,
    words,
)
from forum.search.whoosh_backend import ANALYZER, LockTimeout, WhooshBackend

START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock() -> None:
    """Nobody signs in here: no need for tests/search/conftest.py's fresh TOTP step."""


@pytest.fixture
def backend(tmp_path: Path) -> WhooshBackend:
    return WhooshBackend(tmp_path / "index")


@pytest.fixture(params=["windows", "sets"])
def matching(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ways of finding matches: Whoosh's matchers over windows of the newest documents,
    and sets of document numbers read from the postings (see whoosh_postings)."""
    if request.param == "windows":
        monkeypatch.setattr(whoosh_backend, "SET_BUDGET", 0)  # sets never read few enough
    else:
        monkeypatch.setattr(whoosh_backend, "SPARSE_SHARE", 10**9)  # sets from the start


def doc(post_id: int, body: str = "", title: str = "A case", **changes: Any) -> Document:
    made = Document(
        post_id=post_id,
        thread_id=1000 + post_id,
        community_id=1,
        title=title,
        body=body,
        tags=("cardiology",),
        kind="discussion",
        age_band="",
        status="open",
        has_poll=False,
        has_images=False,
        is_opening=True,
        created_at=START + timedelta(hours=post_id),
        author_id=7,
    )
    return replace(made, **changes)


def query(*groups: Clause | tuple[Clause, ...], excluded: tuple[Clause, ...] = ()) -> ParsedQuery:
    """A group per argument; a tuple argument is a group of alternatives."""
    return ParsedQuery(
        groups=tuple(group if isinstance(group, tuple) else (group,) for group in groups),
        excluded=excluded,
    )


def find(
    backend: WhooshBackend,
    parsed: ParsedQuery,
    filters: Filters | None = None,
    newest: bool = False,
    page: int = 1,
    per_page: int = 20,
) -> ResultPage:
    return backend.search(parsed, filters or Filters(), newest, page, per_page)


def found(backend: WhooshBackend, parsed: ParsedQuery, filters: Filters | None = None) -> set[int]:
    result = find(backend, parsed, filters, per_page=100)
    assert result.total == len(result.hits)
    return {hit.post_id for hit in result.hits}


# --- adding, replacing, removing -----------------------------------------------------------


def test_an_added_post_is_found_with_its_thread(backend: WhooshBackend) -> None:
    backend.add([doc(1, "Chest pain after exertion")])
    result = find(backend, query(Term("chest")))
    assert result.total == 1
    assert [(hit.post_id, hit.thread_id) for hit in result.hits] == [(1, 1001)]
    assert result.hits[0].score > 0


def test_adding_a_post_again_replaces_it(backend: WhooshBackend) -> None:
    backend.add([doc(1, "started on aspirin")])
    backend.add([doc(1, "switched to ibuprofen")])
    assert found(backend, query(Term("aspirin"))) == set()
    assert found(backend, query(Term("ibuprofen"))) == {1}
    assert backend.post_ids() == {1}


def test_the_last_version_wins_within_one_add(backend: WhooshBackend) -> None:
    backend.add([doc(1, "first draft"), doc(2, "other post"), doc(1, "final text")])
    assert found(backend, query(Term("draft"))) == set()
    assert found(backend, query(Term("final"))) == {1}
    assert backend.post_ids() == {1, 2}


def test_remove_drops_posts_and_ignores_unknown_ids(backend: WhooshBackend) -> None:
    backend.add([doc(1, "sepsis bundle"), doc(2, "sepsis screen"), doc(3, "sepsis audit")])
    backend.remove([2, 99])
    assert found(backend, query(Term("sepsis"))) == {1, 3}
    assert backend.post_ids() == {1, 3}
    backend.remove([])
    assert backend.post_ids() == {1, 3}


def test_clear_empties_the_index_for_searchers_already_open(backend: WhooshBackend) -> None:
    backend.add([doc(1, "heparin drip"), doc(2, "heparin bolus")])
    assert found(backend, query(Term("heparin"))) == {1, 2}  # this thread now holds a searcher
    backend.clear()
    assert found(backend, query(Term("heparin"))) == set()
    assert backend.post_ids() == set()
    backend.add([doc(3, "heparin again")])
    assert found(backend, query(Term("heparin"))) == {3}


def test_a_search_sees_what_another_backend_committed(tmp_path: Path) -> None:
    reader = WhooshBackend(tmp_path / "index")
    writer = WhooshBackend(tmp_path / "index")  # as another gunicorn worker would
    assert found(reader, query(Term("digoxin"))) == set()
    writer.add([doc(1, "digoxin level")])
    assert found(reader, query(Term("digoxin"))) == {1}
    writer.remove([1])
    assert found(reader, query(Term("digoxin"))) == set()


def test_an_empty_index_finds_nothing_and_lists_no_posts(backend: WhooshBackend) -> None:
    assert find(backend, query(Term("anything"))) == ResultPage(hits=[], total=0)
    assert backend.post_ids() == set()


def test_an_empty_query_finds_nothing(backend: WhooshBackend) -> None:
    backend.add([doc(1, "anything at all")])
    assert find(backend, ParsedQuery()) == ResultPage()
    assert find(backend, ParsedQuery(excluded=(Term("nothing"),))) == ResultPage()


# --- words, phrases, prefixes, alternatives, exclusions ------------------------------------


def test_every_group_must_match_in_title_or_body(backend: WhooshBackend) -> None:
    backend.add(
        [
            doc(1, "troponin rising", title="Chest pain"),
            doc(2, "troponin normal", title="Syncope"),
            doc(3, "chest wall tenderness", title="Rib fracture"),
        ]
    )
    assert found(backend, query(Term("chest"), Term("troponin"))) == {1}
    assert found(backend, query(Term("troponin"))) == {1, 2}


def test_a_group_matches_when_any_alternative_does(backend: WhooshBackend) -> None:
    backend.add([doc(1, "new onset AF"), doc(2, "atrial fibrillation"), doc(3, "flutter")])
    alternatives = (Term("af"), Phrase(("atrial", "fibrillation")))
    assert found(backend, query(alternatives)) == {1, 2}


def test_a_phrase_needs_its_words_together_and_in_order(backend: WhooshBackend) -> None:
    backend.add(
        [
            doc(1, "sudden chest pain at rest"),
            doc(2, "pain in the chest"),
            doc(3, "chest x-ray, no pain"),
        ]
    )
    assert found(backend, query(Phrase(("chest", "pain")))) == {1}
    assert found(backend, query(Phrase(("pain",)))) == {1, 2, 3}


def test_a_phrase_does_not_run_from_title_into_body(backend: WhooshBackend) -> None:
    backend.add([doc(1, "pain on inspiration", title="Pleuritic chest")])
    assert found(backend, query(Phrase(("pleuritic", "chest")))) == {1}
    assert found(backend, query(Phrase(("chest", "pain")))) == set()


def test_a_prefix_matches_words_that_start_with_it(backend: WhooshBackend) -> None:
    backend.add([doc(1, "cardiomyopathy"), doc(2, "cardiology review"), doc(3, "pericarditis")])
    assert found(backend, query(Term("cardio", prefix=True))) == {1, 2}
    assert found(backend, query(Term("cardio"))) == set()


def test_excluded_words_and_phrases_remove_posts(backend: WhooshBackend) -> None:
    backend.add(
        [
            doc(1, "sepsis with fever"),
            doc(2, "sepsis without fever", title="Septic shock"),
            doc(3, "sepsis, afebrile"),
        ]
    )
    assert found(backend, query(Term("sepsis"), excluded=(Term("without"),))) == {1, 3}
    assert found(backend, query(Term("sepsis"), excluded=(Term("septic"),))) == {1, 3}
    no_fever = query(Term("sepsis"), excluded=(Phrase(("without", "fever")), Term("afebrile")))
    assert found(backend, no_fever) == {1}
    assert found(backend, query(Term("sepsis"), excluded=(Term("afeb", prefix=True),))) == {1, 2}


def test_an_exclusion_removes_the_first_match_after_an_excluded_post(
    backend: WhooshBackend,
) -> None:
    # Whoosh 2.7.4's AndNotMatcher lets post 2 through: the excluded word's first post comes
    # before the wanted word's first.
    backend.add([doc(1, "fever"), doc(2, "sepsis with fever"), doc(3, "sepsis")])
    assert found(backend, query(Term("sepsis"), excluded=(Term("fever"),))) == {3}
    newest = find(backend, query(Term("sepsis"), excluded=(Term("fever"),)), newest=True)
    assert ([hit.post_id for hit in newest.hits], newest.total) == ([3], 1)


def test_two_letter_terms_count(backend: WhooshBackend) -> None:
    backend.add([doc(1, "Inferior MI, then AF."), doc(2, "Echo in the US"), doc(3, "Mild aFib")])
    assert found(backend, query(Term("mi"))) == {1}
    assert found(backend, query(Term("af"))) == {1}
    assert found(backend, query(Term("us"))) == {2}
    assert found(backend, query(Term("in"))) == {2}  # no stop words either


def test_drug_names_match_whole_and_unstemmed(backend: WhooshBackend) -> None:
    backend.add(
        [
            doc(1, "Metformin-associated lactic acidosis"),
            doc(2, "metforminum (Latin) is not the same word"),
            doc(3, "Started statins"),
        ]
    )
    assert found(backend, query(Term("metformin"))) == {1}
    assert found(backend, query(Term("metform"))) == set()
    assert found(backend, query(Term("metform", prefix=True))) == {1, 2}
    assert found(backend, query(Term("statin"))) == set()  # no stemming
    assert found(backend, query(Term("statins"))) == {3}


@pytest.mark.parametrize(
    "text",
    [
        "Inferior MI; new-onset AF (US guidelines) & metformin 500mg b.d.",
        "snake_case, COVID-19, 3.5 mg/kg, naïve Ærøskøbing",
        "İstanbul ΟΔΟΣ Straße",  # lower-casing lengthens "İ"; a final sigma depends on context
        "",
    ],
)
def test_the_index_tokenises_exactly_like_core_words(text: str) -> None:
    tokens = [(token.text, token.startchar, token.endchar) for token in ANALYZER(text, chars=True)]
    assert [word for word, _, _ in tokens] == words(text)
    for word, start, end in tokens:  # offsets point at the word in the original text
        assert words(text[start:end]) == [word]


# --- filters -------------------------------------------------------------------------------


FILTERED = [
    (Filters(community_id=2), {"community_id": 2}),
    (Filters(tag="ICU"), {"tags": ("icu", "ventilation")}),
    (Filters(kind="case"), {"kind": "case"}),
    (Filters(age_band="adult"), {"age_band": "adult"}),
    (Filters(status="solved"), {"status": "solved"}),
    (Filters(has_poll=True), {"has_poll": True}),
    (Filters(has_images=True), {"has_images": True}),
    (Filters(author_id=42), {"author_id": 42}),
]


@pytest.mark.parametrize(("filters", "matching"), FILTERED)
def test_each_filter_narrows_to_the_posts_it_describes(
    backend: WhooshBackend, filters: Filters, matching: dict[str, Any]
) -> None:
    backend.add([doc(1, "shared word"), doc(2, "shared word", **matching)])
    assert found(backend, query(Term("shared")), filters) == {2}
    assert found(backend, query(Term("shared"))) == {1, 2}


def test_false_flags_find_posts_without_polls_or_images(backend: WhooshBackend) -> None:
    backend.add([doc(1, "shared", has_poll=True), doc(2, "shared", has_images=True)])
    assert found(backend, query(Term("shared")), Filters(has_poll=False)) == {2}
    assert found(backend, query(Term("shared")), Filters(has_images=False)) == {1}


def test_since_is_inclusive_and_until_exclusive(backend: WhooshBackend) -> None:
    backend.add([doc(post_id, "shared") for post_id in (1, 2, 3, 4)])  # one hour apart
    since, until = START + timedelta(hours=2), START + timedelta(hours=4)
    assert found(backend, query(Term("shared")), Filters(since=since)) == {2, 3, 4}
    assert found(backend, query(Term("shared")), Filters(until=until)) == {1, 2, 3}
    assert found(backend, query(Term("shared")), Filters(since=since, until=until)) == {2, 3}


def test_an_author_filter_never_matches_anonymous_posts(backend: WhooshBackend) -> None:
    backend.add([doc(1, "shared", author_id=5), doc(2, "shared", author_id=None)])
    assert found(backend, query(Term("shared")), Filters(author_id=5)) == {1}
    for author_id in (0, -1, 6):
        assert found(backend, query(Term("shared")), Filters(author_id=author_id)) == set()


def test_filters_combine(backend: WhooshBackend) -> None:
    backend.add(
        [
            doc(1, "shared", kind="case", status="open"),
            doc(2, "shared", kind="case", status="solved"),
            doc(3, "shared", kind="discussion", status="solved"),
        ]
    )
    assert found(backend, query(Term("shared")), Filters(kind="case", status="solved")) == {2}


# --- order, paging, totals -----------------------------------------------------------------


def test_relevance_ranks_a_title_match_above_a_body_match_and_newest_ranks_by_date(
    backend: WhooshBackend,
) -> None:
    backend.add(
        [
            doc(1, "Dosing questions on a ward round today.", title="Warfarin reversal"),
            doc(2, "Warfarin held on a ward round today.", title="Ward round notes"),
        ]
    )
    by_relevance = find(backend, query(Term("warfarin")))
    assert [hit.post_id for hit in by_relevance.hits] == [1, 2]
    assert by_relevance.hits[0].score > by_relevance.hits[1].score
    by_date = find(backend, query(Term("warfarin")), newest=True)
    assert [hit.post_id for hit in by_date.hits] == [2, 1]


def test_pages_split_the_results_and_the_total_counts_them_all(backend: WhooshBackend) -> None:
    backend.add([doc(post_id, "shared " + "word " * (post_id % 5)) for post_id in range(1, 46)])
    backend.add([doc(100, "unrelated")])
    for newest in (False, True):
        pages = [find(backend, query(Term("shared")), newest=newest, page=n) for n in (1, 2, 3, 4)]
        assert [len(page.hits) for page in pages] == [20, 20, 5, 0]
        assert {page.total for page in pages} == {45}
        ids = [hit.post_id for page in pages for hit in page.hits]
        assert sorted(ids) == list(range(1, 46))
    newest_first = [hit.post_id for hit in find(backend, query(Term("shared")), newest=True).hits]
    assert newest_first == list(range(45, 25, -1))


def test_the_total_counts_matches_beyond_the_page_with_filters(backend: WhooshBackend) -> None:
    backend.add(
        [
            doc(post_id, "shared", kind="case" if post_id % 3 else "discussion")
            for post_id in range(1, 61)
        ]
    )
    result = find(backend, query(Term("shared")), Filters(kind="case"), per_page=7)
    assert (len(result.hits), result.total) == (7, 40)


def test_the_total_counts_every_match_once_better_ones_fill_the_page(
    backend: WhooshBackend,
) -> None:
    # Whoosh's own top-N collector drops, in later segments (later commits), the parts of
    # "title OR body" that cannot reach the page's lowest score; it would count 3 here.
    backend.add([doc(n, "warfarin " * n + "dose", title="Warfarin reversal") for n in (1, 2, 3)])
    titled = [doc(n, "warfarin dose", title="Warfarin reversal") for n in (4, 5)]
    backend.add([*titled, *(doc(n, "warfarin held", title="Ward") for n in range(6, 16))])
    result = find(backend, query(Term("warfarin")), per_page=2)
    assert [hit.post_id for hit in result.hits] == [3, 2]
    assert result.total == 15


VOCABULARY = ("mi", "af", "sepsis", "fever", "cough", "metformin", "metoprolol", "chest", "pain")


def plainly_matches(document: Document, parsed: ParsedQuery, filters: Filters) -> bool:
    """The query's meaning, read off the document without an index."""
    fields = (words(document.title), words(document.body))

    def has(clause: Clause) -> bool:
        if isinstance(clause, Phrase):
            size = len(clause.words)
            return any(
                tuple(field[at : at + size]) == clause.words
                for field in fields
                for at in range(len(field))
            )
        if clause.prefix:
            return any(word.startswith(clause.text) for field in fields for word in field)
        return any(clause.text in field for field in fields)

    return (
        all(any(has(clause) for clause in group) for group in parsed.groups)
        and not any(has(clause) for clause in parsed.excluded)
        and filters.kind in ("", document.kind)
        and filters.author_id in (None, document.author_id)
    )


@pytest.mark.usefixtures("matching")
def test_results_agree_with_a_plain_reading_of_the_posts(
    backend: WhooshBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random queries over several segments with deletions: Whoosh's matchers have had bugs.
    Every match is a candidate here, so relevance orders them all."""
    monkeypatch.setattr(whoosh_backend, "CANDIDATES", 1000)
    rng = random.Random(6)
    documents = [
        doc(
            post_id,
            " ".join(rng.choices(VOCABULARY, k=rng.randint(2, 25))),
            title=" ".join(rng.choices(VOCABULARY, k=rng.randint(1, 4))),
            kind=rng.choice(["case", "discussion"]),
            author_id=rng.choice([None, 1, 2]),
        )
        for post_id in range(1, 301)
    ]
    for start in range(0, 300, 75):  # a segment per commit
        backend.add(documents[start : start + 75])
    backend.remove(list(range(1, 301, 7)))
    live = [document for document in documents if document.post_id % 7 != 1]

    def clause() -> Clause:
        roll = rng.random()
        if roll < 0.25:
            return Phrase(tuple(rng.choices(VOCABULARY, k=rng.choice([2, 2, 3]))))
        if roll < 0.4:
            return Term(rng.choice(VOCABULARY)[:2], prefix=True)
        return Term(rng.choice(VOCABULARY))

    for _ in range(80):
        groups = tuple(
            tuple(clause() for _ in range(rng.randint(1, 2))) for _ in range(rng.randint(1, 2))
        )
        excluded = tuple(clause() for _ in range(rng.choice([0, 0, 1])))
        parsed = ParsedQuery(groups=groups, excluded=excluded)
        filters = rng.choice([Filters(), Filters(kind="case"), Filters(author_id=1)])
        expected = [document for document in live if plainly_matches(document, parsed, filters)]
        by_relevance = find(backend, parsed, filters, per_page=300)
        assert by_relevance.total == len(expected), parsed
        assert {hit.post_id for hit in by_relevance.hits} == {d.post_id for d in expected}
        scores = [hit.score for hit in by_relevance.hits]
        assert scores == sorted(scores, reverse=True)
        top = find(backend, parsed, filters, per_page=5)
        assert top.total == len(expected)
        assert top.hits == by_relevance.hits[:5]
        by_date = find(backend, parsed, filters, newest=True, per_page=7)
        newest_first = sorted(expected, key=lambda document: document.created_at, reverse=True)
        assert by_date.total == len(expected)
        assert [hit.post_id for hit in by_date.hits] == [d.post_id for d in newest_first[:7]]


# --- Phrases through word pairs ----------------------------------------------------------


@pytest.mark.usefixtures("matching")
@pytest.mark.parametrize("buckets", [whoosh_backend.PAIR_BUCKETS, 2])
def test_phrases_match_neighbouring_words_only_within_one_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, buckets: int
) -> None:
    """With two buckets nearly every post holds every bucket: the check against the post's own
    words must still find only the phrase."""
    monkeypatch.setattr(whoosh_backend, "PAIR_BUCKETS", buckets)
    backend = WhooshBackend(tmp_path / "index")
    backend.add(
        [
            doc(1, "chest pain radiating to the arm"),
            doc(2, "pain in the chest, radiating"),
            doc(3, "chest pain then pain radiating", title="Night"),
            doc(4, "radiating to the arm", title="Chest pain"),
            doc(5, "pain radiating", title="A chest"),  # the title's end, then the body
        ]
    )
    assert found(backend, query(Phrase(("chest", "pain")))) == {1, 3, 4}
    assert found(backend, query(Phrase(("chest", "pain", "radiating")))) == {1}
    assert found(backend, query((Phrase(("pain", "radiating", "to")), Term("night")))) == {1, 3}
    assert found(backend, query(Phrase(("chest", "pain")), Term("ra", prefix=True))) == {1, 3, 4}


def _older_index(path: Path, documents: list[Document], pairs: bool) -> None:
    """An index as earlier versions wrote it: word positions, and word pairs or not."""
    path.mkdir()
    writer = index.create_in(str(path), whoosh_backend.LEGACY_SCHEMA).writer()
    for older in documents:
        fields = whoosh_backend.index_fields(older)
        writer.add_document(**{k: v for k, v in fields.items() if pairs or k != "pairs"})
    writer.commit()
    if pairs:
        (path / whoosh_backend.PAIRS_MARKER).touch()


@pytest.mark.parametrize("pairs", [False, True])
def test_an_older_index_answers_phrases_until_reindexed_in_the_current_format(
    tmp_path: Path, pairs: bool
) -> None:
    """Before word pairs, phrases went by word positions; then pairs came beside positions;
    the current format has pairs and no positions. Each older one still answers."""
    path = tmp_path / "index"
    _older_index(path, [doc(1, "chest pain radiating"), doc(2, "pain in the chest")], pairs)
    older = WhooshBackend(path)
    elsewhere = WhooshBackend(path)  # another worker, opened before the reindex
    assert found(older, query(Phrase(("chest", "pain")))) == {1}
    assert found(older, query(Term("chest"), Term("radiating"))) == {1}

    older.clear()
    assert (path / whoosh_backend.FORMAT_MARKER).exists()
    older.add([doc(1, "chest pain radiating"), doc(3, "pain, chest")])
    assert found(older, query(Phrase(("chest", "pain")))) == {1}
    assert found(WhooshBackend(path), query(Phrase(("chest", "pain")))) == {1}
    assert found(elsewhere, query(Phrase(("chest", "pain")))) == {1}
    elsewhere.add([doc(4, "a chest pain at rest")])  # written in the current format
    reader = WhooshBackend(path)._searcher().reader()
    assert not reader.schema["body"].format.supports("positions")
    assert found(older, query(Phrase(("chest", "pain")))) == {1, 4}


def test_pair_buckets_never_change() -> None:
    # Stored buckets must match the ones computed for queries: a change here needs a reindex.
    assert whoosh_backend.pair_bucket("chest", "pain") == "6d39"


# --- Bounded candidates --------------------------------------------------------------------


def index_order(backend: WhooshBackend) -> list[int]:
    """Post ids in document-number order."""
    reader = backend._searcher().reader()
    column = reader.column_reader("post_id")
    return [int(column[docnum]) for docnum in reader.all_doc_ids()]


def test_merging_keeps_documents_in_the_order_they_were_added(backend: WhooshBackend) -> None:
    """Search reads the newest documents by number, so merges must not reorder them: posts
    one at a time (as the outbox adds them), batches, an edit (re-added: now the newest) and a
    removal."""
    backend.add([doc(n, "lactate") for n in range(1, 41)])
    for n in range(41, 101):
        backend.add([doc(n, "lactate")])
    backend.add([doc(n, "lactate") for n in range(101, 131)])
    backend.add([doc(7, "lactate raised")])
    backend.remove([50])
    expected = [n for n in range(1, 131) if n not in (7, 50)] + [7]
    assert index_order(backend) == expected
    assert len(backend._index._segments()) <= 8  # about log2 of the documents: merges keep up


def test_small_writes_never_merge_a_large_segment(
    backend: WhooshBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request's posts must not rewrite a big segment (on SQLite the request holds the
    database's write lock meanwhile); large writes may."""
    monkeypatch.setattr(whoosh_backend, "LIVE_MERGE_LIMIT", 12)
    monkeypatch.setattr(whoosh_backend, "BATCH", 20)
    backend.add([doc(n, "lactate") for n in range(1, 21)])  # a large write
    for n in range(21, 61):
        backend.add([doc(n, "lactate")])
    sizes = [segment.doc_count() for segment in backend._index._segments()]
    assert sizes[0] == 20
    assert max(sizes[1:]) <= 12
    assert len(sizes) <= 1 + 40 // 6 + 4
    assert index_order(backend) == list(range(1, 61))
    backend.add([doc(n, "lactate") for n in range(61, 81)])
    backend.add([doc(n, "lactate") for n in range(81, 101)])  # eight of a size: all merged
    assert [segment.doc_count() for segment in backend._index._segments()] == [100]


# --- rebuilding on several processes ---------------------------------------------------------


def in_batches(documents: list[Document]) -> list[list[Document]]:
    return list(batched(documents, 4))


def test_a_rebuild_on_several_processes_keeps_the_order_and_finds_what_adding_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers write runs of BUILD_CHUNK posts as segments; the index adopts them in order."""
    monkeypatch.setattr(whoosh_rebuild, "BUILD_CHUNK", 7)
    rng = random.Random(11)
    vocabulary = ["sepsis", "lactate", "fluids", "norepinephrine", "cultures", "source"]
    posts = [doc(n, " ".join(rng.choices(vocabulary, k=6)), f"Case {n}") for n in range(1, 31)]
    rebuilt = WhooshBackend(tmp_path / "rebuilt", processes=2)
    rebuilt.add([doc(99, "sepsis from before the rebuild")])
    progress: list[int] = []
    assert rebuilt.rebuild(in_batches(posts), progress.append) == set()
    assert progress == [7, 7, 7, 7, 2]
    assert [segment.doc_count() for segment in rebuilt._index._segments()] == progress
    assert index_order(rebuilt) == list(range(1, 31))
    added = WhooshBackend(tmp_path / "added")
    added.add(posts)
    asked = (query(Term("sepsis")), query(Phrase(("lactate", "fluids"))), query(Term("case")))
    for parsed in asked:
        assert find(rebuilt, parsed, per_page=50) == find(added, parsed, per_page=50)
    assert not (tmp_path / "rebuilt.build").exists()  # the workers' staging folders are gone
    rebuilt.add([doc(31, "sepsis after the rebuild")])
    assert index_order(rebuilt)[-1] == 31


def test_a_rebuild_in_one_run_needs_no_worker(
    backend: WhooshBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_workers(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a single run is written in this process")

    monkeypatch.setattr(whoosh_rebuild, "ProcessPoolExecutor", no_workers)
    backend.rebuild(in_batches([doc(n, "troponin") for n in range(1, 11)]), lambda _: None)
    assert index_order(backend) == list(range(1, 11))
    backend.rebuild([], lambda _: None)
    assert backend.post_ids() == set()


def test_a_rebuild_returns_the_posts_other_writers_touched_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its copies of those may be older than the other writer's: the caller indexes them again."""
    monkeypatch.setattr(whoosh_rebuild, "BUILD_CHUNK", 5)
    path = tmp_path / "index"
    rebuilding, request = WhooshBackend(path, processes=2), WhooshBackend(path)

    def batches() -> Iterator[list[Document]]:
        yield [doc(n, "heparin") for n in range(1, 9)]
        request.add([doc(3, "heparin stopped")])  # another process, between two batches
        request.remove([6])
        yield [doc(n, "heparin") for n in range(9, 13)]

    assert rebuilding.rebuild(batches(), lambda _: None) == {3, 6}
    request.add([doc(13, "heparin later")])  # no rebuild runs now: nothing is noted
    assert not (path / whoosh_backend.JOURNAL).exists()
    assert rebuilding.rebuild(in_batches([doc(1, "heparin")]), lambda _: None) == set()


def test_a_second_rebuild_is_refused_and_leaves_the_first_alone(tmp_path: Path) -> None:
    path = tmp_path / "index"
    first, second = WhooshBackend(path), WhooshBackend(path)  # as in two processes
    first.add([doc(1, "amiodarone")])

    def batches() -> Iterator[list[Document]]:
        with pytest.raises(RebuildRunning, match="another"):
            second.rebuild([[doc(2, "amiodarone")]], lambda _: None)
        yield [doc(3, "amiodarone"), doc(4, "amiodarone")]

    assert first.rebuild(batches(), lambda _: None) == set()
    assert first.post_ids() == {3, 4}
    second.rebuild([[doc(2, "amiodarone")]], lambda _: None)  # once the first has finished
    assert first.post_ids() == {2}


def test_a_failed_rebuild_leaves_no_staging_folder_and_no_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(whoosh_rebuild, "BUILD_CHUNK", 3)
    backend = WhooshBackend(tmp_path / "index", processes=2)

    def failing() -> Iterator[list[Document]]:
        yield [doc(n, "digoxin") for n in range(1, 8)]
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError, match="went away"):
        backend.rebuild(failing(), lambda _: None)
    assert not (tmp_path / "index.build").exists()
    assert not (tmp_path / "index" / whoosh_backend.JOURNAL).exists()
    backend.add([doc(9, "digoxin level")])
    assert 9 in found(backend, query(Term("digoxin")))


def test_the_journal_of_a_killed_rebuild_is_dropped_by_the_next_write(tmp_path: Path) -> None:
    backend = WhooshBackend(tmp_path / "index")
    journal = tmp_path / "index" / whoosh_backend.JOURNAL
    journal.write_text("5\n")  # its rebuild died before reading it; no rebuild runs now
    backend.add([doc(6, "digoxin")])
    assert not journal.exists()
    backend.remove([6])
    assert not journal.exists()


def test_past_the_candidates_every_match_still_has_one_page(
    backend: WhooshBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond the newest CANDIDATES (visited in small windows here), relevance ranks those and
    the rest follow newest first; the total is estimated from the part visited."""
    monkeypatch.setattr(whoosh_backend, "MIN_WINDOW", 16)
    monkeypatch.setattr(whoosh_backend, "SPARSE_SHARE", 0)  # windows all the way
    backend.add(
        [doc(n, "lactate " + "raised " * (n % 4), community_id=1 + n % 2) for n in range(1, 1001)]
    )
    lactate = query(Term("lactate"), Term("raised"))
    first = find(backend, lactate, per_page=50)
    assert not first.exact
    matching = [n for n in range(1, 1001) if n % 4]
    assert len(matching) * 0.8 <= first.total <= len(matching) * 1.2
    seen: list[int] = []
    for number in range(1, 20):
        seen += [hit.post_id for hit in find(backend, lactate, page=number, per_page=50).hits]
    assert sorted(seen) == sorted(matching)  # every match once, on one page
    newest_first = sorted(matching, reverse=True)
    ranked, rest = seen[: whoosh_backend.CANDIDATES], seen[whoosh_backend.CANDIDATES :]
    assert set(ranked) == set(newest_first[: whoosh_backend.CANDIDATES])
    scores = [hit.score for hit in find(backend, lactate, per_page=whoosh_backend.CANDIDATES).hits]
    assert scores == sorted(scores, reverse=True)
    assert rest == newest_first[whoosh_backend.CANDIDATES : len(seen)]
    by_date = find(backend, lactate, newest=True, per_page=30)
    assert [hit.post_id for hit in by_date.hits] == newest_first[:30]


def test_words_common_apart_and_rare_together_are_counted_exactly_by_sets(
    backend: WhooshBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Postings of many blocks over several segments, some posts deleted or edited: sets give
    the same page and scores as the matchers, with an exact total."""
    for start in range(1, 3001, 1000):  # a segment per add
        backend.add(
            [
                doc(n, "lactate" + " raised" * (n % 3 == 0) + " rare" * (n % 41 == 0))
                for n in range(start, start + 1000)
            ]
        )
    backend.remove(list(range(41 * 3, 3001, 41 * 6)))  # every other post with all three
    backend.add([doc(41 * 6, "lactate raised")])  # edited: no longer rare
    expected = {n for n in range(1, 3001) if n % 123 == 0 and n % 246 != 123 and n != 246}
    wanted = query(Term("lactate"), Term("raised"), Term("rare"))

    by_sets = find(backend, wanted, per_page=50)
    assert {hit.post_id for hit in by_sets.hits} == expected
    assert (by_sets.total, by_sets.exact) == (len(expected), True)
    monkeypatch.setattr(whoosh_backend, "SET_BUDGET", 0)
    by_windows = find(backend, wanted, per_page=50)
    assert by_windows.hits == by_sets.hits  # the same scores, in the same order


def test_a_filter_narrows_the_candidates_and_the_estimate(
    backend: WhooshBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(whoosh_backend, "MIN_WINDOW", 16)
    monkeypatch.setattr(whoosh_backend, "SPARSE_SHARE", 0)  # windows all the way
    backend.add([doc(n, "sepsis", community_id=1 + n % 5) for n in range(1, 2001)])
    result = find(backend, query(Term("sepsis")), Filters(community_id=3), per_page=20)
    assert {hit.post_id % 5 for hit in result.hits} == {2}
    newest = find(backend, query(Term("sepsis")), Filters(community_id=3), newest=True)
    assert [hit.post_id for hit in newest.hits] == [n for n in range(2000, 0, -1) if n % 5 == 2][
        :20
    ]
    assert 400 * 0.8 <= result.total <= 400 * 1.2


def test_the_filters_used_most_recently_stay_cached(
    backend: WhooshBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A popular filter (cases only, say) is not gathered again whenever others come and go:
    over a million posts that costs a fifth of a second."""
    backend.add([doc(n, "sepsis", community_id=n % 3) for n in range(1, 31)])
    monkeypatch.setattr(whoosh_backend, "FILTER_CACHE", 2)
    gathered: list[Any] = []
    gather = Searcher.docs_for_query

    def counted(self: Searcher, narrowing: Any, *args: Any, **kwargs: Any) -> Any:
        gathered.append(narrowing)
        return gather(self, narrowing, *args, **kwargs)

    monkeypatch.setattr(Searcher, "docs_for_query", counted)
    popular = Filters(kind="discussion")
    for community in (0, 1, 2):
        assert find(backend, query(Term("sepsis")), popular).total == 30
        assert find(backend, query(Term("sepsis")), Filters(community_id=community)).total == 10
    assert len(gathered) == 4  # the popular filter once, each community once


def test_an_edited_old_post_keeps_its_place_in_newest_order(backend: WhooshBackend) -> None:
    backend.add([doc(n, "troponin") for n in range(1, 31)])
    backend.add([doc(3, "troponin rising")])  # re-added last, created long ago
    newest = [hit.post_id for hit in find(backend, query(Term("troponin")), newest=True).hits]
    assert newest == list(range(30, 10, -1))


# --- snippets ------------------------------------------------------------------------------


def test_a_snippet_marks_the_matches_keeping_their_case(backend: WhooshBackend) -> None:
    backend.add([doc(1, "Started Metformin last week; metformin levels unknown.")])
    (hit,) = find(backend, query(Term("metformin"))).hits
    assert hit.snippet == (
        "Started <mark>Metformin</mark> last week; <mark>metformin</mark> levels unknown."
    )


def test_a_snippet_marks_phrase_and_prefix_words_but_not_excluded_ones(
    backend: WhooshBackend,
) -> None:
    backend.add([doc(1, "Chest pain with cardiomegaly, no fever")])
    parsed = query(Phrase(("chest", "pain")), Term("cardio", prefix=True), excluded=(Term("x"),))
    (hit,) = find(backend, parsed).hits
    assert hit.snippet == (
        "<mark>Chest</mark> <mark>pain</mark> with <mark>cardiomegaly</mark>, no fever"
    )


def test_a_snippet_escapes_the_text(backend: WhooshBackend) -> None:
    backend.add([doc(1, 'Pasted <script>alert("x")</script> & a <b>bold</b> aspirin claim')])
    (hit,) = find(backend, query(Term("aspirin"))).hits
    assert "<script>" not in hit.snippet
    assert "<b>" not in hit.snippet
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; a &lt;b&gt;bold" in hit.snippet
    assert "<mark>aspirin</mark>" in hit.snippet
    (hit,) = find(backend, query(Term("script"))).hits
    assert "&lt;<mark>script</mark>&gt;" in hit.snippet


def test_a_snippet_is_a_passage_around_the_match_in_a_long_body(backend: WhooshBackend) -> None:
    filler = "The patient was reviewed on the ward and observations were stable. " * 20
    backend.add([doc(1, filler + "Then lactate rose to 6. " + filler)])
    (hit,) = find(backend, query(Term("lactate"))).hits
    assert hit.snippet.startswith("…")
    assert hit.snippet.endswith("…")
    assert "<mark>lactate</mark> rose to 6" in hit.snippet
    assert 150 <= len(hit.snippet) <= 350


def test_a_snippet_shows_the_passage_with_the_most_of_the_query(backend: WhooshBackend) -> None:
    filler = "Observations were stable overnight and the plan was unchanged. " * 8
    body = "Troponin was sent. " + filler + "Repeat troponin rose after the ECG changed. " + filler
    backend.add([doc(1, body)])
    (hit,) = find(backend, query((Term("troponin"), Term("ecg")))).hits
    assert "Repeat <mark>troponin</mark> rose after the <mark>ECG</mark> changed." in hit.snippet
    assert "sent" not in hit.snippet


def test_a_snippet_near_the_end_takes_its_context_from_before(backend: WhooshBackend) -> None:
    filler = "Observations were stable overnight and the plan was unchanged. " * 8
    backend.add([doc(1, filler + "Finally: lactate 6.")])
    (hit,) = find(backend, query(Term("lactate"))).hits
    assert hit.snippet.startswith("…")
    assert hit.snippet.endswith("Finally: <mark>lactate</mark> 6.")
    assert 200 <= len(hit.snippet) <= 300


def test_a_title_match_shows_the_opening_of_the_body(backend: WhooshBackend) -> None:
    body = "A 54-year-old <man> presented " + "with progressive breathlessness " * 20
    backend.add([doc(1, body, title="Amyloidosis?")])
    (hit,) = find(backend, query(Term("amyloidosis"))).hits
    assert "<mark>" not in hit.snippet
    assert hit.snippet.startswith("A 54-year-old &lt;man&gt; presented with progressive")
    assert hit.snippet.endswith("…")
    assert len(hit.snippet) <= 260


# --- locking and several processes ---------------------------------------------------------


def test_a_writer_gives_up_when_the_lock_is_held_too_long(tmp_path: Path) -> None:
    backend = WhooshBackend(tmp_path / "index", lock_timeout=0.3)
    with (tmp_path / "index.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another process's writer, in effect
        with pytest.raises(LockTimeout):
            backend.add([doc(1, "blocked")])
        fcntl.flock(held, fcntl.LOCK_UN)
    backend.add([doc(1, "unblocked")])
    assert backend.post_ids() == {1}


def add_in_batches(path: str, first_id: int, start: Barrier) -> None:
    """One process's share: open (maybe create) the index as the other does, then add 200 posts
    in small commits so the two writers interleave."""
    start.wait(timeout=60)
    backend = WhooshBackend(Path(path))
    for batch in range(first_id, first_id + 200, 10):
        backend.add(
            [doc(post_id, f"concurrent post {post_id}") for post_id in range(batch, batch + 10)]
        )


def test_two_processes_adding_at_once_lose_nothing(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    path = str(tmp_path / "index")  # not created yet: both processes race to create it
    workers = [
        context.Process(target=add_in_batches, args=(path, first_id, start))
        for first_id in (1, 201)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=180)
    assert [worker.exitcode for worker in workers] == [0, 0]
    backend = WhooshBackend(Path(path))
    assert backend.post_ids() == set(range(1, 401))
    assert find(backend, query(Term("concurrent"))).total == 400

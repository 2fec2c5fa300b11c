"""PgBackend against a real PostgreSQL database of its own (created and dropped by this module)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from forum.extensions import db
from forum.search import pg_backend
from forum.search.core import Document, Filters, ParsedQuery, Phrase, Term, words
from forum.search.pg_backend import (
    PgBackend,
    create_schema,
    drop_schema,
    pair_bucket,
    pair_buckets,
    snippet_html,
    to_tsquery_text,
)
from tests.conftest import create_pg_database, drop_pg_database

START = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def engine() -> Iterator[sa.Engine]:
    url = create_pg_database("curbside_pgsearch")
    engine = sa.create_engine("postgresql+psycopg://" + url.removeprefix("postgresql://"))
    with engine.begin() as connection:
        create_schema(connection)
    yield engine
    engine.dispose()
    drop_pg_database(url)


@pytest.fixture
def backend(engine: sa.Engine) -> Iterator[PgBackend]:
    backend = PgBackend(engine)
    yield backend
    backend.clear()


def document(post_id: int, title: str = "A case", body: str = "", **changes: Any) -> Document:
    """A published post, one hour newer per post id unless told otherwise."""
    made = Document(
        post_id=post_id,
        thread_id=post_id,
        community_id=1,
        title=title,
        body=body,
        tags=(),
        kind="discussion",
        age_band="",
        status="open",
        has_poll=False,
        has_images=False,
        is_opening=True,
        created_at=START + timedelta(hours=post_id),
        author_id=100 + post_id,
    )
    return replace(made, **changes)


def terms(*texts: str) -> ParsedQuery:
    """Every word must match."""
    return ParsedQuery(groups=tuple((Term(text),) for text in texts))


def found(
    backend: PgBackend,
    query: ParsedQuery,
    filters: Filters | None = None,
    newest: bool = False,
) -> list[int]:
    page = backend.search(query, filters or Filters(), newest=newest, page=1, per_page=100)
    return [hit.post_id for hit in page.hits]


# --- Schema ---------------------------------------------------------------------------------------


def test_schema_is_idempotent_and_has_its_indexes(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        create_schema(connection)  # the module fixture created it already
        indexes = dict(
            connection.execute(
                sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :t"),
                {"t": "search_document"},
            ).all()
        )
        storage, statistics = connection.execute(
            sa.text(
                "SELECT attstorage, attstattarget FROM pg_attribute"
                " WHERE attrelid = 'search_document'::regclass AND attname = 'document'"
            )
        ).one()
    assert "USING gin (document)" in indexes["ix_search_document_document"]
    assert "USING gin (pairs)" in indexes["ix_search_document_pairs"]
    assert "created_at" in indexes["ix_search_document_created_at"]
    assert "community_id" in indexes["ix_search_document_community_id"]
    assert storage == "m"  # the tsvector stays in the row
    assert statistics == 1000
    assert "gin_pending_list_limit='1024'" in indexes["ix_search_document_pairs"]


def test_drop_schema_then_create_again(engine: sa.Engine) -> None:
    def exists() -> bool:
        with engine.connect() as connection:
            return sa.inspect(connection).has_table("search_document")

    with engine.begin() as connection:
        drop_schema(connection)
        drop_schema(connection)
    assert not exists()
    with engine.begin() as connection:
        create_schema(connection)
    assert exists()


def test_the_table_stays_out_of_the_models_metadata() -> None:
    # SQLite builds db.metadata and must never meet a tsvector column.
    assert "search_document" not in db.metadata.tables
    assert pg_backend.search_document.metadata is not db.metadata


def test_only_postgresql_engines_are_accepted(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        PgBackend(sa.create_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}"))


# --- Indexing -------------------------------------------------------------------------------------


def test_add_replace_remove_and_clear(backend: PgBackend) -> None:
    backend.add([document(1, body="metformin started"), document(2, body="insulin started")])
    assert backend.post_ids() == {1, 2}
    assert found(backend, terms("metformin")) == [1]

    backend.add([document(1, body="switched to empagliflozin")])
    assert backend.post_ids() == {1, 2}
    assert found(backend, terms("metformin")) == []
    assert found(backend, terms("empagliflozin")) == [1]

    backend.remove([1, 999])
    assert backend.post_ids() == {2}
    assert found(backend, terms("empagliflozin")) == []

    backend.clear()
    assert backend.post_ids() == set()
    assert found(backend, terms("insulin")) == []


def test_adding_many_in_batches_and_the_same_post_twice_in_one_call(backend: PgBackend) -> None:
    many = [document(n, body=f"note {n} troponin") for n in range(1, 1203)]
    backend.add([*many, document(5, body="the last version wins")])
    assert len(backend.post_ids()) == 1202
    assert 5 not in found(backend, terms("troponin"))
    assert found(backend, terms("version")) == [5]


def test_text_postgresql_cannot_store_is_made_storable(backend: PgBackend) -> None:
    backend.add([document(1, title="Nul\x00 title", body="before\x00after \x02marked\x03 text")])
    page = backend.search(terms("after"), Filters(), newest=False, page=1)
    assert [hit.post_id for hit in page.hits] == [1]
    assert page.hits[0].snippet == "before <mark>after</mark>  marked  text"


# --- Matching -------------------------------------------------------------------------------------


def test_every_group_must_match(backend: PgBackend) -> None:
    backend.add(
        [
            document(1, body="chest pain and dyspnoea"),
            document(2, body="chest pain only"),
            document(3, body="dyspnoea only"),
        ]
    )
    assert found(backend, terms("chest", "dyspnoea")) == [1]
    assert sorted(found(backend, terms("chest"))) == [1, 2]


def test_a_group_matches_when_any_alternative_does(backend: PgBackend) -> None:
    backend.add(
        [
            document(1, body="acute MI last week"),
            document(2, body="myocardial infarction confirmed"),
            document(3, body="stable angina"),
        ]
    )
    heart_attack = ParsedQuery(groups=((Term("mi"), Phrase(("myocardial", "infarction"))),))
    assert sorted(found(backend, heart_attack)) == [1, 2]


def test_phrases_need_their_words_together_and_in_order(backend: PgBackend) -> None:
    backend.add(
        [
            document(1, body="decompensated heart failure"),
            document(2, body="failure of the heart"),
            document(3, body="heart rate failure"),
        ]
    )
    assert found(backend, ParsedQuery(groups=((Phrase(("heart", "failure")),),))) == [1]
    assert found(backend, ParsedQuery(groups=((Phrase(("failure", "of", "the")),),))) == [2]


def test_prefixes(backend: PgBackend) -> None:
    backend.add(
        [
            document(1, body="seen by cardiology"),
            document(2, body="cardiomyopathy suspected"),
            document(3, body="a card game"),
        ]
    )
    cardio = ParsedQuery(groups=((Term("cardio", prefix=True),),))
    assert sorted(found(backend, cardio)) == [1, 2]
    assert found(backend, terms("cardio")) == []


def test_excluded_words_and_phrases(backend: PgBackend) -> None:
    backend.add(
        [
            document(1, body="syncope after exercise"),
            document(2, body="syncope while seated"),
            document(3, body="syncope and heart failure"),
        ]
    )
    no_exercise = ParsedQuery(groups=((Term("syncope"),),), excluded=(Term("exercise"),))
    assert sorted(found(backend, no_exercise)) == [2, 3]
    neither = ParsedQuery(
        groups=((Term("syncope"),),),
        excluded=(Term("exercise"), Phrase(("heart", "failure"))),
    )
    assert found(backend, neither) == [2]


def test_excluded_words_alone_find_nothing(backend: PgBackend) -> None:
    backend.add([document(1, body="anything")])
    page = backend.search(ParsedQuery(excluded=(Term("nothing"),)), Filters(), newest=False, page=1)
    assert page.hits == []
    assert page.total == 0


def test_two_letter_terms_and_drug_names_stay_whole(backend: PgBackend) -> None:
    backend.add(
        [
            document(1, body="Known AF, on apixaban"),
            document(2, body="Inferior MI in 2019"),
            document(3, body="Started metformin 500 mg"),
            document(4, body="After a mild illness"),  # "af" and "mi" only inside longer words
        ]
    )
    assert found(backend, terms("af")) == [1]
    assert found(backend, terms("mi")) == [2]
    assert found(backend, terms("metformin")) == [3]
    assert found(backend, terms("metform")) == []
    assert found(backend, ParsedQuery(groups=((Term("metform", prefix=True),),))) == [3]
    assert found(backend, terms("500")) == [3]


def test_words_beyond_ascii(backend: PgBackend) -> None:
    backend.add([document(1, body="Sjögren syndrome, Ménière disease")])
    assert found(backend, terms(*words("sjögren"))) == [1]
    assert found(backend, terms(*words("MÉNIÈRE"))) == [1]


def test_titles_are_searched(backend: PgBackend) -> None:
    backend.add([document(1, title="Refractory hypokalaemia", body="see above")])
    assert found(backend, terms("hypokalaemia")) == [1]


# --- Hostile input ------------------------------------------------------------------------------


def test_tsquery_text_is_built_from_word_tokens_only() -> None:
    query = ParsedQuery(
        groups=((Term("a'b:*|!"), Phrase(("x&y", "z"))), (Term("cardio", prefix=True),)),
        excluded=(Term("(drop)"),),
    )
    assert to_tsquery_text(query) == "( a <-> b | x <-> y <-> z ) & ( cardio:* ) & !( drop )"
    assert to_tsquery_text(query, with_exclusions=False) == (
        "( a <-> b | x <-> y <-> z ) & ( cardio:* )"
    )


def test_operator_characters_alone_make_no_query(backend: PgBackend) -> None:
    backend.add([document(1, body="anything at all")])
    hostile = "':* & | ! <-> ( ) \\ \""
    assert words(hostile) == []
    query = ParsedQuery(groups=((Term(hostile),), (Phrase((hostile, "''")),)))
    assert to_tsquery_text(query) == ""
    page = backend.search(query, Filters(), newest=False, page=1)
    assert page.hits == []
    assert page.total == 0


def test_hostile_terms_cannot_break_the_query(backend: PgBackend) -> None:
    backend.add([document(1, body="a b c'd"), document(2, body="b a")])
    query = ParsedQuery(
        groups=((Term("a'); DROP TABLE search_document; --"),), (Term("b:*|!"),)),
        excluded=(Term("'d"),),
    )
    assert found(backend, query) == []  # "a <-> drop <-> table ..." matches nothing
    assert found(backend, ParsedQuery(groups=((Term("c'd"),),))) == [1]
    assert backend.post_ids() == {1, 2}


# --- Filters --------------------------------------------------------------------------------------


def test_each_filter_narrows(backend: PgBackend) -> None:
    day = timedelta(days=1)
    backend.add(
        [
            document(1, body="sepsis", community_id=7, tags=("icu", "fluids")),
            document(2, body="sepsis", kind="case", age_band="60s", status="solved"),
            document(3, body="sepsis", has_poll=True, has_images=True),
            document(4, body="sepsis", created_at=START + 10 * day, author_id=42),
            document(5, body="sepsis", created_at=START + 20 * day, author_id=None),
        ]
    )
    sepsis = terms("sepsis")
    assert sorted(found(backend, sepsis)) == [1, 2, 3, 4, 5]
    assert found(backend, sepsis, Filters(community_id=7)) == [1]
    assert found(backend, sepsis, Filters(tag="icu")) == [1]
    assert found(backend, sepsis, Filters(tag="ic")) == []
    assert found(backend, sepsis, Filters(kind="case")) == [2]
    assert found(backend, sepsis, Filters(age_band="60s")) == [2]
    assert found(backend, sepsis, Filters(status="solved")) == [2]
    assert found(backend, sepsis, Filters(has_poll=True)) == [3]
    assert found(backend, sepsis, Filters(has_images=True)) == [3]
    assert sorted(found(backend, sepsis, Filters(has_poll=False))) == [1, 2, 4, 5]
    assert found(backend, sepsis, Filters(author_id=42)) == [4]
    # since is inclusive, until exclusive
    assert sorted(found(backend, sepsis, Filters(since=START + 10 * day))) == [4, 5]
    assert sorted(found(backend, sepsis, Filters(until=START + 10 * day))) == [1, 2, 3]
    both = Filters(since=START + 10 * day, until=START + 20 * day)
    assert found(backend, sepsis, both) == [4]
    assert found(backend, sepsis, Filters(community_id=7, kind="case")) == []


def test_an_author_filter_never_matches_anonymous_posts(backend: PgBackend) -> None:
    backend.add(
        [
            document(1, body="anonymous question", author_id=None),
            document(2, body="signed question", author_id=5),
        ]
    )
    question = terms("question")
    assert found(backend, question, Filters(author_id=5)) == [2]
    for someone in (0, 1, 6):
        assert found(backend, question, Filters(author_id=someone)) == []


# --- Order, pages, totals -------------------------------------------------------------------------


def test_a_title_match_outranks_a_body_match(backend: PgBackend) -> None:
    backend.add(
        [
            document(1, title="Hyponatraemia after a marathon", body="Runner, collapsed."),
            document(2, title="Collapse in a runner", body="Sodium low: hyponatraemia."),
            document(3, title="Unrelated", body="Nothing here."),
        ]
    )
    page = backend.search(terms("hyponatraemia"), Filters(), newest=False, page=1)
    assert [hit.post_id for hit in page.hits] == [1, 2]
    assert page.hits[0].score > page.hits[1].score > 0
    assert found(backend, terms("hyponatraemia"), newest=True) == [2, 1]


def test_equal_scores_put_the_newest_first(backend: PgBackend) -> None:
    backend.add([document(n, body="same words exactly") for n in (3, 1, 2)])
    assert found(backend, terms("same")) == [3, 2, 1]


def test_newest_order_follows_creation_time_not_ids(backend: PgBackend) -> None:
    backend.add(
        [
            document(1, body="gout", created_at=START + timedelta(days=3)),
            document(2, body="gout", created_at=START + timedelta(days=1)),
            document(3, body="gout gout gout", created_at=START + timedelta(days=2)),
        ]
    )
    assert found(backend, terms("gout"), newest=True) == [1, 3, 2]
    assert found(backend, terms("gout"))[0] == 3


def test_pages_and_totals(backend: PgBackend) -> None:
    backend.add([document(n, body=f"anaemia workup {n}") for n in range(1, 8)])
    pages = [
        backend.search(terms("anaemia"), Filters(), newest=True, page=number, per_page=3)
        for number in (1, 2, 3, 4)
    ]
    assert [[hit.post_id for hit in page.hits] for page in pages] == [
        [7, 6, 5],
        [4, 3, 2],
        [1],
        [],
    ]
    assert [page.total for page in pages] == [7, 7, 7, 7]
    assert backend.search(terms("nothing"), Filters(), newest=True, page=1).total == 0


def test_past_the_candidates_every_match_still_has_one_page(
    backend: PgBackend, engine: sa.Engine
) -> None:
    count = pg_backend.CANDIDATES + 60
    backend.add([document(n, body="lactate " + "raised " * (n % 4)) for n in range(1, count + 1)])
    with engine.begin() as connection:
        connection.execute(sa.text("ANALYZE search_document"))
    seen: list[int] = []
    for number in range(1, 7):
        page = backend.search(terms("lactate"), Filters(), newest=False, page=number, per_page=50)
        seen += [hit.post_id for hit in page.hits]
        # more than CANDIDATES match: the total is the planner's estimate, good for one word
        assert count * 0.9 <= page.total <= count * 1.1
    assert sorted(seen) == list(range(1, count + 1))
    # the newest CANDIDATES come first, best first; then the rest, newest first
    ranked, rest = seen[: pg_backend.CANDIDATES], seen[pg_backend.CANDIDATES :]
    assert set(ranked) == set(range(count - pg_backend.CANDIDATES + 1, count + 1))
    assert rest == sorted(rest, reverse=True)


# --- Phrases among many posts -----------------------------------------------------------------


def test_pair_buckets_never_change() -> None:
    # Stored buckets must match the ones computed for queries: a change here needs a re-index.
    assert pair_bucket("chest", "pain") == -4807
    assert pair_buckets(["a", "b", "a", "b"]) == {pair_bucket("a", "b"), pair_bucket("b", "a")}
    assert all(-(2**15) <= pair_bucket("x", w) < 2**15 for w in words("one two three four"))


@pytest.mark.parametrize("candidates", [pg_backend.CANDIDATES, 20])
def test_phrases_of_everyday_words_are_found_through_their_pairs(
    backend: PgBackend, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, candidates: int
) -> None:
    """Posts all hold "chest" and "pain", together only in some. With 20 candidates the total
    is estimated (from the pair buckets' statistics), else counted."""
    monkeypatch.setattr(pg_backend, "CANDIDATES", candidates)

    def together(post_id: int) -> bool:
        return post_id % 5 == 0 if post_id > 1200 else post_id % 100 == 0

    backend.add(
        [
            document(
                n,
                body="chest pain noted" if together(n) else "pain in the chest noted",
                community_id=1 + n % 3,
            )
            for n in range(1, 1501)
        ]
    )
    with engine.begin() as connection:
        connection.execute(sa.text("ANALYZE search_document"))
    chest_pain = ParsedQuery(groups=((Phrase(("chest", "pain")),),))
    expected = [n for n in range(1500, 0, -1) if together(n)]

    pages = [
        backend.search(chest_pain, Filters(), newest=True, page=number, per_page=20)
        for number in range(1, 6)
    ]
    assert [hit.post_id for page in pages for hit in page.hits] == expected
    for page in pages:
        assert abs(page.total - len(expected)) <= 2
    in_one_community = found(backend, chest_pain, Filters(community_id=2), newest=True)
    assert in_one_community == [n for n in expected if 1 + n % 3 == 2]
    assert sorted(found(backend, chest_pain), reverse=True) == expected


def test_posts_sharing_a_pair_bucket_are_still_checked_word_by_word(backend: PgBackend) -> None:
    (a, b), (c, d) = _two_pairs_in_one_bucket([f"w{n}" for n in range(400)])
    # post 2 holds "a" and "b" and a pair in the bucket of "a b", but not the phrase "a b"
    backend.add([document(1, body=f"{a} {b}"), document(2, body=f"{c} {d} {b} {a}")])
    assert found(backend, ParsedQuery(groups=((Phrase((a, b)),),))) == [1]
    assert found(backend, ParsedQuery(groups=((Phrase((c, d)),),))) == [2]


def _two_pairs_in_one_bucket(vocabulary: list[str]) -> tuple[tuple[str, str], tuple[str, str]]:
    """Two pairs of four different words that share a bucket."""
    seen: dict[int, tuple[str, str]] = {}
    for first in vocabulary:
        for second in vocabulary:
            bucket = pair_bucket(first, second)
            earlier = seen.setdefault(bucket, (first, second))
            if not {first, second} & set(earlier) and first != second:
                return (first, second), earlier
    raise AssertionError("no two pairs share a bucket")


def test_longer_phrases_and_phrase_alternatives(backend: PgBackend) -> None:
    backend.add(
        [
            document(1, body="acute kidney injury after contrast"),
            document(2, body="kidney injury, acute on chronic"),
            document(3, body="acute on chronic kidney disease"),
            document(4, body="chronic kidney disease stage 3"),
        ]
    )
    aki = Phrase(("acute", "kidney", "injury"))
    assert found(backend, ParsedQuery(groups=((aki,),))) == [1]
    ckd = Phrase(("chronic", "kidney", "disease"))
    assert sorted(found(backend, ParsedQuery(groups=((aki, ckd),)))) == [1, 3, 4]
    both = ParsedQuery(groups=((Phrase(("acute", "on", "chronic")),), (ckd,)))
    assert found(backend, both) == [3]
    with_a_word = ParsedQuery(groups=((ckd, Term("contrast")),))
    assert sorted(found(backend, with_a_word)) == [1, 3, 4]


def test_a_phrase_ending_in_a_prefix(backend: PgBackend) -> None:
    backend.add([document(1, body="chest pain"), document(2, body="pain in the chest")])
    query = ParsedQuery(groups=((Term("chest pa", prefix=True),),))
    assert to_tsquery_text(query) == "( chest <-> pa:* )"
    assert found(backend, query) == [1]


def test_a_phrase_may_run_from_the_title_into_the_body(backend: PgBackend) -> None:
    backend.add([document(1, title="Crushing chest", body="pain since noon")])
    assert found(backend, ParsedQuery(groups=((Phrase(("chest", "pain")),),))) == [1]


# --- Snippets -------------------------------------------------------------------------------------


def test_snippets_mark_the_matches_and_escape_the_text(backend: PgBackend) -> None:
    body = "Potassium given after <script>alert(\"x\")</script> & K<3.5 'low' potassium"
    backend.add([document(1, body=body)])
    page = backend.search(terms("potassium"), Filters(), newest=False, page=1)
    assert page.hits[0].snippet == (
        "<mark>Potassium</mark> given after &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
        " &amp; K&lt;3.5 &#x27;low&#x27; <mark>potassium</mark>"
    )


def test_a_fragment_never_cuts_an_escaped_character(backend: PgBackend) -> None:
    # Each entity is one token to ts_headline's parser: a fragment keeps or drops it whole.
    filler = " ".join(f"w{n}" for n in range(60))
    body = f"{filler} <b>&</b> \"quoted\" 'single' {filler} ferritin {filler}"
    backend.add([document(1, body=body)])
    snippet = backend.search(terms("ferritin"), Filters(), newest=False, page=1).hits[0].snippet
    assert "<mark>ferritin</mark>" in snippet
    text = snippet.replace("<mark>", "").replace("</mark>", "")
    assert "<" not in text
    assert ">" not in text
    assert re.fullmatch(r"([^&]|&(amp|lt|gt|quot|#x27);)*", text)


def test_snippets_show_the_words_around_the_match(backend: PgBackend) -> None:
    before = " ".join(f"before{n}" for n in range(200))
    after = " ".join(f"after{n}" for n in range(200))
    backend.add([document(1, body=f"{before} hyperkalaemia {after}")])
    page = backend.search(terms("hyperkalaemia"), Filters(), newest=False, page=1)
    snippet = page.hits[0].snippet
    assert "<mark>hyperkalaemia</mark>" in snippet
    assert "before199" in snippet or "after0" in snippet
    assert "before0 " not in snippet
    assert "after199" not in snippet
    assert 100 <= len(snippet) <= 400


def test_a_title_match_shows_the_start_of_the_body(backend: PgBackend) -> None:
    backend.add([document(1, title="Thyroid storm", body="Presented with fever & agitation.")])
    page = backend.search(terms("storm"), Filters(), newest=False, page=1)
    assert page.hits[0].snippet == "Presented with fever &amp; agitation."


def test_excluded_words_are_not_marked(backend: PgBackend) -> None:
    backend.add([document(1, body="asthma, not copd")])
    query = ParsedQuery(groups=((Term("asthma"),),), excluded=(Term("bronchiectasis"),))
    page = backend.search(query, Filters(), newest=False, page=1)
    assert page.hits[0].snippet == "<mark>asthma</mark>, not copd"


def test_snippet_markers_always_balance() -> None:
    assert snippet_html("a \x02b\x03 c") == "a <mark>b</mark> c"
    assert snippet_html("\x03a \x02b \x02c") == "a <mark>b c</mark>"
    assert snippet_html("a\x03\x03b") == "ab"

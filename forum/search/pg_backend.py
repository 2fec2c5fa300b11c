"""The PostgreSQL search engine: a `search_document` table with a weighted tsvector and GIN indexes.

Tokenising happens in Python with core.words(), so both engines see the same words: the stored
tsvector is built from those words joined by spaces, under the 'simple' configuration (no
stemming, no stop words), so "MI", "AF" and drug names stay whole.

Phrases get help. The GIN index on the tsvector knows which posts hold a word but not where, so a
phrase can only be checked post by post, and "his presented" would check every post holding both
words (most of them, for common words) to find the few hundred where they stand together. So each
post also lists its pairs of adjacent words, hashed into PAIR_BUCKETS buckets, in a smallint
array with its own GIN index: a phrase is then checked only in posts holding its pairs' buckets.

The table has its own MetaData: it exists on PostgreSQL only (SQLite has no tsvector), and the
migration creates it through create_schema() when it runs on PostgreSQL.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice, pairwise
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from forum.search.core import (
    PER_PAGE,
    Clause,
    Document,
    Filters,
    Hit,
    ParsedQuery,
    ResultPage,
    Term,
    words,
)

metadata = sa.MetaData()

search_document = sa.Table(
    "search_document",
    metadata,
    sa.Column("post_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("thread_id", sa.Integer, nullable=False),
    sa.Column("community_id", sa.Integer, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("tags", postgresql.ARRAY(sa.Text), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("age_band", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("has_poll", sa.Boolean, nullable=False),
    sa.Column("has_images", sa.Boolean, nullable=False),
    sa.Column("is_opening", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("author_id", sa.Integer, nullable=True),  # None: anonymous, never matched by author
    sa.Column("document", postgresql.TSVECTOR, nullable=False),
    sa.Column("pairs", postgresql.ARRAY(sa.SmallInteger), nullable=False),  # see the docstring
    # New entries wait in a GIN index's pending list, which every search reads through: capped at
    # 1 MB rather than 4, it costs searches little and still lets inserts be merged in bulk.
    sa.Index(
        "ix_search_document_document",
        "document",
        postgresql_using="gin",
        postgresql_with={"gin_pending_list_limit": 1024},
    ),
    sa.Index(
        "ix_search_document_pairs",
        "pairs",
        postgresql_using="gin",
        postgresql_with={"gin_pending_list_limit": 1024},
    ),
    # Pages of common words walk this index newest first and stop once they have enough.
    sa.Index("ix_search_document_created_at", "created_at", "post_id"),
    sa.Index("ix_search_document_community_id", "community_id", "created_at"),
    sa.Index("ix_search_document_author_id", "author_id"),
)

doc = search_document.c

# Keep each row's tsvector in the row itself. A row of title, body and tsvector passes the 2 kB
# TOAST threshold, and PostgreSQL would move the biggest value, the tsvector, out of line: every
# match check and rank would then fetch it from the TOAST table (measured: several times slower).
# With STORAGE MAIN the body moves out instead, and only the page's headlines read it.
# STATISTICS 1000: ANALYZE then keeps the frequencies of 10,000 words, not 1,000, so that
# estimated totals (see PgBackend.search) stay close for words below the commonest thousand.
sa.event.listen(
    search_document,
    "after_create",
    sa.DDL(
        "ALTER TABLE search_document ALTER COLUMN document SET STORAGE MAIN,"
        " ALTER COLUMN document SET STATISTICS 1000"
    ),
)

SIMPLE: sa.ColumnClause[Any] = sa.literal_column("'simple'::regconfig")
# ts_rank_cd weights for D, C, B, A: a title word (A) counts as much as five body words (B).
RANK_WEIGHTS: sa.ColumnClause[Any] = sa.literal_column("'{0.1, 0.1, 0.2, 1.0}'::float4[]")
# Search reads at most the newest CANDIDATES matches (more only for deep pages): a common word
# matches tens of thousands of posts, and reading, ranking or even counting them all costs far
# more than a page is worth. Relevance ranks those candidates; totals are exact up to this many,
# estimated beyond (see PgBackend.search).
CANDIDATES = 200
# Word pairs share this many buckets (smallint values): each bucket holds about 0.2% of the
# posts besides those with the pair itself, a small price next to an index keyed by every pair.
# Changing it (or pair_bucket) means re-indexing: stored buckets would no longer match.
PAIR_BUCKETS = 1 << 16
# ts_headline's StartSel/StopSel: control characters that stored text never holds (_storable
# replaces them), so in a headline they can only be ts_headline's, and become <mark> tags.
START_MARK, STOP_MARK = "\x02", "\x03"
HEADLINE_OPTIONS = (
    f"StartSel={START_MARK}, StopSel={STOP_MARK}, MaxWords=35, MinWords=15, MaxFragments=1, "
    "HighlightAll=false"
)
BATCH_SIZE = 500
# Control characters PostgreSQL text refuses (NUL) or that would pose as headline markers.
UNSTORABLE = dict.fromkeys([0, ord(START_MARK), ord(STOP_MARK)], " ")


def create_schema(connection: sa.Connection) -> None:
    """Create the table and its indexes unless they exist (PostgreSQL only)."""
    metadata.create_all(connection, checkfirst=True)


def drop_schema(connection: sa.Connection) -> None:
    """Drop the table and its indexes if they exist."""
    metadata.drop_all(connection, checkfirst=True)


# --- Query translation ---------------------------------------------------------------------------
#
# The issue suggests websearch_to_tsquery, but our own parser has already read quotes, OR, "-" and
# "*" and expanded synonyms into a ParsedQuery; websearch_to_tsquery would re-parse user text and
# could not express prefixes or synonym groups. So we write to_tsquery syntax ourselves, from
# core.words() tokens only: those are runs of letters and digits, which cannot contain tsquery
# operators or quotes, and the text goes to to_tsquery('simple', :q) as a bound parameter.


def clause_tokens(clause: Clause) -> list[str]:
    """The clause's words as core.words() makes them (clauses should hold such tokens already;
    running words() again makes that a guarantee). Several tokens make a phrase."""
    if isinstance(clause, Term):
        return words(clause.text)
    return [token for word in clause.words for token in words(word)]


def clause_tsquery(clause: Clause) -> str:
    """One clause in to_tsquery syntax, or "" when it holds no word."""
    tokens = clause_tokens(clause)
    if tokens and isinstance(clause, Term) and clause.prefix:
        tokens[-1] += ":*"
    return " <-> ".join(tokens)


def _any_of(clauses: Sequence[Clause]) -> str:
    alternatives = [text for text in map(clause_tsquery, clauses) if text]
    return "( " + " | ".join(alternatives) + " )" if alternatives else ""


def to_tsquery_text(query: ParsedQuery, with_exclusions: bool = True) -> str:
    """The query in to_tsquery syntax; "" when nothing is looked for. Clauses without a word
    are ignored, as to_tsquery ignores operands that yield no lexeme."""
    groups = [text for text in map(_any_of, query.groups) if text]
    if not groups:
        return ""
    excluded = _any_of(query.excluded) if with_exclusions else ""
    return " & ".join(groups) + (f" & !{excluded}" if excluded else "")


def pair_bucket(first: str, second: str) -> int:
    """The bucket of two adjacent words, stable across processes and versions (unlike hash())."""
    return zlib.crc32(f"{first} {second}".encode()) % PAIR_BUCKETS - PAIR_BUCKETS // 2


def pair_buckets(tokens: Sequence[str]) -> set[int]:
    return {pair_bucket(first, second) for first, second in pairwise(tokens)}


def _clause_pairs(clause: Clause) -> set[int]:
    tokens = clause_tokens(clause)
    if isinstance(clause, Term) and clause.prefix:
        tokens = tokens[:-1]  # the last word is a prefix: no pair to look up
    return pair_buckets(tokens)


def phrase_pairs(query: ParsedQuery) -> list[list[list[int]]]:
    """For each group that only phrases can match ("chest pain", but not "MI" OR "myocardial
    infarction"), the pair buckets of each of its phrases: a matching post holds all the
    buckets of at least one phrase of every such group."""
    found = []
    for group in query.groups:
        alternatives = [clause for clause in group if clause_tsquery(clause)]
        buckets = [sorted(_clause_pairs(clause)) for clause in alternatives]
        if alternatives and all(buckets):
            found.append(buckets)
    return found


# --- Snippets ------------------------------------------------------------------------------------
#
# ts_headline does not escape, and worse, its parser drops anything shaped like an HTML tag. So the
# body is escaped in SQL before headlining (entities such as &lt; are single tokens to the parser,
# kept whole), and the only markup added afterwards is <mark>, in place of the markers.

HTML_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#x27;"))


def _html_escaped(text: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """The SQL twin of html.escape(text) ("&" first, so nothing is escaped twice)."""
    for char, entity in HTML_ESCAPES:
        text = sa.func.replace(text, char, entity)
    return text


def snippet_html(escaped_headline: str) -> str:
    """An escaped headline with its markers turned into balanced <mark> tags."""
    pieces: list[str] = []
    marked = False
    for char in escaped_headline:
        if char not in (START_MARK, STOP_MARK):
            pieces.append(char)
        elif (char == START_MARK) != marked:
            marked = not marked
            pieces.append("<mark>" if marked else "</mark>")
    if marked:
        pieces.append("</mark>")
    return "".join(pieces)


# --- Storing -------------------------------------------------------------------------------------


def _storable(text: str) -> str:
    return text.translate(UNSTORABLE)


def _weighted(words_param: str, weight: str) -> sa.ColumnElement[Any]:
    vector = sa.func.to_tsvector(SIMPLE, sa.bindparam(words_param, type_=sa.Text))
    return sa.func.setweight(vector, sa.literal_column(f"'{weight}'"))


def _row(document: Document) -> dict[str, Any]:
    title_words, body_words = words(document.title), words(document.body)
    return {
        "post_id": document.post_id,
        "thread_id": document.thread_id,
        "community_id": document.community_id,
        "title": _storable(document.title),
        "body": _storable(document.body),
        "tags": list(document.tags),
        "kind": document.kind,
        "age_band": document.age_band,
        "status": document.status,
        "has_poll": document.has_poll,
        "has_images": document.has_images,
        "is_opening": document.is_opening,
        "created_at": document.created_at,
        "author_id": document.author_id,
        # Pairs run on from title to body, as the tsvector's positions do.
        "pairs": sorted(pair_buckets([*title_words, *body_words])),
        "title_words": " ".join(title_words),
        "body_words": " ".join(body_words),
    }


def _upsert() -> sa.Insert:
    columns = [column.name for column in search_document.columns if column.name != "document"]
    insert = postgresql.insert(search_document).values(
        {name: sa.bindparam(name) for name in columns}
        | {"document": _weighted("title_words", "A").op("||")(_weighted("body_words", "B"))}
    )
    replaced = {name: insert.excluded[name] for name in [*columns, "document"] if name != "post_id"}
    return insert.on_conflict_do_update(index_elements=[doc.post_id], set_=replaced)


def _batches(documents: Sequence[Document]) -> Iterator[list[Document]]:
    pending = iter(documents)
    while batch := list(islice(pending, BATCH_SIZE)):
        yield batch


# --- Searching -----------------------------------------------------------------------------------


def _filter_conditions(filters: Filters) -> list[sa.ColumnElement[bool]]:
    wanted: list[tuple[Any, Any]] = [
        (doc.community_id, filters.community_id),
        (doc.kind, filters.kind or None),
        (doc.age_band, filters.age_band or None),
        (doc.status, filters.status or None),
        (doc.has_poll, filters.has_poll),
        (doc.has_images, filters.has_images),
        (doc.author_id, filters.author_id),  # NULL (anonymous) never equals anything
    ]
    conditions = [column == value for column, value in wanted if value is not None]
    if filters.tag:
        conditions.append(doc.tags.any_() == filters.tag)
    if filters.since is not None:
        conditions.append(doc.created_at >= filters.since)
    if filters.until is not None:
        conditions.append(doc.created_at < filters.until)
    return conditions


def _tsquery(param: str) -> sa.ColumnElement[Any]:
    return sa.func.to_tsquery(SIMPLE, sa.bindparam(param, type_=sa.Text))


def _holds_pairs(phrases: list[list[list[int]]]) -> list[sa.ColumnElement[bool]]:
    return [sa.or_(*(doc.pairs.contains(buckets) for buckets in group)) for group in phrases]


def _match_conditions(phrases: list[list[list[int]]]) -> list[sa.ColumnElement[bool]]:
    """The query's conditions on the text.

    With phrases, the pair index finds the candidates, and the tsvector is only checked on them:
    written as the function behind @@, ts_match_vq, which the planner cannot serve from the
    tsvector's GIN index, else it would also fetch every post holding the phrases' words from
    that index, only to intersect them with the few the pair index found.
    """
    if not phrases:
        return [doc.document.bool_op("@@")(_tsquery("q"))]
    checked = sa.func.ts_match_vq(doc.document, _tsquery("q"), type_=sa.Boolean)
    return [*_holds_pairs(phrases), checked]


def _walk(matching: list[sa.ColumnElement[bool]], window: int) -> sa.Subquery:
    """The newest `window` matches, found as the planner likes: for a common word, walking the
    posts newest first until enough match; for a rarer one, through a GIN index and a sort.
    No more is read than needed, so how many match is only known when fewer than `window` do."""
    return (
        sa.select(doc.post_id, doc.created_at, doc.document)
        .where(*matching)
        .order_by(doc.created_at.desc(), doc.post_id.desc())
        .limit(window)
        .subquery("recent")
    )


def _page(recent: sa.Subquery, newest: bool, limit: int, offset: int) -> sa.Select:
    """One page of the recent matches, each row saying how many matches were seen.

    Relevance ranks the newest CANDIDATES, best first; older matches (seen only for deep pages)
    follow newest first, so every match still has a page.
    """
    newest_first = (recent.c.created_at.desc(), recent.c.post_id.desc())
    numbered = sa.select(
        recent.c.post_id,
        recent.c.document,
        sa.func.row_number().over(order_by=newest_first).label("recency"),
        sa.func.count().over().label("seen"),
    ).subquery("numbered")
    if newest:
        score: sa.ColumnElement[Any] = sa.literal(0.0, sa.Float)
        older: sa.ColumnElement[bool] = sa.false()
        order: tuple[sa.ColumnElement[Any], ...] = (numbered.c.recency,)
    else:
        older = numbered.c.recency > CANDIDATES
        rank = sa.func.ts_rank_cd(RANK_WEIGHTS, numbered.c.document, _tsquery("q"))
        score = sa.case((older, 0.0), else_=rank)  # CASE: older rows never read their tsvector
        order = (older, score.desc(), numbered.c.recency)
    columns = (numbered.c.post_id, numbered.c.recency, numbered.c.seen)
    return (
        sa.select(*columns, score.label("score"), older.label("older"))
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    )


def _with_headlines(page: sa.Select) -> sa.Select:
    """Headlines for the page's rows only: ts_headline re-reads the whole body, so it runs after
    the page is picked, never on every match."""
    chosen = page.subquery("page")
    headline = sa.func.ts_headline(
        SIMPLE, _html_escaped(doc.body), _tsquery("hq"), sa.literal_column(f"'{HEADLINE_OPTIONS}'")
    )
    return (
        sa.select(
            chosen.c.post_id,
            doc.thread_id,
            chosen.c.score,
            chosen.c.seen,
            headline.label("headline"),
        )
        .join_from(chosen, search_document, chosen.c.post_id == doc.post_id)
        .order_by(chosen.c.older, chosen.c.score.desc(), chosen.c.recency)
    )


def _capped_count(conditions: list[sa.ColumnElement[bool]], limit: int) -> sa.Select:
    """How many match, counting no further than `limit`."""
    matching = sa.select(sa.literal(1)).where(*conditions).limit(limit).subquery()
    return sa.select(sa.func.count()).select_from(matching)


def _estimated_count(
    connection: sa.Connection, conditions: list[sa.ColumnElement[bool]], params: dict[str, str]
) -> int:
    """The planner's estimate of how many rows meet the conditions, from the statistics ANALYZE
    keeps: good for single words, rougher for combinations."""
    counted = sa.select(doc.post_id).where(*conditions).compile(connection)
    plan = connection.exec_driver_sql(
        "EXPLAIN (FORMAT JSON) " + str(counted), {**counted.params, **params}
    ).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"])


def _estimated_matches(
    connection: sa.Connection,
    phrases: list[list[list[int]]],
    narrowing: list[sa.ColumnElement[bool]],
    params: dict[str, str],
) -> int:
    """How many match, as the planner would guess. It counts a phrase as often as its words
    appear together, and the pair buckets as often as any pair in them: both overestimate, so
    the smaller guess is the better one."""
    words_anywhere = [doc.document.bool_op("@@")(_tsquery("q")), *narrowing]
    estimate = _estimated_count(connection, words_anywhere, params)
    if phrases:
        holding_pairs = [*_holds_pairs(phrases), *narrowing]
        estimate = min(estimate, _estimated_count(connection, holding_pairs, params))
    return estimate


def _tune_for_search(connection: sa.Connection) -> None:
    """Settings for this transaction only.

    - Plans made for this query's own words: a plan cached for "any tsquery" cannot tell a rare
      word from a common one.
    - No JIT: compiling costs more than these short queries take.
    - Scattered pages priced as the cached pages they are (random_page_cost 1.1, not 4): else
      the planner would rather walk 10,000 posts newest first than fetch 2,000 scattered
      matches through the GIN index, at about twice the time (measured).
    """
    connection.execute(
        sa.text(
            "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
            " set_config('jit', 'off', true), set_config('random_page_cost', '1.1', true)"
        )
    )


class PgBackend:
    """Backend on PostgreSQL full-text search (see the module docstring)."""

    name = "postgresql"

    def __init__(self, engine: sa.Engine) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError(f"PgBackend needs PostgreSQL, not {engine.dialect.name}")
        self.engine = engine

    def add(self, documents: Sequence[Document]) -> None:
        upsert = _upsert()
        with self.engine.begin() as connection:
            for batch in _batches(documents):
                connection.execute(upsert, [_row(document) for document in batch])

    def remove(self, post_ids: Sequence[int]) -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.delete(search_document).where(doc.post_id.in_(list(post_ids))))

    def post_ids(self) -> set[int]:
        with self.engine.begin() as connection:
            return set(connection.scalars(sa.select(doc.post_id)))

    def clear(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.text("TRUNCATE search_document"))

    def rebuild(
        self, batches: Iterable[Sequence[Document]], progress: Callable[[int], None]
    ) -> set[int]:
        """Batch by batch, each in a transaction of its own, as the caller reads them."""
        self.clear()
        for batch in batches:
            self.add(batch)
            progress(len(batch))
        return set()

    def search(
        self,
        query: ParsedQuery,
        filters: Filters,
        newest: bool,
        page: int,
        per_page: int = PER_PAGE,
    ) -> ResultPage:
        params = {"q": to_tsquery_text(query), "hq": to_tsquery_text(query, with_exclusions=False)}
        if not params["q"]:
            return ResultPage()
        phrases = phrase_pairs(query)
        narrowing = _filter_conditions(filters)
        matching = [*_match_conditions(phrases), *narrowing]
        offset = (max(page, 1) - 1) * per_page
        # One more than CANDIDATES: seeing that many says there are more than were counted.
        window = max(CANDIDATES + 1, offset + per_page)
        chosen = _page(_walk(matching, window), newest, per_page, offset)
        with self.engine.begin() as connection:
            _tune_for_search(connection)
            rows = connection.execute(_with_headlines(chosen), params).all()
            if rows:
                seen = int(rows[0].seen)
            elif offset:  # past the last page: count what there is (fewer than window)
                seen = connection.execute(_capped_count(matching, window), params).scalar_one()
            else:
                seen = 0
            total = seen
            if seen == window:  # perhaps many more: estimate rather than count them all
                total = max(seen, _estimated_matches(connection, phrases, narrowing, params))
        hits = [
            Hit(row.post_id, row.thread_id, snippet_html(row.headline), row.score) for row in rows
        ]
        return ResultPage(hits=hits, total=total, exact=seen < window)

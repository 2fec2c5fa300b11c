"""How fast each search engine indexes and answers, at several sizes, beside SQLite FTS5.

Generates posts of about 120 words (a clinical vocabulary with a Zipf-like spread, so common
words match tens of thousands of posts as in real forums), with community, kind, age band,
status, poll, image and date metadata. For each size and engine it builds an index as
`flask search reindex` does (Whoosh: on every core), reports documents per second and the index
size, then runs the same 500 queries (one to three words, some phrases, some with a community or
kind filter, a few prefixes; parsed by the site's own query parser, so synonyms expand) and
reports p50/p99 latency for a first page of 20 results with highlighted snippets. SQLite FTS5
(bm25 order, snippet()) answers the same queries as the reference.

    .venv/bin/python benchmarks/search.py                       # 10k, 100k and 1M posts
    .venv/bin/python benchmarks/search.py --sizes 10000 --engines whoosh,fts5

Targets (issue 6), at 100,000 posts: p50 under 10 ms and p99 under 50 ms, both engines.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import quantiles
from typing import Protocol

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forum.search import querylang  # noqa: E402
from forum.search.core import Document, Filters, ParsedQuery, Phrase, Term, batched  # noqa: E402

PG_ADMIN_URL = os.environ.get("CURBSIDE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
QUERIES = 500
BATCH = 2_000
AGE_BANDS = ("under 1", "18-29", "30s", "40s", "50s", "60s", "70s", "80s")
CLINICAL = [
    "patient",
    "presented",
    "chest",
    "pain",
    "dyspnea",
    "syncope",
    "fever",
    "cough",
    "troponin",
    "ecg",
    "echo",
    "lvh",
    "murmur",
    "hypertension",
    "diabetes",
    "ckd",
    "copd",
    "asthma",
    "pneumonia",
    "sepsis",
    "lactate",
    "creatinine",
    "potassium",
    "sodium",
    "anemia",
    "ferritin",
    "hemoglobin",
    "platelets",
    "inr",
    "warfarin",
    "apixaban",
    "rivaroxaban",
    "heparin",
    "aspirin",
    "clopidogrel",
    "metformin",
    "insulin",
    "empagliflozin",
    "lisinopril",
    "amlodipine",
    "furosemide",
    "spironolactone",
    "atorvastatin",
    "amiodarone",
    "digoxin",
    "metoprolol",
    "bisoprolol",
    "prednisone",
    "methotrexate",
    "colchicine",
    "allopurinol",
    "gout",
    "arthritis",
    "lupus",
    "vasculitis",
    "biopsy",
    "ct",
    "mri",
    "ultrasound",
    "xray",
    "angiogram",
    "stent",
    "cabg",
    "valve",
    "stenosis",
    "regurgitation",
    "af",
    "mi",
    "pe",
    "dvt",
    "stroke",
    "tia",
    "seizure",
    "migraine",
    "headache",
    "confusion",
    "delirium",
    "dementia",
    "depression",
    "anxiety",
    "insomnia",
    "rash",
    "pruritus",
    "jaundice",
    "ascites",
    "cirrhosis",
    "hepatitis",
    "pancreatitis",
    "cholecystitis",
    "appendicitis",
    "obstruction",
    "ileus",
    "bleeding",
    "melena",
    "hematemesis",
    "transfusion",
    "dialysis",
    "nephrology",
    "cardiology",
    "neurology",
    "oncology",
    "chemo",
    "radiation",
    "tumour",
    "lymphoma",
    "leukaemia",
    "myeloma",
    "metastasis",
    "palliative",
    "hospice",
    "discharge",
    "follow",
    "up",
    "referral",
    "consult",
    "question",
    "colleagues",
    "would",
    "you",
    "recommend",
    "guideline",
    "evidence",
    "trial",
]


def vocabulary(rng: random.Random, size: int = 6_000) -> list[str]:
    """Clinical words first (the common ones), then made-up but pronounceable filler words."""
    syllables = [
        "ka",
        "lo",
        "mi",
        "re",
        "su",
        "ta",
        "no",
        "vi",
        "pe",
        "ra",
        "do",
        "li",
        "me",
        "sa",
        "to",
        "ne",
        "ru",
        "ga",
        "be",
        "fi",
    ]
    filler = set()
    while len(filler) < size - len(CLINICAL):
        filler.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    common = [
        "the",
        "a",
        "of",
        "and",
        "to",
        "in",
        "with",
        "on",
        "for",
        "was",
        "is",
        "no",
        "at",
        "after",
        "her",
        "his",
        "we",
    ]
    return common + CLINICAL + sorted(filler)


@dataclass(frozen=True)
class Corpus:
    """Generated posts and the words they were drawn from."""

    vocab: list[str]
    weights: list[float]


def documents(corpus: Corpus, count: int, seed: int) -> Iterator[Document]:
    """`count` posts of about 120 words each, deterministic for a seed."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for post_id in range(1, count + 1):
        body = " ".join(rng.choices(corpus.vocab, corpus.weights, k=rng.randint(100, 140)))
        title = " ".join(rng.choices(corpus.vocab[:400], k=rng.randint(3, 7)))
        case = rng.random() < 0.6
        yield Document(
            post_id=post_id,
            thread_id=(post_id - 1) // 20 + 1,
            community_id=rng.randint(1, 30),
            title=title,
            body=body,
            tags=tuple(rng.sample(CLINICAL[:60], rng.randint(0, 2))),
            kind="case" if case else "discussion",
            age_band=rng.choice(AGE_BANDS) if case else "",
            status=rng.choice(("open", "answered", "solved")),
            has_poll=rng.random() < 0.05,
            has_images=rng.random() < 0.05,
            is_opening=(post_id - 1) % 20 == 0,
            created_at=start + timedelta(minutes=post_id),
            author_id=None if rng.random() < 0.1 else rng.randint(1, 500),
        )


def queries(corpus: Corpus, seed: int) -> list[tuple[str, Filters]]:
    """500 queries: words of every frequency, phrases, prefixes, filters."""
    rng = random.Random(seed)
    mid = corpus.vocab[20:1500]
    found: list[tuple[str, Filters]] = []
    for number in range(QUERIES):
        shape = number % 10
        if shape < 4:
            text = " ".join(rng.sample(mid, rng.randint(1, 3)))
        elif shape < 6:
            text = " ".join(rng.sample(CLINICAL, rng.randint(1, 2)))
        elif shape < 8:
            text = '"' + " ".join(rng.choices(corpus.vocab[:300], k=2)) + '"'
        elif shape == 8:
            text = rng.choice(CLINICAL)[:4] + "*"
        else:
            text = rng.choice(mid) + " OR " + rng.choice(mid)
        filters = Filters()
        if number % 5 == 1:
            filters = Filters(community_id=rng.randint(1, 30))
        elif number % 5 == 3:
            filters = Filters(kind="case")
        found.append((text, filters))
    return found


# --- Engines --------------------------------------------------------------------------------------


class Fts5:
    """SQLite FTS5 over the same documents: the reference."""

    name = "sqlite fts5"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute(
            "CREATE VIRTUAL TABLE doc USING fts5(title, body, community_id UNINDEXED, "
            "kind UNINDEXED, tokenize = 'unicode61')"
        )

    def rebuild(
        self, batches: Iterable[Sequence[Document]], progress: Callable[[int], None]
    ) -> None:
        for docs in batches:
            self.add(docs)
            progress(len(docs))

    def add(self, docs: Sequence[Document]) -> None:
        self.db.executemany(
            "INSERT INTO doc(rowid, title, body, community_id, kind) VALUES (?, ?, ?, ?, ?)",
            [(d.post_id, d.title, d.body, d.community_id, d.kind) for d in docs],
        )
        self.db.commit()

    def search(self, query: ParsedQuery, filters: Filters) -> tuple[int, int]:
        match = fts5_match(query)
        where, params = "doc MATCH ?", [match]
        if filters.community_id:
            where, params = where + " AND community_id = ?", [*params, filters.community_id]
        if filters.kind:
            where, params = where + " AND kind = ?", [*params, filters.kind]
        rows = self.db.execute(
            f"SELECT rowid, snippet(doc, 1, '<mark>', '</mark>', '…', 30) FROM doc "  # noqa: S608
            f"WHERE {where} ORDER BY bm25(doc, 2.0, 1.0) LIMIT 20",
            params,
        ).fetchall()
        total = self.db.execute(f"SELECT count(*) FROM doc WHERE {where}", params).fetchone()  # noqa: S608
        return len(rows), int(total[0])  # a page and the count, as our engines answer

    def size(self) -> int:
        self.db.commit()
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))


def fts5_match(query: ParsedQuery) -> str:
    """Our parsed query in FTS5's syntax (tokens are letters and digits only: nothing to quote)."""

    def clause(item: Term | Phrase) -> str:
        if isinstance(item, Term):
            return f'"{item.text}"' + ("*" if item.prefix else "")
        return '"' + " ".join(item.words) + '"'

    groups = ["(" + " OR ".join(clause(c) for c in group) + ")" for group in query.groups]
    text = " AND ".join(groups)
    for item in query.excluded:
        text += f" NOT {clause(item)}"
    return text


@dataclass
class Figures:
    """One engine at one size."""

    engine: str
    size: int
    build_rate: float
    index_bytes: int
    p50_ms: float
    p99_ms: float


def dir_size(path: Path) -> int:
    """Bytes under a folder."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class Rebuilds(Protocol):
    def rebuild(
        self, batches: Iterable[Sequence[Document]], progress: Callable[[int], None]
    ) -> object: ...


def build(engine: Rebuilds, corpus: Corpus, size: int) -> float:
    """Index the corpus's first `size` posts as `flask search reindex` does, BATCH at a time;
    returns documents per second."""
    began = time.perf_counter()
    engine.rebuild(batched(documents(corpus, size, seed=size), BATCH), progress=lambda _: None)
    return size / (time.perf_counter() - began)


def latencies(
    ask: Callable[[ParsedQuery, Filters], object], asked: list[tuple[str, Filters]]
) -> tuple[float, float]:
    """p50 and p99 in milliseconds over the queries (after one warm-up pass of 50)."""
    parsed = [(querylang.parse(text).query, filters) for text, filters in asked]
    for query, filters in parsed[:50]:
        ask(query, filters)
    times = []
    for query, filters in parsed:
        began = time.perf_counter()
        ask(query, filters)
        times.append((time.perf_counter() - began) * 1000)
    cuts = quantiles(times, n=100)
    return cuts[49], cuts[98]


def bench_whoosh(
    corpus: Corpus, size: int, asked: list[tuple[str, Filters]], work: Path, keep: Path | None
) -> Figures:
    """With `keep`, the index stays in that folder, and a later run reuses it (no build rate)."""
    from forum.search.whoosh_backend import FORMAT_MARKER, WhooshBackend

    path = (keep or work) / f"whoosh-{size}"
    reused = (path / FORMAT_MARKER).exists() and keep is not None
    engine = WhooshBackend(path)
    rate = float("nan") if reused else build(engine, corpus, size)
    p50, p99 = latencies(lambda q, f: engine.search(q, f, False, 1), asked)
    figures = Figures("whoosh", size, rate, dir_size(path), p50, p99)
    if keep is None:
        shutil.rmtree(path)
    return figures


def bench_postgres(corpus: Corpus, size: int, asked: list[tuple[str, Filters]]) -> Figures:
    import sqlalchemy as sa

    from forum.search import pg_backend

    name = f"curbside_search_bench_{os.getpid()}"
    admin = sa.create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = (
        PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        + "/"
        + name
    )
    engine_db = sa.create_engine(url)
    try:
        with engine_db.begin() as connection:
            pg_backend.create_schema(connection)
        engine = pg_backend.PgBackend(engine_db)
        rate = build(engine, corpus, size)
        with engine_db.begin() as connection:
            connection.execute(sa.text("ANALYZE search_document"))
            size_query = sa.text("SELECT pg_total_relation_size('search_document')")
            index_bytes = int(connection.execute(size_query).scalar() or 0)
        p50, p99 = latencies(lambda q, f: engine.search(q, f, False, 1), asked)
        return Figures("postgres", size, rate, index_bytes, p50, p99)
    finally:
        engine_db.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_fts5(corpus: Corpus, size: int, asked: list[tuple[str, Filters]], work: Path) -> Figures:
    path = work / f"fts5-{size}.sqlite3"
    engine = Fts5(path)
    rate = build(engine, corpus, size)
    p50, p99 = latencies(engine.search, asked)
    figures = Figures("sqlite fts5", size, rate, engine.size(), p50, p99)
    engine.db.close()
    return figures


def report(results: list[Figures]) -> None:
    head = ("engine", "posts", "build docs/s", "index MB", "p50 ms", "p99 ms")
    print(f"  {head[0]:12} {head[1]:>10} {head[2]:>13} {head[3]:>9} {head[4]:>8} {head[5]:>8}")
    for f in results:
        print(
            f"  {f.engine:12} {f.size:>10,} {f.build_rate:>13,.0f} {f.index_bytes / 1e6:>9,.1f} "
            f"{f.p50_ms:>8.2f} {f.p99_ms:>8.2f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--engines", default="whoosh,postgres,fts5")
    parser.add_argument(
        "--keep", type=Path, help="keep Whoosh indexes in this folder and reuse them next time"
    )
    options = parser.parse_args()
    rng = random.Random(20261207)
    vocab = vocabulary(rng)
    weights = [1 / (rank + 10) for rank in range(len(vocab))]  # Zipf-like
    corpus = Corpus(vocab, weights)
    asked = queries(corpus, seed=7)
    engines = options.engines.split(",")
    load = os.getloadavg()[0]
    print(f"{QUERIES} queries per engine and size; {os.cpu_count()} CPUs; load average {load:.1f}")
    results: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="curbside-search-bench-") as folder:
        work = Path(folder)
        for size in (int(s) for s in options.sizes.split(",")):
            print(f"\n{size:,} posts", flush=True)
            here: list[Figures] = []
            for engine in engines:
                if engine == "whoosh":
                    here.append(bench_whoosh(corpus, size, asked, work, options.keep))
                elif engine == "postgres":
                    here.append(bench_postgres(corpus, size, asked))
                elif engine == "fts5":
                    here.append(bench_fts5(corpus, size, asked, work))
                report(here[-1:])
            results += here
    print("\nSummary (target at 100,000 posts: p50 < 10 ms, p99 < 50 ms, with snippets)")
    report(results)
    for f in results:
        if f.size == 100_000 and f.engine != "sqlite fts5":
            met = f.p50_ms < 10 and f.p99_ms < 50
            print(f"  {f.engine} at 100,000: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()

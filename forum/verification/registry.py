"""The local copy of the NPPES registry: streaming import of CMS's file, and lookup.

CMS publishes the NPPES Downloadable File as a zip holding one ~9 GB CSV (about 9 million rows,
330 columns, every value double-quoted). The import reads it as a stream (a zip member is read
without extracting it), keeps the few columns matching needs, and upserts them in batches: each
batch and the import's progress are committed together, so an interrupted import resumes after
the last committed batch. A row whose content hash has not changed is never rewritten, which
makes importing the same file twice a no-op.

The hot path stays out of the ORM and uses both cores: a forked reader process parses the file
(plainly quoted lines are split directly, anything else goes to the csv module; the kept fields
are picked by index) and pipes batches to the importing process, whose writer thread stores
them through the driver (multi-row upserts on SQLite, COPY into a staging table on PostgreSQL)
while the next batch arrives. Memory stays flat whatever the file's size: a few batches at most.
The reader needs fork(), so the import runs on Linux and other POSIX systems.
"""

from __future__ import annotations

import csv
import functools
import gc
import hashlib
import io
import itertools
import json
import logging
import multiprocessing
import queue
import signal
import sqlite3
import threading
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from flask import Flask, current_app

from forum.extensions import db, utcnow
from forum.verification import reverification, taxonomy
from forum.verification.models import ImportStatus, RegistryImport, RegistryProvider

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 10_000
MALFORMED_EXAMPLES = 10
TAXONOMY_SLOTS = 15

# The columns kept, in the order the parser reads them (header names as CMS spells them).
NAME_COLUMNS = (
    "NPI",
    "Entity Type Code",
    "Provider Last Name (Legal Name)",
    "Provider First Name",
    "Provider Middle Name",
    "Provider Name Suffix Text",
    "Provider Credential Text",
    "Provider Organization Name (Legal Business Name)",
    "Provider Other Last Name",
    "Provider Other First Name",
    "Provider Other Middle Name",
    "Provider Business Practice Location Address State Name",
    "NPI Deactivation Date",
    "NPI Reactivation Date",
    "Last Update Date",
)
# The 15 taxonomy slots, grouped by kind: codes, primary switches, licences, licence states.
SLOT_COLUMNS = tuple(
    f"{kind}_{slot}"
    for kind in (
        "Healthcare Provider Taxonomy Code",
        "Healthcare Provider Primary Taxonomy Switch",
        "Provider License Number",
        "Provider License Number State Code",
    )
    for slot in range(1, TAXONOMY_SLOTS + 1)
)
# Current files say "Sex", older ones "Gender"; either shows the header is the one we know.
SEX_COLUMNS = ("Provider Sex Code", "Provider Gender Code")

# Column lengths of RegistryProvider, checked here so one odd row cannot fail a whole batch.
_LIMITS = (
    (2, "Provider Last Name (Legal Name)", 100),
    (3, "Provider First Name", 100),
    (4, "Provider Middle Name", 100),
    (5, "Provider Name Suffix Text", 20),
    (6, "Provider Credential Text", 50),
    (7, "Provider Organization Name (Legal Business Name)", 300),
)
# Where the slots' codes, switches, licences and licence states start among the kept fields.
_CODES = len(NAME_COLUMNS)
_SWITCHES, _LICENCES, _STATES = (_CODES + TAXONOMY_SLOTS * kind for kind in (1, 2, 3))
_EMPTY_TAILS = tuple(("",) * (TAXONOMY_SLOTS - filled) for filled in range(TAXONOMY_SLOTS + 1))
# JSON string quoting in C, as json.dumps does it.
_quote = json.encoder.encode_basestring_ascii

# The stored columns, in the order RowParser.parse returns them (import_id added when writing).
COLUMNS = (
    "npi",
    "entity_type",
    "last_name",
    "first_name",
    "middle_name",
    "name_suffix",
    "credential",
    "organisation_name",
    "other_names",
    "taxonomies",
    "practice_state",
    "deactivated_on",
    "reactivated_on",
    "last_updated_on",
    "has_physician_taxonomy",
    "row_hash",
    "import_id",
)


class RegistryError(Exception):
    """A file that cannot be imported; the message says why in the operator's words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# (line number where the record starts, its fields, the problem that makes it unreadable)
Record = tuple[int, list[str], str | None]


class MalformedRow(ValueError):
    """One row the import skips; the message names the problem, never the row's content."""


@dataclass(frozen=True)
class Progress:
    """How far an import has come, reported after each committed batch."""

    import_id: int
    rows_read: int
    rows_written: int
    rows_malformed: int
    bytes_read: int
    bytes_total: int


ProgressHook = Callable[[Progress], None]


@dataclass(frozen=True)
class ImportSummary:
    """What one run of the import did."""

    import_id: int
    file_name: str
    sha256: str
    status: str
    rows_read: int
    rows_written: int
    rows_malformed: int
    malformed_examples: list[dict[str, Any]]
    resumed_after: int  # rows an interrupted earlier run had already committed
    seconds: float
    revoked: int = 0
    reactivation_notices: int = 0


@dataclass
class _Counts:
    """The running totals stored on the RegistryImport row with each batch."""

    rows_read: int = 0
    rows_written: int = 0
    rows_malformed: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def malformed(self, line: int, problem: str) -> None:
        """Count a skipped row and keep the first few problems with their line numbers."""
        self.rows_malformed += 1
        if len(self.examples) < MALFORMED_EXAMPLES:
            self.examples.append({"line": line, "problem": problem})


# --- Reading the file ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """An opened NPPES CSV: its text stream, a name to record, and a way to tell progress."""

    text: io.TextIOWrapper
    name: str
    tell: Callable[[], int]
    size: int


def _csv_member(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    """The npidata CSV inside a CMS zip (which also holds a header-only file and others)."""
    csvs = [info for info in archive.infolist() if info.filename.lower().endswith(".csv")]
    data = [
        info
        for info in csvs
        if Path(info.filename).name.lower().startswith("npidata")
        and "fileheader" not in info.filename.lower()
    ]
    if len(data) == 1:
        return data[0]
    if len(csvs) == 1:
        return csvs[0]
    names = ", ".join(info.filename for info in csvs) or "none"
    raise RegistryError(
        f"The zip should hold one npidata_pfile CSV; its CSV files are: {names}. "
        "Extract the one you want and import it."
    )


@contextmanager
def open_source(path: Path) -> Iterator[_Source]:
    """Open a CSV, or the npidata CSV inside a zip, as a stream of text; nothing is extracted."""
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                member = _csv_member(archive)
                with archive.open(member) as raw:
                    yield _text_source(raw, f"{path.name}/{member.filename}", member.file_size)
        except (zipfile.BadZipFile, EOFError, zlib.error) as error:
            raise RegistryError(
                f"{path.name} is a damaged zip file ({type(error).__name__}: {error}); "
                "download it again."
            ) from None
        return
    if path.suffix.lower() == ".zip":
        raise RegistryError(f"{path.name} is not a readable zip file; is the download complete?")
    with path.open("rb") as raw:
        yield _text_source(raw, path.name, path.stat().st_size)


def _text_source(raw: IO[bytes], name: str, size: int) -> _Source:
    # CMS writes UTF-8; a stray byte becomes U+FFFD rather than stopping a 9 GB import.
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
    return _Source(text=text, name=name[:255], tell=raw.tell, size=size)


def file_sha256(path: Path) -> str:
    """The checksum of the file as given (the zip itself for a zip)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# --- Parsing rows -------------------------------------------------------------------------------


def _hash_seed() -> bytes:
    """Changes when the parser's output would change, so such a change rewrites every row."""
    codes = (
        ",".join(sorted(taxonomy.physician_codes())) + "|" + ",".join(sorted(taxonomy.REVIEW_CODES))
    )
    return hashlib.sha256(f"registry-row-v1|{codes}".encode()).digest()[:16]


@cache
def _from_us_date(text: str) -> str | None:
    """MM/DD/YYYY as YYYY-MM-DD, or None; cached, as a file holds a few thousand dates."""
    if len(text) == 10 and text[2] == "/" and text[5] == "/":
        iso = f"{text[6:]}-{text[:2]}-{text[3:5]}"
        try:
            date.fromisoformat(iso)
        except ValueError:
            return None
        return iso
    return None


def _iso_date(text: str, column: str) -> str:
    """MM/DD/YYYY as YYYY-MM-DD (what both databases take for a DATE), or MalformedRow."""
    iso = _from_us_date(text) if len(text) == 10 else None
    if iso is None:
        raise MalformedRow(f"{column} is not a date (MM/DD/YYYY)")
    return iso


@cache
def _slot_head(index: int, code: str, switch: str) -> str:
    """The start of one slot's JSON, up to its licence; cached, as codes repeat endlessly."""
    primary = "true" if switch.strip().upper() == "Y" else "false"
    return f'{{"slot":{index + 1},"code":{_quote(code)},"primary":{primary},'


def _too_long(kept: tuple[str, ...]) -> MalformedRow:
    """The problem with a row one of whose names is longer than its column."""
    for index, column, limit in _LIMITS:
        if len(kept[index]) > limit:
            return MalformedRow(f"{column} is longer than {limit} characters")
    return MalformedRow("a name is longer than its column")


class RowParser:
    """Turns one CSV row (a list of strings) into the values RegistryProvider stores.

    It runs once per row of a 9-million-row file, so it is written for speed: one itemgetter
    picks the kept fields, and the taxonomy JSON is assembled from C-escaped strings.
    """

    def __init__(self, header: list[str]) -> None:
        names = [name.strip() for name in header]
        positions = {name: index for index, name in enumerate(names)}
        missing = [name for name in (*NAME_COLUMNS, *SLOT_COLUMNS) if name not in positions]
        if not any(name in positions for name in SEX_COLUMNS):
            missing.append(" or ".join(SEX_COLUMNS))
        if missing:
            listed = ", ".join(f"'{name}'" for name in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise RegistryError(
                f"This is not an NPPES data file we can read: the header lacks {listed}{more}."
            )
        self.width = len(names)
        kept = [positions[name] for name in (*NAME_COLUMNS, *SLOT_COLUMNS)]
        self.needed = max(kept) + 1  # fields a row must be split into for parse()
        self._pick = itemgetter(*kept)
        self._seed = _hash_seed()
        self._physician_codes = frozenset(
            code for code in taxonomy.physician_codes() if taxonomy.is_physician_code(code)
        )

    def parse(self, row: list[str]) -> tuple[Any, ...]:
        """The stored values (without import_id), or MalformedRow naming what is wrong.

        `row` holds at least the fields up to the last kept column (see records()).
        """
        kept: tuple[str, ...] = self._pick(row)
        npi, entity, last, first, middle, suffix, credential, organisation = kept[:8]
        if len(npi) != 10 or not npi.isdigit() or not npi.isascii():
            raise MalformedRow("NPI is not 10 digits")
        if entity not in ("1", "2", ""):
            raise MalformedRow("Entity Type Code is neither 1 nor 2")
        if (
            len(last) > 100
            or len(first) > 100
            or len(middle) > 100
            or len(suffix) > 20
            or len(credential) > 50
            or len(organisation) > 300
        ):
            raise _too_long(kept)
        joined = "\x1f".join(kept)
        if "\x00" in joined:  # PostgreSQL text cannot hold it
            raise MalformedRow("a field holds a NUL character")
        deactivated, reactivated, updated = kept[12], kept[13], kept[14]
        state = kept[11].strip()
        taxonomies, physician = self._slots(kept)
        return (
            npi,
            int(entity) if entity else None,
            last.strip() or None,
            first.strip() or None,
            middle.strip() or None,
            suffix.strip() or None,
            credential.strip() or None,
            organisation.strip() or None,
            self._other_names(kept) if kept[8] or kept[9] or kept[10] else "[]",
            taxonomies,
            # Foreign practice addresses carry a province name here; only US codes are kept.
            state.upper() if len(state) == 2 else None,
            _iso_date(deactivated, "NPI Deactivation Date") if deactivated else None,
            _iso_date(reactivated, "NPI Reactivation Date") if reactivated else None,
            _iso_date(updated, "Last Update Date") if updated else None,
            physician,
            hashlib.blake2b(joined.encode(), digest_size=16, key=self._seed).hexdigest(),
        )

    def _slots(self, kept: tuple[str, ...]) -> tuple[str, bool]:
        """The filled taxonomy slots as JSON, and whether any holds a physician code."""
        codes = kept[_CODES:_SWITCHES]
        # Slots are nearly always filled from the first on: look only at those.
        filled = codes.index("") if "" in codes else TAXONOMY_SLOTS
        if codes[filled:] == _EMPTY_TAILS[filled]:
            indices: Iterable[int] = range(filled)
        else:
            indices = [index for index, code in enumerate(codes) if code]
        slots = []
        physician = False
        for index in indices:
            code = codes[index].strip().upper()
            physician = physician or code in self._physician_codes
            licence = kept[_LICENCES + index].strip()
            state = kept[_STATES + index].strip().upper()
            slots.append(
                _slot_head(index, code, kept[_SWITCHES + index])
                + f'"licence":{_quote(licence) if licence else "null"},'
                + f'"state":{_quote(state) if state else "null"}}}'
            )
        return "[" + ",".join(slots) + "]", physician

    @staticmethod
    def _other_names(kept: tuple[str, ...]) -> str:
        """The other (former) name as a JSON list, empty parts dropped."""
        parts = {"first": kept[9].strip(), "middle": kept[10].strip(), "last": kept[8].strip()}
        return json.dumps([{key: value for key, value in parts.items() if value}])


def records(text: Iterator[str], width: int, needed: int) -> Iterator[Record]:
    """The records after the header: (line number, fields, problem), one per row read.

    CMS quotes every field and (nearly) no value holds a quote or a line break, so a line
    that starts and ends with a quote, has exactly two quotes a field and width - 1 '","'
    separators is exactly '"' + '","'.join(fields) + '"': splitting it is what the csv module
    would read, only faster, and it stops after the `needed` fields the import keeps. Any other
    line (escaped quotes, a field spanning lines, a wrong field count) goes to the csv module.
    Blank lines come as empty field lists.
    """
    quotes, separators = 2 * width, width - 1
    line_number = 1  # the header's
    for line in text:
        line_number += 1
        plain = line.rstrip("\r\n")
        if (
            plain[:1] == '"'
            and plain[-1:] == '"'
            and plain.count('"') == quotes
            and plain.count('","') == separators
        ):
            yield line_number, plain[1:-1].split('","', needed), None
            continue
        reader = csv.reader(itertools.chain((line,), text))
        try:
            fields = next(reader)
        except csv.Error as error:
            yield line_number, [], f"unreadable CSV ({error})"
        else:
            if fields and len(fields) != width:
                yield line_number, [], f"expected {width} fields, found {len(fields)}"
            else:
                yield line_number, fields, None
        line_number += reader.line_num - 1  # the lines a quoted field spanned


# --- Writing batches ----------------------------------------------------------------------------

_DATA_COLUMNS = ", ".join(COLUMNS[:-1])
_ALL_COLUMNS = ", ".join(COLUMNS)
_UPDATES = ", ".join(f"{column} = excluded.{column}" for column in COLUMNS if column != "npi")
# Rewrite only what changed, and never with an older record than the one held (a file imported
# out of order): NPPES dates are ISO text on SQLite, which compares like a date.
_UPSERT = (
    f" ON CONFLICT (npi) DO UPDATE SET {_UPDATES}"
    " WHERE excluded.row_hash <> registry_provider.row_hash"
    " AND (excluded.last_updated_on IS NULL OR registry_provider.last_updated_on IS NULL"
    " OR excluded.last_updated_on >= registry_provider.last_updated_on)"
)
# SQLite keeps 2 MB of pages by default; the NPI index of 9 million rows wants more.
_SQLITE_CACHE_KIB = 32_768


def _by_npi(row: tuple[Any, ...]) -> str:
    return str(row[0])


def _sqlite_upsert(rows: int, import_id: int) -> str:
    """One INSERT of `rows` rows that rewrites only changed ones."""
    row = "(" + ", ".join("?" for _ in COLUMNS[:-1]) + f", {int(import_id)})"
    # Only constants and an integer are interpolated; the values travel as parameters.
    return (
        f"INSERT INTO registry_provider ({_ALL_COLUMNS}) VALUES "  # noqa: S608
        + ", ".join(itertools.repeat(row, rows))
        + _UPSERT
    )


def _prepare_sqlite(rows: list[tuple[Any, ...]]) -> list[Any]:
    """The batch's values in one flat list, as multi-row statements take them."""
    ordered = sorted(rows, key=_by_npi)  # B-tree inserts in key order touch fewer pages
    return list(itertools.chain.from_iterable(ordered))


def _store_sqlite(dbapi: Any, values: list[Any], import_id: int) -> int:
    """Multi-row upserts; returns the rows inserted or changed.

    Hundreds of rows a statement rather than executemany's one: the sqlite3 module lets go of
    the interpreter lock around every statement it steps, and taking it back for every row
    would make this thread queue behind the rest of the process.
    """
    width = len(COLUMNS) - 1
    limit = dbapi.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per_statement = max(1, min(500, limit // width))
    full = _sqlite_upsert(per_statement, import_id)
    written = 0
    cursor = dbapi.cursor()
    try:
        cursor.execute(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
        # Checkpoint the WAL every ~40 MB rather than 4: each batch rewrites many pages.
        cursor.execute("PRAGMA wal_autocheckpoint = 10000")
        for start in range(0, len(values), per_statement * width):
            chunk = values[start : start + per_statement * width]
            rows = len(chunk) // width
            statement = full if rows == per_statement else _sqlite_upsert(rows, import_id)
            cursor.execute(statement, chunk)
            written += max(int(cursor.rowcount), 0)
        return written
    finally:
        cursor.close()


# How psycopg sends each staged column (text format): ints and booleans as such, all else text.
_COPY_TYPES = ["text", "int2", *["text"] * 12, "bool", "text"]


def _store_postgresql(dbapi: Any, rows: list[tuple[Any, ...]], import_id: int) -> int:
    """COPY into a staging table dropped at commit, then one INSERT ... ON CONFLICT."""
    with dbapi.cursor() as cursor:
        # The import can redo a lost batch (it resumes), so it need not wait for the WAL flush.
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("CREATE TEMP TABLE registry_stage (LIKE registry_provider) ON COMMIT DROP")
        with cursor.copy(f"COPY registry_stage ({_DATA_COLUMNS}) FROM STDIN") as copy:
            # Declared types let psycopg format each row in C; the server parses the text
            # of the dates and JSON as its columns' types.
            copy.set_types(_COPY_TYPES)
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO registry_provider ({_ALL_COLUMNS}) "  # noqa: S608 - constants only
            f"SELECT {_DATA_COLUMNS}, {int(import_id)} FROM registry_stage" + _UPSERT
        )
        return max(int(cursor.rowcount), 0)


def _in_npi_order(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows in NPI order, so the index takes them in order; COPY formats them itself."""
    return sorted(rows, key=_by_npi)


@dataclass(frozen=True)
class _Driver:
    """How one database takes a batch: prepared by the importing thread, stored by the writer."""

    prepare: Callable[[list[tuple[Any, ...]]], Any]
    store: Callable[[Any, Any, int], int]


_DRIVERS = {
    "sqlite": _Driver(_prepare_sqlite, _store_sqlite),
    "postgresql": _Driver(_in_npi_order, _store_postgresql),
}


def _driver_for(dialect: str) -> _Driver:
    try:
        return _DRIVERS[dialect]
    except KeyError:
        raise RegistryError(
            f"The registry import supports SQLite and PostgreSQL, not {dialect}."
        ) from None


# --- The import ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Batch:
    """Parsed rows, and the import's totals once they are stored."""

    rows: list[tuple[Any, ...]]
    rows_read: int
    rows_malformed: int
    malformed_examples: list[dict[str, Any]]
    bytes_read: int


class _BatchWriter:
    """Stores batches on a thread of its own while the next one is received and prepared.

    The database's share of the work (SQLite's B-tree, PostgreSQL's server) runs without the
    interpreter lock, so it overlaps the rest. Each batch is committed with the import's
    progress, so whatever has been committed is exactly what a resumed run skips.
    """

    def __init__(
        self,
        app: Flask,
        driver: _Driver,
        import_id: int,
        written: int,
        size: int,
        on_batch: ProgressHook | None,
    ) -> None:
        self.app = app
        self.driver = driver
        self.import_id = import_id
        self.rows_written = written
        self.size = size
        self.on_batch = on_batch
        self.error: BaseException | None = None
        self.queue: queue.Queue[tuple[_Batch, Any] | None] = queue.Queue(maxsize=1)
        self.thread = threading.Thread(target=self._work, name="registry-import", daemon=True)
        self.thread.start()

    def submit(self, batch: _Batch | None) -> None:
        """Hand a batch over (None: no more), raising what the writer failed with."""
        item = None if batch is None else (batch, self.driver.prepare(batch.rows))
        while True:
            self._raise_failure()
            try:
                self.queue.put(item, timeout=0.2)
            except queue.Full:
                continue
            return

    def finish(self) -> None:
        """Wait until every batch is stored."""
        self.submit(None)
        self.thread.join()
        self._raise_failure()

    def abort(self) -> None:
        """Stop after the batch being stored, if any (the main thread is failing)."""
        while self.thread.is_alive():
            try:
                self.queue.put(None, timeout=0.2)
            except queue.Full:
                continue
            break
        self.thread.join()

    def _raise_failure(self) -> None:
        if self.error is not None:
            raise self.error

    def _work(self) -> None:
        with self.app.app_context():
            try:
                while (item := self.queue.get()) is not None:
                    self._store(*item)
            except BaseException as error:  # handed to the main thread, which re-raises it
                db.session.rollback()
                self.error = error
            finally:
                db.session.remove()

    def _store(self, batch: _Batch, prepared: Any) -> None:
        connection = db.session.connection()
        written = self.driver.store(
            connection.connection.dbapi_connection, prepared, self.import_id
        )
        db.session.execute(
            sa.update(RegistryImport)
            .where(RegistryImport.id == self.import_id)
            .values(
                rows_read=batch.rows_read,
                rows_written=self.rows_written + written,
                rows_malformed=batch.rows_malformed,
                malformed_examples=batch.malformed_examples,
            )
        )
        db.session.commit()
        self.rows_written += written
        if self.on_batch is not None:
            self.on_batch(
                Progress(
                    self.import_id,
                    batch.rows_read,
                    self.rows_written,
                    batch.rows_malformed,
                    batch.bytes_read,
                    self.size,
                )
            )


def _header(text: Iterator[str]) -> list[str]:
    try:
        return next(csv.reader(text))
    except StopIteration:
        raise RegistryError("The file is empty: it has no header line.") from None
    except csv.Error as error:
        raise RegistryError(f"The header line is not CSV ({error}).") from None


def _start(name: str, size: int, sha256: str) -> tuple[int, _Counts]:
    """Resume an unfinished import of the same file, or record a new one."""
    record = db.session.scalar(
        sa.select(RegistryImport)
        .where(
            RegistryImport.sha256 == sha256,
            RegistryImport.status.in_([ImportStatus.RUNNING, ImportStatus.FAILED]),
        )
        .order_by(RegistryImport.id.desc())
        .limit(1)
    )
    if record is None:
        record = RegistryImport(
            file_name=name,
            sha256=sha256,
            file_size=size,
            status=ImportStatus.RUNNING,
            rows_read=0,
            rows_written=0,
            rows_malformed=0,
            malformed_examples=[],
        )
        db.session.add(record)
        counts = _Counts()
    else:
        record.status = ImportStatus.RUNNING
        record.error = None
        counts = _Counts(
            record.rows_read,
            record.rows_written,
            record.rows_malformed,
            list(record.malformed_examples or []),
        )
    db.session.flush()
    import_id = record.id
    # Committed without reading anything back: on SQLite a read after the commit would open a
    # transaction holding the write lock the batch writer's thread needs.
    db.session.commit()
    return import_id, counts


def _skip(rows: Iterator[Record], count: int) -> None:
    """Read past the rows an interrupted run already committed."""
    skipped = sum(1 for _ in itertools.islice(rows, count))
    if skipped < count:
        raise RegistryError("The file is shorter than the interrupted import it resumes.")


def _read(
    rows: Iterator[Record],
    parser: RowParser,
    counts: _Counts,
    source: _Source,
    send: Callable[[_Batch], None],
    size: int,
) -> None:
    """Parse every remaining row, sending a batch every `size` rows."""
    batch: dict[str, tuple[Any, ...]] = {}
    pending = 0
    parse = parser.parse

    def hand_over() -> None:
        counts.rows_read += pending
        send(
            _Batch(
                list(batch.values()),
                counts.rows_read,
                counts.rows_malformed,
                list(counts.examples),
                source.tell(),
            )
        )

    for line, fields, problem in rows:
        pending += 1
        if problem is not None:
            counts.malformed(line, problem)
        elif fields:  # a blank line is read past, not reported
            try:
                values = parse(fields)
            except MalformedRow as malformed:
                counts.malformed(line, str(malformed))
            else:
                # The last record of an NPI in a batch wins, as it would across batches.
                batch[values[0]] = values
        if pending >= size:
            hand_over()
            batch, pending = {}, 0
    if pending:
        hand_over()


def _produce(path: Path, counts: _Counts, size: int, send: Callable[[_Batch], None]) -> None:
    """Read the rows after those already committed, sending parsed batches."""
    with open_source(path) as source:
        parser = RowParser(_header(source.text))
        rows = records(source.text, parser.width, parser.needed)
        _skip(rows, counts.rows_read)
        _read(rows, parser, counts, source, send, size)


@dataclass(frozen=True)
class _ReaderFailure:
    """Why the reader process stopped: a RegistryError's message, or an exception's type."""

    message: str | None
    kind: str

    def error(self) -> Exception:
        if self.message is not None:
            return RegistryError(self.message)
        return RuntimeError(f"The registry file reader failed ({self.kind}).")


def _reader_main(
    produce: Callable[[Callable[[Any], None]], None], sender: Any, receiver: Any
) -> None:
    """The reader process: parse the file into the pipe, then None (or a _ReaderFailure)."""
    # Only the importing process reads: with its end closed here, the pipe breaks if it dies.
    receiver.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the importing process
    # What the parent had (database connections among it) is never collected here, so nothing
    # of the parent's is closed or finalised by this process.
    gc.freeze()
    try:
        produce(sender.send)
        sender.send(None)
    except BrokenPipeError:
        pass  # the importing process is gone (killed): nobody is left to tell
    except RegistryError as error:
        sender.send(_ReaderFailure(error.message, "RegistryError"))
    except Exception as error:  # handed to the importing process, which records it
        sender.send(_ReaderFailure(None, type(error).__name__))
    finally:
        sender.close()


class _ReaderProcess:
    """Reads and parses the file in a forked process, so that parsing and storing use two cores.

    Parsing is pure Python and holds the interpreter lock; in a thread of this process it would
    leave the writer (and the database driver) waiting for it.
    """

    def __init__(self, produce: Callable[[Callable[[Any], None]], None]) -> None:
        context = multiprocessing.get_context("fork")
        self._receiver, sender = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_reader_main,
            args=(produce, sender, self._receiver),
            name="registry-reader",
            daemon=True,
        )
        with warnings.catch_warnings():
            # Python 3.12+ warns when a process with threads forks. The child only reads a
            # file and writes to a pipe: it takes no lock another thread could be holding.
            warnings.simplefilter("ignore", DeprecationWarning)
            self._process.start()
        sender.close()

    def batches(self) -> Iterator[_Batch]:
        """The parsed batches, in file order."""
        while True:
            try:
                message = self._receiver.recv()
            except EOFError:
                raise RuntimeError("The registry file reader stopped unexpectedly.") from None
            if message is None:
                return
            if isinstance(message, _ReaderFailure):
                raise message.error()
            yield message

    def close(self) -> None:
        """Stop the reader if it is still going."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._receiver.close()


def _finish(import_id: int, status: ImportStatus, error: str | None = None) -> None:
    db.session.execute(
        sa.update(RegistryImport)
        .where(RegistryImport.id == import_id)
        .values(status=status, error=error, finished_at=utcnow())
    )
    db.session.commit()


def _pump(reader: _ReaderProcess, writer: _BatchWriter, counts: _Counts) -> _Counts:
    """Hand the reader's batches to the writer; the totals of the last one stored."""
    for batch in reader.batches():
        writer.submit(batch)
        counts = _Counts(batch.rows_read, 0, batch.rows_malformed, batch.malformed_examples)
    writer.finish()
    return counts


def import_file(
    path: Path | str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: ProgressHook | None = None,
) -> ImportSummary:
    """Import an NPPES CSV or CMS zip into the registry copy; resumes an interrupted import."""
    path = Path(path)
    began = time.monotonic()
    driver = _driver_for(db.session.get_bind().dialect.name)  # refuse others before reading
    sha256 = file_sha256(path)
    with open_source(path) as source:  # the header is checked before anything is recorded
        RowParser(_header(source.text))
        name, size = source.name, source.size
    import_id, counts = _start(name, path.stat().st_size, sha256)
    resumed_after = counts.rows_read
    log.info("Registry import %s %s", import_id, "resumed" if resumed_after else "started")
    reader = _ReaderProcess(functools.partial(_produce, path, counts, batch_size))
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    writer = _BatchWriter(app, driver, import_id, counts.rows_written, size, on_batch)
    try:
        counts = _pump(reader, writer, counts)
    except Exception as error:
        writer.abort()
        db.session.rollback()
        _finish(import_id, ImportStatus.FAILED, type(error).__name__)
        log.warning("Registry import %s failed: %s", import_id, type(error).__name__)
        raise
    except BaseException:
        writer.abort()  # interrupted: it stays running, and the next run resumes it
        db.session.rollback()
        raise
    finally:
        reader.close()
    _finish(import_id, ImportStatus.COMPLETE)
    # Safe after any batch, but run once at the end: a member's access closes as soon as the
    # import that deactivated their NPI is complete (or, interrupted, when its rerun is).
    outcome = reverification.after_import(import_id)
    log.info("Registry import %s complete: %s rows written", import_id, writer.rows_written)
    return ImportSummary(
        import_id=import_id,
        file_name=name,
        sha256=sha256,
        status=ImportStatus.COMPLETE,
        rows_read=counts.rows_read,
        rows_written=writer.rows_written,
        rows_malformed=counts.rows_malformed,
        malformed_examples=list(counts.examples),
        resumed_after=resumed_after,
        seconds=time.monotonic() - began,
        revoked=outcome.revoked,
        reactivation_notices=outcome.reactivation_notices,
    )


# --- Lookup -------------------------------------------------------------------------------------


def find_provider(npi: str) -> RegistryProvider | None:
    """The copy's record of an NPI, if the registry has it."""
    return db.session.get(RegistryProvider, npi)


def describe(provider: RegistryProvider) -> dict[str, Any]:
    """What the copy holds for an NPI, with the verdicts matching relies on (JSON-ready)."""
    return {
        "npi": provider.npi,
        "entity_type": provider.entity_type,
        "last_name": provider.last_name,
        "first_name": provider.first_name,
        "middle_name": provider.middle_name,
        "name_suffix": provider.name_suffix,
        "credential": provider.credential,
        "organisation_name": provider.organisation_name,
        "other_names": provider.other_names,
        "taxonomies": provider.taxonomies,
        "primary_taxonomy": provider.primary_taxonomy,
        "practice_state": provider.practice_state,
        "deactivated_on": _iso(provider.deactivated_on),
        "reactivated_on": _iso(provider.reactivated_on),
        "last_updated_on": _iso(provider.last_updated_on),
        "active": provider.is_active,
        "individual": provider.is_individual,
        "physician": provider.has_physician_taxonomy,
        "active_individual_physician": provider.is_active_physician,
        "import_id": provider.import_id,
    }


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def latest_import() -> RegistryImport | None:
    """The most recent import, finished or not."""
    return db.session.scalar(sa.select(RegistryImport).order_by(RegistryImport.id.desc()).limit(1))

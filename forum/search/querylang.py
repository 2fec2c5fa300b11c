"""What a member types in the search box, turned into a core.ParsedQuery.

The language:

    warfarin bleeding         both words (everything is AND)
    "heart failure"           the words together, in this order (straight or curly quotes)
    cardio*                   any word starting with "cardio" (at least MIN_PREFIX_CHARS letters
                              before the star; "c*" searches the plain word "c")
    AF OR flutter             either; "|" works too. OR joins only its two neighbours:
                              `a b OR c` is a AND (b OR c)
    -smoking  -"heart failure"  leave out posts with these (NOT smoking works too)
    AND                       accepted and ignored, since everything is AND anyway

Words are core.words() tokens, so "covid-19" is the phrase ("covid", "19") and "140/90" the
phrase ("140", "90"). A star only works at the end of a single word: in "heart-fail*" it is
ignored. Medical synonyms from data/synonyms.tsv are added as alternatives both ways (MI finds
"myocardial infarction" and back), also for left-out clauses, and consecutive unquoted words that
form a multi-word synonym ("myocardial infarction troponin") become that phrase and its synonyms.

Nothing raises: unbalanced quotes quote the rest of the text, operators without words are
dropped, control characters are removed, and the text is cut to MAX_CHARS characters and
MAX_CLAUSES words or phrases.

API:

    parse(text) -> Parsed                .query (the core.ParsedQuery for Backend.search),
                                         .notices to show beside the results (the search still
                                         runs), .error when there is nothing to search
    problem(text, parsed) -> str | None  the error message for a ParsedQuery, or None
    synonyms() -> Synonyms               the validated synonym table (loaded once)
    load_synonyms(path) -> Synonyms      read and validate a table; SynonymError on a bad line
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final, Literal, TypeVar

from forum.search.core import Clause, ParsedQuery, Phrase, Term, words

MAX_CHARS: Final = 500  # longer text is cut (at a word boundary when there is one)
MAX_CLAUSES: Final = 24  # words and phrases a member typed, before synonyms are added
MIN_PREFIX_CHARS: Final = 2  # "c*" would make the index expand every word starting with c
# Text beyond this is not even looked at: cleaning a megabyte to keep 500 characters is waste.
MAX_RAW_CHARS: Final = MAX_CHARS * 8

SYNONYMS_FILE: Final = Path(__file__).resolve().parent / "data" / "synonyms.tsv"

NOTHING_TYPED: Final = "Type at least one word to search for."
ONLY_OPERATORS: Final = (
    "Type at least one word to search for: OR, -, * and quotes only work together with words."
)
ONLY_EXCLUDED: Final = "A search needs at least one word to find, not only words to leave out."
SHORTENED: Final = f"Your search was shortened to its first {MAX_CHARS} characters."
TOO_MANY_CLAUSES: Final = f"Your search used only its first {MAX_CLAUSES} words and phrases."

LAST_WORD: Final = re.compile(r"\S+$")
QUOTES: Final = frozenset('"“”„‟')
OR_WORD: Final = "OR"
NOT_WORD: Final = "NOT"
AND_WORD: Final = "AND"
Key = tuple[str, ...]  # a clause as the words it stands for
_T = TypeVar("_T")


@dataclass(frozen=True)
class Parsed:
    """A query as the page needs it: `error` set means nothing can be searched; `notices` are
    shown beside the results (the search still runs)."""

    query: ParsedQuery
    notices: tuple[str, ...] = ()
    error: str | None = None


def parse(text: str) -> Parsed:
    """What a member typed as a query, with the notices and the error the page should show."""
    cleaned, shortened = _clean(text)
    pieces = _lex(cleaned)
    pieces, dropped = _limit(pieces)
    query = _build(_merge_synonym_runs(pieces))
    notices = [SHORTENED] if shortened else []
    if dropped:
        notices.append(TOO_MANY_CLAUSES)
    return Parsed(query, tuple(notices), problem(cleaned, query))


def problem(text: str, parsed: ParsedQuery) -> str | None:
    """Why `parsed` cannot search anything, in one line for the page, or None if it can.

    `text` is what the member typed: it tells "typed nothing" from "typed only operators"."""
    if not parsed.empty:
        return None
    if parsed.excluded:
        return ONLY_EXCLUDED
    return ONLY_OPERATORS if text.strip() else NOTHING_TYPED


# --- cleaning -----------------------------------------------------------------------------------


def _clean(text: str) -> tuple[str, bool]:
    """Drop control and invisible characters and cut to MAX_CHARS; True when it was cut."""
    kept = "".join(_clean_chars(text[:MAX_RAW_CHARS]))
    if len(kept) <= MAX_CHARS and len(text) <= MAX_RAW_CHARS:
        return kept, False
    cut = kept[:MAX_CHARS]
    if len(kept) > MAX_CHARS and not kept[MAX_CHARS].isspace():
        partial = LAST_WORD.search(cut)  # don't search a word cut in half
        if partial and cut[: partial.start()].strip():
            cut = cut[: partial.start()]
    return cut, True


def _clean_chars(text: str) -> Iterator[str]:
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc":  # tabs, newlines, NUL: separators at most
            yield " "
        elif category not in ("Cf", "Cs"):  # zero-width marks; lone surrogates can't be stored
            yield char


# --- lexing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    """A word or quoted phrase as typed, already split into core.words() tokens."""

    tokens: Key
    excluded: bool = False
    quoted: bool = False
    prefix: bool = False

    @property
    def plain(self) -> bool:
        """Can join neighbours to form a multi-word synonym."""
        return not (self.excluded or self.quoted or self.prefix)


_Or = Literal["OR"]
_Piece = _Item | _Or


def _lex(text: str) -> list[_Piece]:
    """Split into items and OR markers; drops items without tokens and dangling operators."""
    pieces: list[_Piece] = []
    exclude_next = False
    position = 0
    while position < len(text):
        char = text[position]
        if char.isspace():
            position += 1
        elif char == "|":
            pieces.append(OR_WORD)
            exclude_next = False
            position += 1
        elif char == "-" and _starts_item(text, position):
            exclude_next = True
            position = _skip_dashes(text, position)
        elif char in QUOTES:
            content, position = _quoted(text, position)
            _append(pieces, _Item(tuple(words(content)), exclude_next, quoted=True))
            exclude_next = False
        else:
            end = _word_end(text, position)
            raw = text[position:end]
            position = end
            if not exclude_next and raw in (OR_WORD, AND_WORD, NOT_WORD):
                if raw == OR_WORD:
                    pieces.append(OR_WORD)
                exclude_next = raw == NOT_WORD
                continue
            _append(pieces, _Item(tuple(words(raw)), exclude_next, prefix=raw.endswith("*")))
            exclude_next = False
    return pieces


def _append(pieces: list[_Piece], item: _Item) -> None:
    if item.tokens:
        pieces.append(item)


def _starts_item(text: str, position: int) -> bool:
    """A "-" excludes only when a word or quote follows it directly ("- x" is just x)."""
    after = _skip_dashes(text, position)
    return after < len(text) and not text[after].isspace() and text[after] != "|"


def _skip_dashes(text: str, position: int) -> int:
    while position < len(text) and text[position] == "-":
        position += 1
    return position


def _quoted(text: str, position: int) -> tuple[str, int]:
    """The text up to the closing quote (any kind), or to the end when it is never closed."""
    start = position + 1
    end = start
    while end < len(text) and text[end] not in QUOTES:
        end += 1
    return text[start:end], end + 1


def _word_end(text: str, position: int) -> int:
    while position < len(text) and not (
        text[position].isspace() or text[position] in QUOTES or text[position] == "|"
    ):
        position += 1
    return position


def _limit(pieces: list[_Piece]) -> tuple[list[_Piece], bool]:
    """Keep the first MAX_CLAUSES items; True when some were dropped."""
    kept: list[_Piece] = []
    count = 0
    for piece in pieces:
        if isinstance(piece, _Item):
            if count == MAX_CLAUSES:
                return kept, True
            count += 1
        kept.append(piece)
    return kept, False


# --- building the query ------------------------------------------------------------------------


def _merge_synonym_runs(pieces: list[_Piece]) -> list[_Piece]:
    """Consecutive plain items that spell a multi-word synonym become one phrase item, longest
    first: "myocardial infarction troponin" -> "myocardial infarction", troponin."""
    table = synonyms()
    merged: list[_Piece] = []
    index = 0
    while index < len(pieces):
        end = _longest_entry(pieces, index, table)
        if end is None:
            merged.append(pieces[index])
            index += 1
            continue
        tokens = tuple(t for p in pieces[index:end] if isinstance(p, _Item) for t in p.tokens)
        merged.append(_Item(tokens))
        index = end
    return merged


def _longest_entry(pieces: list[_Piece], start: int, table: Synonyms) -> int | None:
    """The end of the longest run of 2+ plain items from `start` that is a synonym entry."""
    tokens: list[str] = []
    best: int | None = None
    for end in range(start, len(pieces)):
        piece = pieces[end]
        if not isinstance(piece, _Item) or not piece.plain:
            break
        tokens.extend(piece.tokens)
        if len(tokens) > table.longest:
            break
        if end > start and tuple(tokens) in table.index:
            best = end + 1
    return best


def _build(pieces: list[_Piece]) -> ParsedQuery:
    """Group items (OR joins a clause to the group before it), then add synonyms."""
    groups: list[list[Clause]] = []
    excluded: list[Clause] = []
    after_included = False  # the last item was an included clause: an OR may join it
    join = False  # an OR stands between that clause and this item
    for piece in pieces:
        if not isinstance(piece, _Item):
            join = after_included
            continue
        clause = _clause(piece)
        if piece.excluded:
            excluded.append(clause)
        elif join:
            groups[-1].append(clause)
        else:
            groups.append([clause])
        after_included = not piece.excluded
        join = False
    expanded = _unique(tuple(_unique(_expand(group))) for group in groups)
    return ParsedQuery(groups=tuple(expanded), excluded=tuple(_unique(_expand(excluded))))


def _clause(item: _Item) -> Clause:
    if len(item.tokens) > 1:
        return Phrase(item.tokens)
    word = item.tokens[0]
    return Term(word, prefix=item.prefix and len(word) >= MIN_PREFIX_CHARS)


def _expand(clauses: Iterable[Clause]) -> Iterator[Clause]:
    """Each clause, followed by its synonyms (prefixes have none)."""
    table = synonyms()
    for clause in clauses:
        yield clause
        if isinstance(clause, Term) and clause.prefix:
            continue
        for entry in table.alternatives(_key(clause)):
            yield Term(entry[0]) if len(entry) == 1 else Phrase(entry)


def _key(clause: Clause) -> Key:
    return (clause.text,) if isinstance(clause, Term) else clause.words


def _unique(items: Iterable[_T]) -> list[_T]:
    return list(dict.fromkeys(items))


# --- synonyms ----------------------------------------------------------------------------------


class SynonymError(ValueError):
    """The synonym table has a line that would make searches wrong or ambiguous."""


@dataclass(frozen=True)
class Synonyms:
    """Sets of equivalent entries, each entry as its core.words() tokens."""

    sets: tuple[tuple[Key, ...], ...]
    index: Mapping[Key, int]  # entry -> position of its set in `sets`
    longest: int  # tokens in the longest entry: how far a run of words needs to be checked

    def alternatives(self, key: Key) -> tuple[Key, ...]:
        """The other entries of the set holding `key` (none when it is in no set)."""
        position = self.index.get(key)
        if position is None:
            return ()
        return tuple(entry for entry in self.sets[position] if entry != key)


def load_synonyms(path: Path) -> Synonyms:
    """Read a table: one set per line, entries separated by tabs, "#" starts a comment line.

    Raises SynonymError for an empty entry, a set of one, or an entry (compared as words) that
    appears twice: in two sets it would chain unrelated meanings together."""
    sets: list[tuple[Key, ...]] = []
    index: dict[Key, int] = {}
    lines: list[int] = []  # line number of each set, for error messages
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        entries = _entries(line, number)
        for entry in entries:
            if entry in index:
                where = lines[index[entry]]
                raise SynonymError(f"line {number}: {' '.join(entry)!r} is already on line {where}")
            index[entry] = len(sets)
        sets.append(entries)
        lines.append(number)
    return Synonyms(tuple(sets), index, max((len(key) for key in index), default=0))


def _entries(line: str, number: int) -> tuple[Key, ...]:
    entries: list[Key] = []
    for raw in line.split("\t"):
        tokens = tuple(words(raw))
        if not tokens:
            raise SynonymError(f"line {number}: an empty entry ({raw!r})")
        if tokens in entries:
            raise SynonymError(f"line {number}: {raw!r} appears twice")
        entries.append(tokens)
    if len(entries) < 2:
        raise SynonymError(f"line {number}: a set needs at least two entries")
    return tuple(entries)


@cache
def synonyms() -> Synonyms:
    """The project's synonym table (data/synonyms.tsv), read once per process."""
    return load_synonyms(SYNONYMS_FILE)

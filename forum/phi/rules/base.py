"""Shared pieces of the rules: the scanned text with its candidate tokens, and finding wording.

Speed matters (every draft is checked as it is typed), so the text is passed over twice: once
for tokens that start with a digit and once for capitalised words. Each rule then tries its
patterns anchored at those tokens, or runs a full search only when a cheap substring test says
it could match.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from forum.phi.findings import Action, Finding, Kind
from forum.phi.knowledge import MONTHS, Lexicon
from forum.phi.rules.lexical import classify

# What each kind of identifier is, in a physician's words, and how to write around it.
REASONS: dict[Kind, tuple[str, str]] = {
    Kind.NAME: (
        "A person's name identifies the patient or someone close to them.",
        "Remove the name; say 'the patient', 'her husband' or use initials-free wording.",
    ),
    Kind.DATE: (
        "A date more specific than the year can identify the patient.",
        "Write relative time instead, e.g. 'day 3', 'POD 2' or '2 weeks ago'; a year alone "
        "is fine.",
    ),
    Kind.AGE_OVER_89: (
        "Ages over 89 are rare enough to identify a patient.",
        "Use an age band such as '90 or older'.",
    ),
    Kind.PHONE: ("A telephone number identifies a person.", "Remove the number."),
    Kind.FAX: ("A fax number identifies a person or practice.", "Remove the number."),
    Kind.EMAIL: ("An e-mail address identifies a person.", "Remove the address."),
    Kind.SSN: ("A Social Security number identifies the patient.", "Remove it entirely."),
    Kind.MRN: (
        "A medical record or accession number identifies the patient.",
        "Remove it; say 'the chart' or 'the specimen' instead.",
    ),
    Kind.HEALTH_PLAN: (
        "An insurance, Medicare or Medicaid member number identifies the patient.",
        "Remove it; name the type of coverage only (e.g. 'Medicare Advantage').",
    ),
    Kind.ACCOUNT: ("An account or billing number identifies the patient.", "Remove it."),
    Kind.LICENSE: ("A licence or certificate number identifies a person.", "Remove it."),
    Kind.VEHICLE: ("A licence plate or VIN identifies a person.", "Remove it."),
    Kind.DEVICE: (
        "A device serial number can be traced to the patient.",
        "Name the device type and model family only.",
    ),
    Kind.URL: (
        "A link that is not to a paper, registry or guideline may identify the patient.",
        "Remove the link, or cite PubMed, a DOI, ClinicalTrials.gov or the guideline instead.",
    ),
    Kind.IP: ("An IP address can be traced to a person.", "Remove it."),
    Kind.ADDRESS: (
        "A street address identifies the patient.",
        "Remove it; say 'lives alone at home' or give the state only.",
    ),
    Kind.CITY: (
        "A town or city (anything smaller than a state) can place the patient.",
        "Give the state or region only, e.g. 'a rural town in the Midwest'.",
    ),
    Kind.ZIP: (
        "A ZIP code places the patient.",
        "Remove it; say 'rural' or 'urban', or give the state.",
    ),
    Kind.OTHER_ID: (
        "This looks like an identifying number or code.",
        "Remove it, or say what kind of code it is if it is not about a person.",
    ),
}


def finding(
    start: int,
    end: int,
    kind: Kind,
    action: Action = Action.BLOCK,
    reason: str = "",
    suggestion: str = "",
) -> Finding:
    """A finding with the kind's standard wording unless a more specific one is given."""
    default_reason, default_suggestion = REASONS[kind]
    return Finding.make(
        start, end, kind, action, reason or default_reason, suggestion or default_suggestion
    )


UPPER = "".join(c for c in map(chr, range(0x41, 0x250)) if c.isupper() and c.isalpha())
LOWER = "".join(c for c in map(chr, range(0x61, 0x250)) if c.islower() and c.isalpha())
# A token that starts with a digit, trailing punctuation left off ("5.9." -> "5.9", "(1.1)").
NUMBER_TOKEN = re.compile(r"\d(?:[\w./:()+#-]*[\w/+#])?")
CAPITAL_TOKEN = re.compile(rf"[{UPPER}](?:[\w'\u2019-]*\w)?")
_WORD = re.compile(r"[a-z0-9]+")


class Num(NamedTuple):
    """A token that starts with a digit; `lead` also takes letters glued on before it."""

    start: int
    end: int
    lead: int
    text: str


class Cap(NamedTuple):
    """A capitalised word that could be (part of) a name; `word` has any possessive removed."""

    start: int
    end: int  # end of the word, possessive excluded
    stop: int  # end including a possessive
    word: str
    possessive: bool
    cls: str  # see lexical.classify


class Scan:
    """The text being scanned, its lower-cased twin for substring gates, and its tokens."""

    def __init__(self, text: str, lex: Lexicon) -> None:
        self.text = text
        self.lex = lex
        self.lower = lower = text.lower()
        self.ascii = text.isascii()  # then lower has the same offsets as text (see lower_twin)
        # The gate words in the text (see gate_words): few, so most rules skip at once.
        self.gates = GATE_WORDS.intersection(_WORD.findall(lower))
        self.urls: list[tuple[int, int]] | None = None  # filled by the contact rules
        self._before: dict[int, tuple[str, str]] = {}
        self.numbers = self._numbers()
        self.initials: list[int] = []  # "J" of "J. Smith"
        self.months: list[int] = []  # "March", "Mar"
        self.titles: list[int] = []  # "Mr", "Dr"
        self.capital_words: set[str] = set()  # every capitalised word, kept or not
        self.capitals = self._capitals()
        self.runs = runs(text, self.capitals)

    def before(self, start: int) -> tuple[str, str]:
        """The two words before start, lower-cased, nearest first, punctuation stripped."""
        found = self._before.get(start)
        if found is None:
            words = self.text[max(0, start - 30) : start].split()
            nearest = _clean_before(words[-1]) if words else ""
            found = (nearest, _clean_before(words[-2]) if len(words) > 1 else "")
            self._before[start] = found
        return found

    def gated(self, gate: frozenset[str]) -> bool:
        """Whether any of the gate words is in the text."""
        return bool(self.gates) and not self.gates.isdisjoint(gate)

    def _numbers(self) -> list[Num]:
        text = self.text
        found = []
        for match in NUMBER_TOKEN.finditer(text):
            start, end = match.span()
            lead = start
            if start:
                char = text[start - 1]
                if char.isalpha() or char in "#-":
                    lead = _lead(text, start)
                    char = text[lead - 1] if lead else ""
                if char.isdecimal():
                    continue  # the tail of a longer token, e.g. "2" of "1a2"
            found.append(Num(start, end, lead, match.group()))
        return found

    def _capitals(self) -> list[Cap]:
        """Capitalised words that can be part of a name (or sit just before a comma, as in
        "Warmer, Harriet"); function words, clinical terms and English words are dropped here
        so the name and place rules see only candidates. Months, titles and initials are noted."""
        text, lex = self.text, self.lex
        found = []
        words = self.capital_words
        for match in CAPITAL_TOKEN.finditer(text):
            start, stop = match.span()
            if start and (text[start - 1].isalnum() or text[start - 1] in "_'\u2019"):
                continue
            if stop - start == 1:
                if text[stop : stop + 1] == ".":
                    self.initials.append(start)
                continue
            word = match.group()
            words.add(word)
            shape = _SHAPES.get(word) or _shape(word, lex)
            if shape.plain:
                continue  # most capitalised words: nothing more to note
            marker, cut, base, cls, keep, trailing_s, _ = shape
            if marker == 1:
                self.months.append(start)
            elif marker == 2:
                self.titles.append(start)
            possessive = cut > 0
            if trailing_s and text[stop : stop + 1] in ("'", "\u2019"):
                stop += 1  # Graves'
                possessive = True
            if keep or (cls == "W" and text[stop : stop + 1] == ","):
                found.append(Cap(start, start + len(word) - cut, stop, base, possessive, cls))
        return found


def _lead(text: str, start: int) -> int:
    """Where a number token really begins: letters, '#' and inner hyphens glued on before."""
    lead = start
    while lead > 0:
        char = text[lead - 1]
        if char.isalpha() or char == "#":
            lead -= 1
        elif char == "-" and lead > 1 and text[lead - 2].isalnum():
            lead -= 1  # "A-7734921", "ACC-77120934"
        else:
            break
    return lead


_CLEANED: dict[str, str] = {}  # raw word -> cleaned word; the same words recur


def _clean_before(word: str) -> str:
    """A word as Scan.before gives it: lower-cased, surrounding punctuation stripped."""
    found = _CLEANED.get(word)
    if found is None:
        if len(_CLEANED) >= _SHAPES_LIMIT:
            _CLEANED.clear()
        found = word.lower().strip(',;()[]"\u201c\u201d').rstrip(".:").replace("\u2019", "'")
        _CLEANED[word] = found
    return found


class Shape(NamedTuple):
    """What a capitalised word is, whatever its place: the same words recur from post to post."""

    marker: int  # 1: a month, 2: a title, 0: neither
    cut: int  # characters of a possessive "'s" to drop
    base: str  # the word without its possessive
    cls: str  # see lexical.classify
    keep: bool  # a name candidate wherever it stands
    trailing_s: bool  # ends in "s", so a following apostrophe makes it possessive ("Graves'")
    plain: bool  # none of the above matters: not kept, not a month or title, not an English word


_SHAPES: dict[str, Shape] = {}
_SHAPES_LIMIT = 100_000


def _shape(word: str, lex: Lexicon) -> Shape:
    """Work out and remember the shape of a capitalised word of two or more characters."""
    marker = 1 if word in _MONTH_WORDS else 2 if word in _TITLE_WORDS else 0
    cut = 2 if word[-2:] in ("'s", "\u2019s") else 0
    base = word[:-cut] if cut else word
    cls = classify(base, lex)
    keep = cls in "GgSsUE" or (cls == "X" and base.lower() in lex.given and not base.isupper())
    plain = not keep and not marker and cls != "W"
    shape = Shape(marker, cut, base, cls, keep, not cut and word[-1] == "s", plain)
    if len(_SHAPES) >= _SHAPES_LIMIT:
        _SHAPES.clear()
    _SHAPES[word] = shape
    return shape


_MONTH_WORDS = frozenset(m.capitalize() for m in MONTHS)
_TITLE_WORDS = frozenset(("Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof"))
_JOIN = re.compile(
    r"[ \t]+(?:(?:de|del|della|der|di|da|dos|das|do|du|van|von|den|la|le|bin|ibn|al|el|ter|ten|"
    rf"y|e)[ \t]+)*(?:[{UPPER}]\.[ \t]*)?"
)


def runs(text: str, capitals: list[Cap]) -> list[list[Cap]]:
    """Capitalised words that follow each other ("María Luisa Harper", "Jan van Dijk")."""
    grouped: list[list[Cap]] = []
    for cap in capitals:
        if grouped:
            previous = grouped[-1][-1]
            if (
                cap.start - previous.stop < 16
                and not previous.possessive
                and len(grouped[-1]) < 4
                and _JOIN.fullmatch(text, previous.stop, cap.start)
            ):
                grouped[-1].append(cap)
                continue
        grouped.append([cap])
    return grouped


def word_before(text: str, start: int) -> str:
    """The word just before start, lower-cased, without surrounding punctuation."""
    words = text[max(0, start - 30) : start].split()
    if not words:
        return ""
    return words[-1].lower().strip(",;:()[]\"'\u2019\u201c\u201d").rstrip(".")


def words_before(text: str, start: int, count: int = 3) -> list[str]:
    """Up to count lower-cased words before start, nearest last, punctuation stripped."""
    words = text[max(0, start - 12 * count) : start].split()[-count:]
    return [w.lower().strip(",;:()[]\"'\u2019\u201c\u201d").rstrip(".") for w in words]


def words_after(text: str, end: int, count: int = 2) -> list[str]:
    """Up to count lower-cased words after end, nearest first, punctuation stripped."""
    words = text[end : end + 14 * count].split()[:count]
    return [w.lower().strip(",;:.!?()[]\"'\u2019\u201c\u201d") for w in words]


def lower_twin(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """A case-blind pattern recompiled to match case-sensitively. On lower-cased ASCII text it
    finds exactly what the original finds on the text, several times faster (case-blind
    matching folds every character it compares)."""
    source = re.sub(r"\\.|\(\?P<\w+>", "", pattern.pattern)
    if re.search("[A-Z]", source) or "(?-" in source:
        raise ValueError("pattern has capitals or case-sensitive parts: its twin would differ")
    return re.compile(pattern.pattern, pattern.flags & ~re.IGNORECASE)


class CaseBlind(NamedTuple):
    """A case-blind pattern with its lower_twin, and where to run it for a given scan."""

    pattern: re.Pattern[str]
    twin: re.Pattern[str]

    def on(self, scan: Scan) -> tuple[re.Pattern[str], str]:
        """The twin and the lower-cased text when offsets agree (ASCII), else the original."""
        return (self.twin, scan.lower) if scan.ascii else (self.pattern, scan.text)


def case_blind(pattern: re.Pattern[str]) -> CaseBlind:
    """Pair a case-blind pattern with its faster twin (see lower_twin)."""
    return CaseBlind(pattern, lower_twin(pattern))


GATE_WORDS: set[str] = set()  # every word any rule gates on (filled as the rules are defined)


def words_set(*groups: str, gate: bool = False) -> frozenset[str]:
    """Words from whitespace-separated literals; gate=True also registers them as gate words."""
    found = frozenset(" ".join(groups).split())
    if gate:
        GATE_WORDS.update(found)
    return found


def gate_words(*groups: str) -> frozenset[str]:
    """Words whose presence lets a rule run its full search (see Scan.gated)."""
    return words_set(*groups, gate=True)


_ABBREVIATIONS = words_set(
    "mr mrs ms dr prof st vs e.g i.e etc approx no fig pt sr jr rev fr capt sgt mt ft dept ave blvd"
)


def sentence_start(text: str, start: int) -> bool:
    """Whether position start begins a sentence, a line or a list item."""
    index = start - 1
    while index >= 0 and text[index] in " \t\"'\u201c\u2018([*•":
        index -= 1
    if index < 0:
        return True
    char = text[index]
    if char == "\n" or char in "!?;:":
        return True
    if char == "-" and (index == 0 or text[index - 1] in "\n \t"):
        return True
    if char != ".":
        return False
    before = text[max(0, index - 8) : index].split()
    previous = before[-1].lower() if before else ""
    return not (previous in _ABBREVIATIONS or len(previous) == 1)

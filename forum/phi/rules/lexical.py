"""How a capitalised word reads: a listed name, an English word, a clinical term, or unknown."""

from __future__ import annotations

import re

from forum.phi.knowledge import (
    MONTHS,
    NAMES_NOT_WORDS,
    REGIONS,
    STATE_NAMES,
    STOPWORDS,
    WEEKDAYS,
    Lexicon,
)

_NAME_CAPITALS = re.compile(
    r"(?:Mc|Mac|De|Di|Da|Du|La|Le|Van|Von|St|O['\u2019]|D['\u2019])[A-Z][a-z]"
)

_CLASSES: dict[str, str] = {}  # word -> class; the same words recur from post to post
_CLASSES_LIMIT = 100_000


def classify(word: str, lex: Lexicon) -> str:
    """The class of a capitalised word (see _classify_uncached), remembered per process."""
    found = _CLASSES.get(word)
    if found is None:
        if len(_CLASSES) >= _CLASSES_LIMIT:
            _CLASSES.clear()
        found = _CLASSES[word] = _classify_uncached(word, lex)
    return found


def _classify_uncached(word: str, lex: Lexicon) -> str:
    """G/S: listed given or family name; g/s: also an English word; E: eponym or brand that is
    also a name; M: clinical word; W: English word; X: function word; U: unknown."""
    if word.isupper():
        return "X"  # acronyms: AAA, SLE, COPD
    if not word[1:].islower() and (
        sum(c.isupper() for c in word) >= 2
        and not _NAME_CAPITALS.match(word)
        and not all(part[:1].isupper() and part[1:].islower() for part in word.split("-"))
    ):
        return "X"  # CrCl, HFpEF, TRAb (but not Jean-Pierre)
    lowered = word.casefold().replace("\u2019", "'")
    if lowered in STOPWORDS or lowered in MONTHS or lowered in WEEKDAYS or lowered in REGIONS:
        return "X"
    if lowered in STATE_NAMES or lowered in lex.countries:
        return "X"
    given = lowered in lex.given
    family = lowered in lex.surnames
    if "-" in lowered:
        parts = [p for p in lowered.split("-") if p]
        if lowered in lex.medical or any(p in lex.medical for p in parts):
            return "M"
        if all(p in lex.given or p in lex.surnames for p in parts):
            return "S"
        return "U" if lowered not in lex.common else "W"
    if lowered in lex.medical or lowered in lex.drugs:
        return "E" if given or family else "M"
    if lowered in lex.common and lowered not in NAMES_NOT_WORDS:
        return "g" if given else "s" if family else "W"
    if given:
        return "G"
    if family:
        return "S"
    return "U"

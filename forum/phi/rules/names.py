"""Names of patients, relatives and anyone else: by context first, then by the name lists."""

from __future__ import annotations

import re

from forum.phi.findings import Action, Finding, Kind
from forum.phi.knowledge import (
    EPONYM_NOUNS,
    INITIALS_NOT_NAMES,
    NAME_CUES,
    NAMES_NOT_WORDS,
    PERSON_VERBS,
    RELATIONS,
    SPECIES,
    STATE_NAMES,
    STOPWORDS,
    TITLES,
    Lexicon,
)
from forum.phi.rules.base import (
    LOWER,
    UPPER,
    Cap,
    Scan,
    finding,
    gate_words,
    sentence_start,
    words_after,
    words_set,
)
from forum.phi.rules.lexical import classify

_PART = rf"(?:[{UPPER}][\u2019']?)?[{UPPER}][{LOWER}]+(?:[{UPPER}][{LOWER}]+)*"
INITIALS = re.compile(rf"[{UPPER}]\.[ \t]?[{UPPER}]\.(?:[ \t]?[{UPPER}]\.)?(?![\w])")
INITIAL_SURNAME = re.compile(rf"[{UPPER}]\.[ \t]?({_PART})(?![\w'\u2019-])")
TITLE_INITIALS = re.compile(
    r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?[ \t]+([A-Z](?:\.|\b)(?:[ \t]?[A-Z]\.?)?|[A-Z]{2,})(?![a-z])"
)
INITIALS_CUE = re.compile(
    r"\binitials?[ \t]*(?:are|were|is|of)?[ \t]*:?[ \t]+([A-Z]\.?[ \t]?[A-Z]\.?(?:[A-Z]\.?)?)\b"
)
LOWER_CUE = re.compile(
    r"\b(?:named|called|name\s+is|name\s+was|mr\.?|mrs\.?|ms\.?|miss)[ \t]+"
    r"([a-z]{2,})(?:[ \t]+([a-z]{2,}))?\b"
)
_VERBS_AFTER = words_set(
    "is was has had have presented presents came comes said says reports reported denies "
    "denied went lives lived died passed called wants wanted asked told needs got gets "
    "underwent developed complains complained states stated returned arrived refuses "
    "refused declined agreed started stopped takes took became remains remained continues "
    "feels felt will would can could does did is's who whose herself himself"
)
_OWNERS = words_set("her his their my our the patient's pt's client's")
_TWO_WORD_CUES = ("name is", "name was", "goes by", "known as", "name:", "signed by")


def _after(text: str, end: int) -> list[str]:
    return words_after(text, end, 2)


_AGE_AFTER = re.compile(
    r"\s*(?:,|\(|-|\u2013)\s*(?:an?\s+|age\s+|aged\s+)?\d{1,3}\s*(?:-?\s*(?:y|yo|year|yr|[MF]\b|,|\)))",
    re.IGNORECASE,
)


def _context(scan: Scan, start: int) -> str:
    """'title', 'relation', 'cue', 'verb' or '' for the words before a name candidate."""
    nearest, second = scan.before(start)
    if nearest in TITLES and "\n" not in scan.text[max(0, start - 3) : start]:
        raw = scan.text[max(0, start - 30) : start].split()
        if nearest in ("mr", "mrs", "dr") or (raw and raw[-1][:1].isupper()):
            return "title"  # "Ms. Lee", not "QTc 520 ms. Admit"
    if nearest in RELATIONS or (nearest in ("in-law", "law") and second):
        return "relation"
    if nearest in NAME_CUES or f"{second} {nearest}".strip() in _TWO_WORD_CUES or nearest == "name":
        return "cue"
    if nearest in PERSON_VERBS:
        return "verb"
    return ""


def _span(tokens: list[Cap]) -> tuple[int, int]:
    return tokens[0].start, tokens[-1].end


_PLACE_CUES = words_set("from in near to outside around at visiting into of")
_INITIALS_GATES = gate_words("initial initials")
_LOWER_CUE_GATES = gate_words("named called name mr mrs ms miss")


def names(scan: Scan) -> list[Finding]:
    """Person names: after titles, relations and cues, full names, and lone listed names."""
    text, lex = scan.text, scan.lex
    found: list[Finding] = []
    runs = scan.runs
    for index, run in enumerate(runs):
        found.extend(_judge_run(scan, run))
        if index + 1 < len(runs) and text[run[-1].stop : runs[index + 1][0].start] in (", ", ",  "):
            found.extend(_last_first(scan, run[-1], runs[index + 1][0]))
    found.extend(_initials(scan))
    if scan.gated(_LOWER_CUE_GATES):
        found.extend(_lowercase_after_cue(text, lex))
    return found


def _is_phrase(run: list[Cap], lex: Lexicon) -> bool:
    joined = " ".join(t.word.casefold().replace("-", " ") for t in run)
    return joined in lex.medical_phrases or any(
        " ".join(t.word.casefold() for t in run[i : i + 2]) in lex.medical_phrases
        for i in range(len(run) - 1)
    )


_NAMEISH = frozenset("GgSsUE")
_LISTED_OR_UNKNOWN = frozenset("GgSsU")
_MEASURE_AFTER = re.compile(r"[ \t]*(?:of[ \t]+|was[ \t]+|is[ \t]+|[:=<>~][ \t]*)?[<>≤≥]?\d")


def _judge_run(scan: Scan, run: list[Cap]) -> list[Finding]:
    text, lex = scan.text, scan.lex
    classes = [t.cls for t in run]
    context = _context(scan, run[0].start)
    if not context and not _LISTED_OR_UNKNOWN.intersection(classes):
        return []  # only function, clinical and English words, or eponyms on their own
    if not context and len(run) == 1 and classes[0] in "gsU" and not run[0].possessive:
        # The most common run: one such word is a name only with an age or a verb after it
        # (see _judge_word), so settle the rest quickly.
        stop = run[0].stop
        after = _after(text, stop)
        if not (after and after[0] in _VERBS_AFTER) and not _AGE_AFTER.match(text, stop):
            return []
    if scan.before(run[0].start)[0] in ("st", "saint", "ste"):
        return []  # "St. Mary's" is a facility; the place rules hold it
    if len(run) > 1 and _is_phrase(run, lex):
        return []
    if (
        len(run) > 1
        and scan.before(run[0].start)[0] in _PLACE_CUES
        and (
            " ".join(t.word for t in run[:3]).lower() in lex.places
            or " ".join(t.word for t in run[:2]).lower() in lex.places
        )
    ):
        return []  # "from Lake Charles": the place rules take it
    for index in range(1, len(run)):
        if run[index].word.lower() in EPONYM_NOUNS:
            return []  # "Glasgow Coma Scale", "Mayo Clinic", "Tanner Stage"
    if not context and len(run) == 1 and _MEASURE_AFTER.match(text, run[-1].stop):
        return []  # "Na 128", "Wells 4.5": a label before a value
    after = _after(text, run[-1].stop)
    eponym_follows = bool(after) and (
        after[0] in EPONYM_NOUNS or after[0] in SPECIES or after[:2] == ["et", "al"]
    )
    if context in ("title", "relation") or (context == "cue" and classes[0] not in "MXW"):
        if eponym_follows and context != "title":
            return []
        take: list[Cap] = []
        for token, cls in zip(run, classes, strict=True):
            if cls == "X" and token.word.lower() in lex.given and not token.word.isupper():
                cls = "g"  # "her son Will"
            if cls == "X" or (take and cls in "MW" and context != "title"):
                break
            take.append(token)
        if take and not (context == "cue" and classes[0] in "E" and eponym_follows):
            start, end = _span(take[:3])
            return [finding(start, end, Kind.NAME)]
    if eponym_follows:
        return []
    # Drop words that cannot be part of a name at either end ("Admitted Brijesh Vance").
    begin, stop = 0, len(run)
    while begin < stop and classes[begin] in "XMW":
        begin += 1
    while stop > begin and classes[stop - 1] in "XMW":
        stop -= 1
    if begin >= stop:
        return []
    # A function or clinical word in the middle splits the run; judge the first part.
    for index in range(begin, stop):
        if classes[index] in "XMW":
            stop = index
            break
    segment, kinds = run[begin:stop], classes[begin:stop]
    if begin:
        context = _context(scan, segment[0].start)
        if context in ("title", "relation", "cue"):
            start, end = _span(segment[:3])
            return [finding(start, end, Kind.NAME)]
    tail = _after(text, segment[-1].stop) if stop < len(run) else after
    verb_after = bool(tail) and tail[0] in _VERBS_AFTER
    age_after = bool(_AGE_AFTER.match(text, segment[-1].stop))
    if len(segment) >= 2:
        return _judge_words(text, segment, kinds, verb_after, age_after)
    return _judge_word(text, segment[0], kinds[0], context == "verb", verb_after, age_after)


_POSSIBLE = "This capitalised word may be a person's name."
_POSSIBLE_WORDS = "These words may be a person's name."


def _judge_words(
    text: str, segment: list[Cap], kinds: list[str], verb_after: bool, age_after: bool
) -> list[Finding]:
    """Two or more capitalised words with no strong context: how name-like they are."""
    initial = sentence_start(text, segment[0].start)
    start, end = _span(segment)
    listed = sum(k in "GgSs" for k in kinds)
    strong = any(k in "GS" for k in kinds)
    if "G" in kinds or (listed >= 1 and strong and not initial):
        return [finding(start, end, Kind.NAME)]
    if listed >= 2 or (listed and not initial) or (strong and (verb_after or age_after)):
        action = Action.BLOCK if not initial or verb_after or age_after else Action.REVIEW
        return [finding(start, end, Kind.NAME, action)]
    if all(k == "U" for k in kinds) or (listed and initial):
        return [finding(start, end, Kind.NAME, Action.REVIEW, _POSSIBLE_WORDS)]
    if "U" in kinds and any(k in "GgSsE" for k in kinds):
        return [finding(start, end, Kind.NAME, Action.REVIEW, _POSSIBLE_WORDS)]
    return []


def _judge_word(
    text: str, token: Cap, kind: str, verb_before: bool, verb_after: bool, age_after: bool
) -> list[Finding]:
    """One capitalised word with no strong context. Whether it starts a sentence is worked
    out only when the answer depends on it (most words are settled before)."""
    start, end = token.start, token.end
    if token.possessive:
        if kind in "GS":
            return [finding(start, end, Kind.NAME)]
        if kind in "gsU" and not sentence_start(text, start):
            return [finding(start, end, Kind.NAME, Action.REVIEW, _POSSIBLE)]
        return []
    if kind == "G":
        if verb_after or age_after or not sentence_start(text, start):
            return [finding(start, end, Kind.NAME)]
        return [finding(start, end, Kind.NAME, Action.REVIEW, _POSSIBLE)]
    if kind == "S":
        if age_after:
            return [finding(start, end, Kind.NAME)]
        initial = sentence_start(text, start)
        if verb_before and not initial:
            return [finding(start, end, Kind.NAME)]
        if not initial or verb_after:
            return [finding(start, end, Kind.NAME, Action.REVIEW, _POSSIBLE)]
        return []
    if kind in "gsU":
        if age_after or ((verb_before or verb_after) and not sentence_start(text, start)):
            return [finding(start, end, Kind.NAME, Action.REVIEW, _POSSIBLE)]
        return []
    return []


def _last_first(scan: Scan, family: Cap, given: Cap) -> list[Finding]:
    """'Massey, Mirco': a family name, a comma, then a given name."""
    text, lex = scan.text, scan.lex
    first_kind, second_kind = classify(family.word, lex), classify(given.word, lex)
    lowered = given.word.lower()
    if lowered in lex.given and (second_kind == "E" or lowered in STATE_NAMES):
        second_kind = "g"
    if second_kind not in "Gg" or first_kind in "XM" or family.possessive or given.possessive:
        return []
    nearest, _ = scan.before(family.start)
    if first_kind == "W" and nearest not in ("for", "patient", "pt", "name", "re", "named"):
        return []
    if second_kind == "g" and first_kind not in "GSUE":
        return []
    after = _after(text, given.stop)
    if after and after[0] in EPONYM_NOUNS:
        return []
    if after and after[0][:1].isupper():
        return []  # part of a list of capitalised words
    return [
        finding(family.start, family.end, Kind.NAME),
        finding(given.start, given.end, Kind.NAME),
    ]


def _initials(scan: Scan) -> list[Finding]:
    """'J.S.', 'J. Smith', 'Mr. K.' and 'initials JS'."""
    text, lex = scan.text, scan.lex
    found = []
    reason = "Initials can identify a patient when the reader knows the case."
    suggestion = "Remove the initials; say 'the patient'."
    for start in scan.initials:
        if start and (text[start - 1].isalnum() or text[start - 1] == "."):
            continue
        match = INITIALS.match(text, start)
        if match:
            if match.group().replace(" ", "").casefold() not in INITIALS_NOT_NAMES:
                found.append(
                    finding(
                        match.start(), match.end(), Kind.NAME, reason=reason, suggestion=suggestion
                    )
                )
            continue
        match = INITIAL_SURNAME.match(text, start)
        if match:
            word = match.group(1).casefold()
            if word in SPECIES or word in lex.common or word in lex.medical or word in STOPWORDS:
                continue
            kind = classify(match.group(1), lex)
            action = Action.BLOCK if kind in "GSE" else Action.REVIEW
            found.append(finding(match.start(), match.end(), Kind.NAME, action))
    for start in scan.titles:
        match = TITLE_INITIALS.match(text, start)
        if match:
            found.append(
                finding(
                    match.start(1),
                    match.end(1),
                    Kind.NAME,
                    reason=reason,
                    suggestion=suggestion,
                )
            )
    if scan.gated(_INITIALS_GATES):
        for match in INITIALS_CUE.finditer(text):
            found.append(
                finding(
                    match.start(1), match.end(1), Kind.NAME, reason=reason, suggestion=suggestion
                )
            )
    return found


def _lowercase_after_cue(text: str, lex: Lexicon) -> list[Finding]:
    """'patient john smith', 'named maria': names typed without capitals after a cue."""
    found = []
    for match in LOWER_CUE.finditer(text):
        first, second = match.group(1), match.group(2)
        if (
            (first in lex.common and first not in NAMES_NOT_WORDS)
            or first in STOPWORDS
            or (first not in lex.given and first not in lex.surnames)
        ):
            continue
        end = match.end(1)
        if second and second not in lex.common and second in lex.surnames:
            end = match.end(2)
        found.append(finding(match.start(1), end, Kind.NAME))
    return found

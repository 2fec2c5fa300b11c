"""Street addresses, towns and cities, counties, and facility names that place the patient."""

from __future__ import annotations

import re

from forum.phi.findings import Action, Finding, Kind
from forum.phi.knowledge import (
    CITY_PREFIXES,
    CITY_SUFFIXES,
    EPONYM_NOUNS,
    MONTHS,
    REGIONS,
    STATE_NAMES,
    STOPWORDS,
    STREET_SUFFIXES,
    STRONG_CITY_SUFFIXES,
    US_STATES,
    WEEKDAYS,
    Lexicon,
)
from forum.phi.rules.base import Cap, Scan, finding, gate_words, words_after, words_set

_CAP = r"[A-Z][\w'\u2019.-]*"
_SUFFIX = "|".join(sorted((re.escape(s) for s in STREET_SUFFIXES), key=len, reverse=True))
_DIRECTION = r"(?:[NSEW]\.?|North|South|East|West|NE|NW|SE|SW|N\.[EW]\.|S\.[EW]\.)"
_UNIT = (
    r"(?:,?\s+(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Bldg\.?|Building|Floor|Fl\.?|Room|Rm\.?|"
    r"Lot|Space|Trailer|#)\s*#?\s*[A-Za-z0-9-]+)?"
)
ADDRESS = re.compile(
    rf"(?<![\w.,/$£€-])\d{{1,6}}[A-Za-z]?(?:-\d{{1,5}})?\s+(?:{_DIRECTION}\s+)?"
    rf"(?:(?:{_CAP}|\d{{1,3}}(?:st|nd|rd|th))\s+){{1,3}}(?i:{_SUFFIX})(?![\w-])\.?(?:\s+{_DIRECTION}(?![\w]))?"
    rf"{_UNIT}"
)
PO_BOX = re.compile(
    r"\b(?:P\.?\s?O\.?\s*Box|Post\s+Office\s+Box|PMB|Rural\s+Route(?:\s+\d+)?,?\s+Box|"
    r"Rural\s+Route)\s*#?\s*\d+",
    re.IGNORECASE,
)
STREET_NAME = re.compile(
    r"\b(?:on|at|off|near|of|corner\s+of)\s+((?:[A-Z][\w'\u2019-]+\s+){1,3}(?:Street|St\.|Avenue|"
    r"Ave\.?|Road|Rd\.|Boulevard|Blvd\.?|Lane|Ln\.|Drive|Terrace|Parkway|Highway|Hwy\.?|"
    r"Court|Place)(?![\w-]))"
)
_STATE_ABBR = "|".join(US_STATES)
_STATE_NAME = "|".join(
    re.escape(" ".join(w.capitalize() for w in s.split())) for s in sorted(STATE_NAMES)
)
_STRONG_CUE = re.compile(
    r"\b(?:lives?|living|lived|resides?|residing|resident|residents|moved|moving|relocated|born|"
    r"grew|raised|native|home|hometown|house|farm|returned|returning|travel+ed|travel+ing|trip|"
    r"vacation|visiting|visited|came|comes|transferred|transfer|drove|flew|commutes?|works?|"
    r"worked|town|city|village|here|there|address)\b[\w\s,'\u2019]{0,25}$",
    re.IGNORECASE,
)
COUNTY = re.compile(
    r"\b((?:[A-Z][\w'\u2019.-]+\s+){0,2}[A-Z][\w'\u2019.-]+)\s+(?:County|Parish|Township)\b"
)
TOWN_OF = re.compile(
    r"\b(?:town|city|village|township|borough|hamlet|municipality|suburb)\s+of\s+"
    r"((?:[A-Z][\w'\u2019.-]+\s+){0,2}[A-Z][\w'\u2019-]+)"
)
SAINT = re.compile(r"\b(?:St\.?|Saint|Ste\.?)\s+([A-Z][\w-]*)(?:['\u2019]s)?(?![\w'\u2019])")
FACILITY = re.compile(
    r"\b((?:[A-Z][\w'\u2019.&-]*\s+){1,4})(?:Hospital|Medical\s+Cent(?:er|re)|Health\s+(?:Center|"
    r"Centre|System|Care)|Healthcare|Clinic|Memorial|Infirmary|Nursing\s+(?:Home|Facility)|"
    r"Rehabilitation\s+(?:Center|Hospital)|Rehab|Hospice|Urgent\s+Care|Surgery\s+Center|"
    r"Surgical\s+Center|Assisted\s+Living|Senior\s+Living|Care\s+Center|Manor|Retirement\s+Home|"
    r"Prison|Jail|Correctional\s+Facility|Shelter|School|Elementary|High\s+School|University|"
    r"College|Academy|Church)\b"
)
_GENERIC_FACILITY_WORDS = words_set(
    "the a an our my their this that his her community university general regional county "
    "state city teaching academic tertiary rural urban private public local children's "
    "children veterans va military federal district women's women memorial medical "
    "psychiatric mental health behavioral behavioural rehab rehabilitation cancer heart "
    "orthopedic surgical specialty critical access safety net outside another any primary "
    "secondary high elementary middle nursing free walk-in walk urgent emergency major "
    "big large small level trauma i ii iii iv one two in at to from of and or with"
)
_NOT_SAINT = words_set("john johns vitus anthony elmo louis")


def _is_state_or_country(phrase: str, lex: Lexicon) -> bool:
    lowered = phrase.casefold()
    return lowered in STATE_NAMES or lowered in lex.countries


def _morph(tokens: list[str], lex: Lexicon) -> bool:
    """Shaped like a town name: 'Gonzalezview', 'East Jeremytown', 'Lake Justinland'."""
    last = tokens[-1].casefold()
    if len(tokens) >= 2 and tokens[0].casefold().rstrip(".") in CITY_PREFIXES:
        rest = " ".join(tokens[1:]).casefold()
        if (
            rest in lex.common
            or rest in STATE_NAMES
            or rest in lex.countries
            or rest in lex.medical
            or rest in lex.drugs
        ):
            return False
        return last.endswith(CITY_SUFFIXES) or last in lex.given or last in lex.surnames
    if last in lex.common or last in lex.medical or last in lex.drugs:
        return False
    return len(last) > 5 and last.endswith(CITY_SUFFIXES)


def _place_name(tokens: list[str], lex: Lexicon, strong: bool) -> tuple[int, bool] | None:
    """How many leading tokens form a town name, and whether it is in the gazetteer. After a
    strong cue ("moved from") a town that is also an English word counts ("Phoenix")."""
    for count in range(min(3, len(tokens)), 0, -1):
        head = tokens[:count]
        phrase = " ".join(head).casefold().replace("\u2019", "'")
        if _is_state_or_country(phrase, lex) or phrase in REGIONS:
            return None
        if phrase in lex.places and not (
            count == 1
            and ((phrase in lex.common and not strong) or phrase in STOPWORDS or phrase in MONTHS)
        ):
            return count, True
        if _morph(head, lex):
            return count, False
    return None


_STREET_GATES = gate_words(
    "street st avenue ave road rd boulevard blvd lane ln drive terrace parkway highway hwy",
    "court place",
)
_PO_BOX_GATES = gate_words("box pmb route")
_COUNTY_GATES = gate_words("county parish township")
_TOWN_GATES = gate_words("town city village borough hamlet suburb municipality")
_OF_GATE = gate_words("of")  # "town of ..."
_PLACE_CUES = words_set(
    "from in near to outside around at visiting into toward towards through of via"
)
_STATE_AFTER_COMMA = re.compile(
    rf",[ \t]*(?:(?:{_STATE_ABBR})(?![\w])|(?:{_STATE_NAME})\b)(\s*,?\s*\d{{5}}(?:-\d{{4}})?)?"
)
_CREDENTIALS = frozenset(("MD", "DO", "PA", "MS", "ME", "OR", "IN", "OK", "CT", "MA", "DE"))
_FACILITY_GATES = words_set(
    "Hospital Medical Health Healthcare Clinic Memorial Infirmary Nursing Rehab Hospice "
    "Urgent Surgery Surgical Assisted Senior Care Manor Retirement Prison Jail "
    "Correctional Shelter School Elementary University College Academy Church "
    "Rehabilitation"
)


def addresses(scan: Scan) -> list[Finding]:
    """Street addresses with or without a house number, and PO boxes."""
    text, lex = scan.text, scan.lex
    found = []
    for num in scan.numbers:
        if (
            num.lead == num.start
            and num.end - num.start <= 7
            and text[num.end : num.end + 1] == " "
        ):
            match = ADDRESS.match(text, num.start)
            if match:
                found.append(finding(match.start(), match.end(), Kind.ADDRESS))
    if scan.gated(_PO_BOX_GATES):
        found += [finding(m.start(), m.end(), Kind.ADDRESS) for m in PO_BOX.finditer(text)]
    if scan.gated(_STREET_GATES):
        for match in STREET_NAME.finditer(text):
            first = match.group(1).split()[0].casefold()
            if first in STOPWORDS or first in lex.medical:
                continue
            found.append(finding(match.start(1), match.end(1), Kind.ADDRESS))
    return found


def cities(scan: Scan) -> list[Finding]:
    """Towns, cities and counties, from the gazetteer, by shape, or before a state."""
    text, lex = scan.text, scan.lex
    found: list[Finding] = []
    if "," in text:
        for match in _STATE_AFTER_COMMA.finditer(text):
            found.extend(_city_before_state(scan, match))
    if scan.runs:
        words = scan.capital_words
        morph_possible = not words.isdisjoint(_MORPH_PREFIX_WORDS) or any(
            len(w) >= 6 and w.endswith(STRONG_CITY_SUFFIXES) for w in words
        )
        for run in scan.runs:
            if morph_possible or scan.before(run[0].start)[0] in _PLACE_CUES:
                found.extend(_city_run(scan, run))
    if scan.gated(_COUNTY_GATES):
        for match in COUNTY.finditer(text):
            tokens = match.group(1).split()
            while tokens and tokens[0].casefold() in STOPWORDS:
                tokens = tokens[1:]
            if not tokens:
                continue
            start = match.end(1) - len(" ".join(tokens))
            found.append(
                finding(
                    start,
                    match.end(),
                    Kind.CITY,
                    reason="A county is smaller than a state and can place the patient.",
                )
            )
    if scan.gated(_OF_GATE) and scan.gated(_TOWN_GATES):
        for match in TOWN_OF.finditer(text):
            found.append(finding(match.start(1), match.end(1), Kind.CITY))
    del lex
    return found


def _city_before_state(scan: Scan, match: re.Match[str]) -> list[Finding]:
    """'Springfield, IL' and 'Springfield, Illinois 62704'."""
    text, lex = scan.text, scan.lex
    state = text[match.start() + 1 : match.end(0) - len(match.group(1) or "")].strip()
    zip_follows = match.group(1) is not None
    window = text[max(0, match.start() - 40) : match.start()]
    tokens = re.findall(r"[A-Z][\w'\u2019.-]*", window.split("\n")[-1])
    words = window.split()
    if not words or not words[-1][:1].isupper():
        return []
    tokens = []
    for word in reversed(words[-3:]):
        if not word[:1].isupper():
            break
        tokens.insert(0, word.strip(",.;:()"))
    for index in range(len(tokens)):
        tail = tokens[index:]
        phrase = " ".join(tail).casefold()
        if tail[0].casefold() in STOPWORDS:
            continue
        known = phrase in lex.places or _morph(tail, lex)
        if (
            state in _CREDENTIALS
            and not zip_follows
            and (len(tail) == 1 and phrase in lex.surnames)
        ):
            continue  # "Jones, MD" is a credential
        if known or (zip_follows and index == len(tokens) - 1):
            end = match.start()
            start = end - len(" ".join(tail))
            if text[start:end] != " ".join(tail):
                start = text.rfind(tail[0], 0, end)
            return [finding(start, end, Kind.CITY)]
    return []


def _city_run(scan: Scan, run: list[Cap]) -> list[Finding]:
    """A capitalised run after 'from', 'in', 'near'... that is a town, or shaped like one."""
    text, lex = scan.text, scan.lex
    words = [cap.word for cap in run]
    cue = scan.before(run[0].start)[0]
    if cue in _PLACE_CUES:
        strong = cue == "from" or bool(
            _STRONG_CUE.search(text, max(0, run[0].start - 45), run[0].start)
        )
        placed = _place_name(words, lex, strong)
        if placed is not None:
            count, in_gazetteer = placed
            start, end = run[0].start, run[count - 1].end
            after = words_after(text, run[count - 1].stop, 1)
            if after and after[0] in EPONYM_NOUNS | _NOT_PLACE_AFTER:
                return []
            phrase = " ".join(words[:count]).casefold()
            if not strong and (phrase in lex.medical or phrase in lex.medical_phrases):
                return []
            if (
                not strong
                and count == 1
                and in_gazetteer
                and (phrase in lex.given or phrase in lex.surnames)
            ):
                action = Action.REVIEW
            else:
                action = Action.BLOCK if strong or not in_gazetteer else Action.REVIEW
            return [finding(start, end, Kind.CITY, action)]
    for index, cap in enumerate(run):
        tokens = [cap.word]
        if cap.word in _MORPH_PREFIX_WORDS and index + 1 < len(run):
            tokens.append(run[index + 1].word)
        elif len(cap.word) < 6 or not cap.word.endswith(STRONG_CITY_SUFFIXES):
            continue
        if _morph(tokens, lex) and tokens[-1].casefold() not in STATE_NAMES:
            whole = " ".join(tokens).casefold()
            if whole in lex.medical_phrases or _is_state_or_country(whole, lex):
                continue
            end_cap = run[index + len(tokens) - 1]
            after = words_after(text, end_cap.stop, 1)
            if after and after[0] in EPONYM_NOUNS:
                continue
            return [finding(cap.start, end_cap.end, Kind.CITY, Action.REVIEW)]
    return []


_MORPH_PREFIXES = frozenset(
    ("north", "south", "east", "west", "new", "lake", "port", "fort", "mount", "mt")
)
_MORPH_PREFIX_WORDS = frozenset(w.capitalize() for w in _MORPH_PREFIXES) | {"Mt"}
_NOT_PLACE_AFTER = frozenset(("coma", "criteria", "score", "classification", "chromosome"))


def facilities(scan: Scan) -> list[Finding]:
    """Named hospitals, clinics, homes and schools: they can place the patient (review)."""
    text, lex = scan.text, scan.lex
    found: list[Finding] = []
    reason = "A named hospital, clinic, home or school can place the patient."
    suggestion = "Say 'a community hospital' or 'a tertiary centre' instead of its name."
    if not scan.capital_words.isdisjoint(("St", "Saint", "Ste")):
        for match in SAINT.finditer(text):
            if match.group(1).casefold() in _NOT_SAINT:
                continue
            after = words_after(text, match.end(), 1)
            if after and after[0] in ("wort", "dance", "fire", "encephalitis"):
                continue
            found.append(
                finding(
                    match.start(), match.end(), Kind.OTHER_ID, Action.REVIEW, reason, suggestion
                )
            )
    if scan.capital_words.isdisjoint(_FACILITY_GATES):
        return found
    for match in FACILITY.finditer(text):
        words = match.group(1).split()
        while words and words[0].casefold() in _GENERIC_FACILITY_WORDS | STOPWORDS:
            words = words[1:]
        if not words or all(w.casefold() in _GENERIC_FACILITY_WORDS for w in words):
            continue
        phrase = " ".join(words).casefold()
        if phrase in lex.medical_phrases or phrase in WEEKDAYS or phrase in MONTHS:
            continue
        if len(words) == 1 and phrase in lex.medical and phrase not in lex.places:
            continue
        start = text.rfind(words[0], match.start(), match.end())
        found.append(finding(start, match.end(), Kind.OTHER_ID, Action.REVIEW, reason, suggestion))
    return found

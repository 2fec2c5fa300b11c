"""Identifying numbers: SSN, record, plan, account, licence, vehicle, device numbers; ZIP codes."""

from __future__ import annotations

import re

from forum.phi.findings import Action, Finding, Kind
from forum.phi.knowledge import COMPOUND_PREFIXES, REFERENCE_PREFIXES, US_STATES
from forum.phi.rules.base import Num, Scan, case_blind, finding, gate_words, lower_twin

SSN = re.compile(r"(?<![\w/.-])\d{3}([- ])\d{2}\1\d{4}(?![\w/-]|\.\d)")
# Medicare Beneficiary Identifier: 1EG4-TE5-MK73 (letters exclude S, L, O, I, B, Z).
_MBI_A = "AC-HJKMNP-RT-Y"
MBI = re.compile(
    rf"(?<![\w-])[1-9][{_MBI_A}][{_MBI_A}0-9]\d-?[{_MBI_A}][{_MBI_A}0-9]\d-?[{_MBI_A}]{{2}}\d{{2}}"
    r"(?![\w-])",
    re.IGNORECASE,
)
VIN = re.compile(r"(?<![\w-])(?=[A-HJ-NPR-Z]*\d)(?=\d*[A-HJ-NPR-Z])[A-HJ-NPR-Z0-9]{17}(?![\w-])")
# Any token with a digit in it: candidates for record, account and serial numbers.
TOKEN = re.compile(
    r"(?<![\w@/.:%$£€-])(?<!\d,)(?:#\s?)?"
    r"(?=[A-Za-z#-]*\d)[A-Za-z0-9]+(?:[-/][A-Za-z0-9]+)*(?:\s?-\s?[A-Za-z0-9]+)*"
    r"(?![\w@%]|[.,]\d|/\d|-\w)"
)
ZIP_CUE = re.compile(
    r"\b(?:zip|postal|post)\s*(?:code)?\s*(?:is|was|of|:|#)?\s*(?:\w+\s+){0,2}?"
    r"(\d{5}(?:-\d{4})?)(?![\w-])",
    re.IGNORECASE,
)
_ZIP_CUE_FAST = case_blind(ZIP_CUE)
ZIP_PLUS_FOUR = re.compile(r"(?<![\w-])\d{5}-\d{4}(?![\w-])")
PLATE = re.compile(
    r"\b(?:licen[cs]e\s+plates?|plates?|tags?|registration)\s*(?:number|no\.?|#)?\s*(?:is|was|of|:)?"
    r"\s*([A-Z0-9]{1,4}[\s-]?[A-Z0-9]{1,4}(?:[\s-]?[A-Z0-9]{1,3})?)(?![\w-])",
    re.IGNORECASE,
)
LAST_FOUR = re.compile(
    r"\b(?:last\s+(?:4|four)(?:\s+digits)?\s+of\s+(?:(?:her|his|the|their)\s+)?"
    r"(?:ssn|social|social security(?:\s+number)?|card|account|phone)|ssn\s+ending(?:\s+in)?|"
    r"xxx-xx-)\s*[:#]?\s*(\d{4})\b",
    re.IGNORECASE,
)

# Words that say what a nearby number is. Searched in the few words before the number.
_KEYWORDS: list[tuple[Kind, re.Pattern[str]]] = [
    (Kind.FAX, re.compile(r"\bfax\b", re.I)),
    (Kind.VEHICLE, re.compile(r"\b(?:licen[cs]e\s+plate|plate|vin|vehicle|car|truck|tag)\b", re.I)),
    (Kind.SSN, re.compile(r"\b(?:ssn|ss#|ss\s?no|social\s+security|social)\b", re.I)),
    (
        Kind.HEALTH_PLAN,
        re.compile(
            r"\b(?:policy|member|membership|insurance|insurer|insured|subscriber|medicare|"
            r"medicaid|mbi|hicn|health\s+plan|plan|group|beneficiary|coverage|payer|payor|bcbs|"
            r"blue\s+cross|aetna|cigna|humana|unitedhealth(?:care)?|united|kaiser|tricare|"
            r"anthem|hmo|ppo|medi-cal|masshealth|chip)\b",
            re.I,
        ),
    ),
    (
        Kind.MRN,
        re.compile(
            r"\b(?:mrn|mr#|medical\s+record|med\s+rec|record|chart|hospital\s+(?:number|no|id)|"
            r"patient\s+(?:id|number|no)|pt\s+(?:id|#|no)|emr|ehr|accession|specimen|"
            r"case\s+(?:number|no|id)|hospital\s+id|unit\s+number|registration|admission\s+"
            r"(?:number|no)|encounter|csn|har|fin|visit)\b",
            re.I,
        ),
    ),
    (
        Kind.ACCOUNT,
        re.compile(
            r"\b(?:account|acct|a/c|billing|bill|invoice|claim|statement|credit\s+card|card|"
            r"iban|routing|bank|check|cheque|receipt|transaction|order|reference|ref)\b",
            re.I,
        ),
    ),
    (
        Kind.LICENSE,
        re.compile(
            r"\b(?:licen[cs]e|driver'?s|dl|dea|npi|certificate|cert|permit|passport|"
            r"state\s+id|id\s+card|badge)\b",
            re.I,
        ),
    ),
    (
        Kind.DEVICE,
        re.compile(
            r"\b(?:serial|s/n|sn|device|pacemaker|icd(?!-?\s?(?:9|10|11)\b)|defibrillator|"
            r"implant|implanted|pump|udi|lot|model|imei|stimulator|lvad|generator|hearing\s+aid|"
            r"prosthesis|valve|lead|monitor|cgm|sensor|catheter|port|battery)\b",
            re.I,
        ),
    ),
    (
        Kind.PHONE,
        re.compile(
            r"\b(?:phone|tel|telephone|cell|mobile|call(?:ed)?|text(?:ed)?|pager|reach)\b", re.I
        ),
    ),
    (Kind.OTHER_ID, re.compile(r"(?:\bid\b|\bidentifier\b|\bnumber\b|\bno\.|#|\bcode\b)", re.I)),
]
_STRONG_CONTEXT = 4  # digits needed with a keyword
_UNIT_AFTER = re.compile(
    r"\s*(?:mg|mcg|µg|ug|g|kg|lb|lbs|ml|mL|l|L|dl|dL|units?|iu|IU|u\b|U\b|meq|mEq|mmol|µmol|"
    r"umol|nmol|pmol|ng|pg|cells|copies|cp|/|%|x\b|times|cc|mm|cm|m\b|km|mi|miles|ft|feet|"
    r"steps|kcal|cal|calories|ms|sec|seconds|min|minutes|hr|hrs|hours|days|weeks|months|"
    r"years|yrs|people|patients|pts|cases|deaths|admissions|visits|beds|dollars|usd|k\b|"
    r"per|each|a\s+day|daily|per\s+day|iu/l|u/l|cfu|colonies|platelets|wbc|rbc|k/ul|"
    r"10\^|e\d)",
    re.IGNORECASE,
)
_LAB_BEFORE = re.compile(
    r"(?:\$|\b(?:plt|platelets?|wbc|anc|alc|cd4|cd34|viral\s+load|vl|copies|ck|cpk|bnp|nt-?probnp|ldh|"
    r"d-?dimer|ferritin|crp|esr|il-?6|trop\w*|lipase|amylase|ige|titer|titre|count|level|"
    r"load|igg|igm|iga|afp|cea|ca\s?19-9|ca-?125|psa|hcg|b-?hcg|tsh|pth|ast|alt|alp|ggt|"
    r"inr|ptt|fibrinogen|osm|osmolality|sodium|na|potassium|glucose|bg|fsbg|usd|cost|"
    r"costs|paid|price|charge|charged|salary|income|population|n\s*=|sample|cohort|"
    r"steps|calories|kcal|ml|units))\W{0,4}$",
    re.IGNORECASE,
)


_KEYWORD = re.compile(
    "|".join(f"(?P<{kind.value}>{pattern.pattern})" for kind, pattern in _KEYWORDS), re.IGNORECASE
)


# Every keyword starts a word or is "#": anchoring there lets the search skip other positions.
_KEYWORD_AT_WORD = re.compile(rf"(?:\b(?=\w)|(?=#))(?:{_KEYWORD.pattern})", re.IGNORECASE)
_LAB_AT_WORD = re.compile(rf"(?:\b(?=\w)|(?=\$))(?:{_LAB_BEFORE.pattern})", re.IGNORECASE)
_KEYWORD_LOWER = lower_twin(_KEYWORD_AT_WORD)
_LAB_LOWER = lower_twin(_LAB_AT_WORD)
_LAST_FOUR_FAST = case_blind(LAST_FOUR)
_KINDS = {kind.value: kind for kind in Kind}


def _lab_before(scan: Scan, start: int) -> bool:
    """Whether a lab name, a count word or a currency ends just before start (30 characters)."""
    if scan.ascii:
        return _LAB_LOWER.search(scan.lower, max(0, start - 30), start) is not None
    return _LAB_AT_WORD.search(scan.text, max(0, start - 30), start) is not None


def _keyword_kind(text: str, start: int) -> Kind | None:
    """The kind named by the nearest specific keyword in the few words before start; OTHER_ID
    when only a generic one ('number', '#') is there."""
    floor = max(start - 45, 0)
    sentence = max(text.rfind(". ", floor, start), text.rfind("\n", floor, start), floor)
    window = " ".join(text[sentence:start].split()[-5:])
    pattern = _KEYWORD_AT_WORD
    if window.isascii():
        window, pattern = window.lower(), _KEYWORD_LOWER
    best: Kind | None = None
    generic = False
    for match in pattern.finditer(window):
        kind = _KINDS[match.lastgroup or "OTHER_ID"]
        if kind is Kind.OTHER_ID:
            generic = True
        else:
            best = kind
    if best is not None:
        return best
    return Kind.OTHER_ID if generic else None


def _is_reference(token: str) -> bool:
    lowered = token.casefold().lstrip("#")
    if lowered.startswith(REFERENCE_PREFIXES) and not lowered.startswith(("rx", "pt")):
        return lowered.startswith(("nct", "isrctn", "actrn", "pmid", "pmc", "rs", "nm_", "np_"))
    letters = _LETTERS_THEN_DIGIT.match(lowered)
    return bool(letters and letters.group(1) in COMPOUND_PREFIXES and len(token) <= 11)


_RANGE_SPLIT = re.compile(r"\s?-\s?|/")
_LETTERS_THEN_DIGIT = re.compile(r"([a-z]+)-?\d")


def _is_range(token: str) -> bool:
    parts = _RANGE_SPLIT.split(token)
    if len(parts) != 2 or not all(p.isdecimal() for p in parts):
        return False
    low, high = int(parts[0]), int(parts[1])
    return low < high and len(parts[0]) >= len(parts[1]) - 1 and len(parts[1]) >= len(parts[0])


_LAST_FOUR_GATES = gate_words("last ending xxx")
_PLATE_GATES = gate_words("plate plates tag tags registration")
_ZIP_GATES = gate_words("zip zipcode postal post")


def identifiers(scan: Scan) -> list[Finding]:
    """Record, plan, account, licence, device and other numbers, by shape and by keyword."""
    text = scan.text
    found: list[Finding] = []
    if scan.gated(_LAST_FOUR_GATES):
        last_four, subject = _LAST_FOUR_FAST.on(scan)
        for match in last_four.finditer(subject):
            kind = Kind.SSN if re.search(r"ss|social", match.group(), re.I) else Kind.ACCOUNT
            found.append(finding(match.start(1), match.end(1), kind))
    if scan.gated(_PLATE_GATES):
        for match in PLATE.finditer(text):
            plate = match.group(1)
            if re.search(r"\d", plate) and (
                re.search(r"[A-Za-z]", plate) or re.fullmatch(r"[A-Z0-9 -]{5,9}", plate)
            ):
                found.append(finding(match.start(1), match.end(1), Kind.VEHICLE))
    reached = -1
    for num in scan.numbers:
        if num.lead < reached:
            continue
        maybe_shaped = len(num.text) == 3 or num.end - num.lead >= 11  # see _shaped
        shaped = _shaped(text, num) if maybe_shaped else None
        if shaped is not None:
            found.append(shaped)
            reached = shaped.end
            continue
        if num.lead == num.start and (num.end - num.start < 4 or _SMALL_NUMBER.fullmatch(num.text)):
            continue  # 12.6, 140/90, 5/325, 39M: values, not identifiers
        lead = num.lead
        if lead and text[lead - 1] == "#":
            lead -= 1
        token = TOKEN.match(text, lead)
        if token:
            result = _identifier(scan, token.start(), token.end())
            if result is not None:
                found.append(result)
                reached = token.end()
    return found


def _shaped(text: str, num: Num) -> Finding | None:
    """Numbers whose shape alone says what they are: SSN, Medicare MBI, VIN."""
    if len(num.text) == 3 and num.text.isdecimal():
        match = SSN.match(text, num.start)
        if match:
            return finding(match.start(), match.end(), Kind.SSN)
    size = num.end - num.lead
    if size in (11, 13) and (num.lead < num.start or num.text[:1] in "123456789"):
        match = MBI.match(text, num.lead)
        if match:
            return finding(match.start(), match.end(), Kind.HEALTH_PLAN)
    if size >= 17:
        match = VIN.match(text, num.lead)
        if match:
            return finding(match.start(), match.end(), Kind.VEHICLE)
    return None


_SMALL_NUMBER = re.compile(r"\d{1,3}(?:[./:x]\d{1,3})*[A-Za-z%]{0,3}")
_FOUR_DIGITS = re.compile(r"\d{4}")
_YEAR = re.compile(r"(?:19|20)\d\d")
_LOINC = re.compile(r"\d{1,5}-\d")
_YEARS = re.compile(r"(?:19|20)\d\d\s?-\s?(?:19|20)?\d\d")
_RATIO = re.compile(r"\d+(?:/\d+)+")


def _identifier(scan: Scan, start: int, end: int) -> Finding | None:
    text = scan.text
    token = text[start:end]
    digits = sum(map(str.isdecimal, token))
    if digits < 4:
        return None
    letters = sum(map(str.isalpha, token))
    if letters and _is_reference(token):
        return None
    if digits == 4 and _FOUR_DIGITS.fullmatch(token):  # a year or a dose
        kind = _keyword_kind(text, start)
        if kind in (None, Kind.OTHER_ID, Kind.PHONE, Kind.DEVICE) or _YEAR.fullmatch(token):
            return None
        return finding(start, end, kind)
    if not letters and (
        _LOINC.fullmatch(token)  # LOINC-style code
        or _YEARS.fullmatch(token)
        or _RATIO.fullmatch(token)  # ratios, dates and titres are handled elsewhere
        or _is_range(token)
    ):
        return None
    kind = _keyword_kind(text, start)
    unit_follows = letters == 0 and bool(_UNIT_AFTER.match(text, end))
    lab_before = letters == 0 and _lab_before(scan, start)
    if kind is not None and kind is not Kind.PHONE and not (unit_follows or lab_before):
        if kind is Kind.OTHER_ID and digits < 5:
            return None
        if kind is Kind.DEVICE and letters == 0 and digits < 5:
            return None
        return finding(start, end, kind)
    if kind is Kind.PHONE and letters == 0 and digits >= 7:
        return finding(start, end, Kind.PHONE)
    if unit_follows or lab_before:
        return None
    if letters and digits >= 5 and letters <= 8:
        return finding(
            start,
            end,
            Kind.OTHER_ID,
            Action.REVIEW,
            reason="This looks like a record, member or serial number.",
        )
    if not letters and digits >= 7 and "-" not in token and " " not in token:
        return finding(
            start,
            end,
            Kind.OTHER_ID,
            Action.REVIEW,
            reason="A long number like this is usually an identifier.",
        )
    if not letters and digits >= 6 and ("-" in token or " " in token):
        return finding(
            start,
            end,
            Kind.OTHER_ID,
            Action.REVIEW,
            reason="A grouped number like this is usually an identifier.",
        )
    return None


_STATE_BEFORE = re.compile(
    r"(?:\b(?:" + "|".join(sorted(US_STATES)) + r")|[A-Z][a-z]+(?: [A-Z][a-z]+)?)\.?,?\s+$"
)


def zips(scan: Scan) -> list[Finding]:
    """ZIP codes: after 'zip', after a state, or in ZIP+4 form."""
    text = scan.text
    found = []
    if scan.gated(_ZIP_GATES):
        cue, subject = _ZIP_CUE_FAST.on(scan)
        found += [finding(m.start(1), m.end(1), Kind.ZIP) for m in cue.finditer(subject)]
    for num in scan.numbers:
        if num.lead != num.start or not num.text[:5].isdecimal() or len(num.text) not in (5, 10):
            continue
        match = ZIP_PLUS_FOUR.match(text, num.start)
        if match:
            found.append(finding(match.start(), match.end(), Kind.ZIP))
            continue
        if len(num.text) != 5:
            continue
        state = _STATE_BEFORE.search(text, max(0, num.start - 30), num.start)
        if state:
            words = state.group().strip(" ,.").strip()
            phrase = words.casefold()
            if (
                words in US_STATES
                or phrase in US_STATES.values()
                or (state.group().rstrip().endswith(",") and phrase in scan.lex.places)
            ):
                found.append(finding(num.start, num.end, Kind.ZIP))
    return found

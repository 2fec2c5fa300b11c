"""Dates more specific than a year, and ages over 89 in any wording."""

from __future__ import annotations

import re
from datetime import date
from functools import cache

from forum.phi.findings import Action, Finding, Kind
from forum.phi.rules.base import (
    Scan,
    case_blind,
    finding,
    gate_words,
    words_after,
    words_before,
    words_set,
)

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_MONTH_ANY_CASE = (
    rf"(?:{_MONTH}|january|february|march|april|june|july|august|september|october|"
    r"november|december)"
)
_DAY = r"(?:[12]\d|3[01]|0?[1-9])"
_ORDINAL = rf"{_DAY}(?:st|nd|rd|th)?"
_YEAR = r"(?:1[89]\d\d|20\d\d)"
_SHORT_YEAR = r"(?:'\d\d|\d\d)"

MONTH_DAY = re.compile(
    rf"\b{_MONTH_ANY_CASE}\.?\s+(?:the\s+)?{_ORDINAL}\b(?!\s*(?:[:%/]|mg|mcg|g\b|units?|"
    r"patients?|pts|doses?|days?|weeks?|hours?|months?|years?|times|cases|tabs?|pills?|"
    r"people|of\b|or\s+\d|to\s+\d|-\s*\d))"
    rf"(?:\s*,?\s*{_YEAR}\b|\s*,?\s*'\d\d\b)?"
)
DAY_MONTH = re.compile(
    rf"\b(?:the\s+)?{_ORDINAL}\s*(?:of\s+|-)?{_MONTH_ANY_CASE}\b"
    r"(?:(?<=\b[A-Z][a-z]{2})\.|(?<=\bSept)\.)?"
    rf"(?:\s*,?\s*{_YEAR}\b)?"
)
MONTH_YEAR = re.compile(rf"\b{_MONTH_ANY_CASE}\.?(?:\s*(?:of\s+|,\s*)?{_YEAR}|\s*'\d\d)\b")
_MONTH_WORD = re.compile(
    r"(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\b"
)
ISO = re.compile(
    rf"(?<![\w/.-]){_YEAR}([-/.])(?:0?[1-9]|1[0-2])\1(?:[12]\d|3[01]|0?[1-9])(?![\w/-])"
)
NUMERIC = re.compile(r"(?<![\w/.:-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![\w/-]|\.\d)")
MONTH_DAY_NUMERIC = re.compile(r"(?<![\w/.:=+-])(\d{1,2})/(\d{1,2})(?![\w/%]|\.\d|-\d)")
MONTH_YEAR_NUMERIC = re.compile(r"(?<![\w/.:-])(0?[1-9]|1[0-2])[/-]((?:19|20)\d\d)(?![\w/-])")
COMPACT = re.compile(r"(?<![\w.-])(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?![\w.-])")
HOLIDAY = re.compile(
    r"\b(?:Christmas(?:\s+(?:Day|Eve))?|New\s+Year'?s?(?:\s+(?:Day|Eve))|Thanksgiving(?:\s+Day)?|"
    r"Halloween|Easter(?:\s+Sunday)?|Independence\s+Day|Fourth\s+of\s+July|July\s+4th|"
    r"Memorial\s+Day|Labor\s+Day|Labour\s+Day|Veterans\s+Day|Valentine'?s\s+Day|"
    r"Mother'?s\s+Day|Father'?s\s+Day|Boxing\s+Day|St\.?\s+Patrick'?s\s+Day|Good\s+Friday|"
    r"Hanukkah|Yom\s+Kippur|Rosh\s+Hashanah|Ramadan|Eid(?:\s+al-\w+)?|Diwali|Juneteenth)\b"
)

# Words around a slash pair that make it a score, a fraction or a blood pressure.
_NOT_DATE_BEFORE = words_set(
    "pain strength power motor grade murmur gcs apgar apgars score scored rated rate bp "
    "pressure x of ratio scale vas nrs mrc ros tab tabs take took gave give q every was "
    "is at ~ about approx approximately cultures bottles sets biopsies cores nodes mmse "
    "moca nihss phq gad ess mallampati tanner ecog kps brisk reflexes dtr dtrs"
)
_NOT_DATE_AFTER = words_set(
    "pain strength power murmur murmurs nodes node lymph bottles bottle sets set cultures "
    "culture cores biopsies criteria points point doses dose tab tabs tablet tablets pill "
    "pills ns normal saline of on in positive negative systolic diastolic holosystolic "
    "blood sputum urine swabs samples specimens patients pts cases times grade reflexes "
    "weakness score scale mmhg strength vision"
)
_DATE_BEFORE = words_set(
    "on since from until till by before after dated date dob d.o.b born birthday bday "
    "admitted admission discharged discharge seen visit visited surgery operated started "
    "stopped onset died death deceased expired last next as through between thru "
    "scheduled planned booked due appointment appt follow-up f/u fu presented arrived "
    "transferred intubated extubated delivered delivery edd lmp"
)
_AGE_WORDS = (
    r"(?:y/?o\b|y\.o\.?|yo[mf]?\b|y\b|yrs?\b(?:\s*old)?|years?\s*(?:-\s*)?old|year-old|yr-old|"
    r"years?\s+of\s+age|-year\b|-yo\b|yoa\b)"
)
_AGE = r"(?:9\d|1[0-2]\d)"
AGE_NUMBER = re.compile(rf"(?<![\w.,/-]){_AGE}\s*-?\s*{_AGE_WORDS}", re.IGNORECASE)
AGE_SEX = re.compile(rf"(?<![\w.,/$£€-])({_AGE})\s?-?\s?(?:yo\s?)?([MF])(?![\w°%])")
AGE_BIRTHDAY = re.compile(rf"\b({_AGE})(?:th|st|nd|rd)\s+birthday\b", re.IGNORECASE)
_TENS = r"(?:ninety|one\s+hundred(?:\s+and)?|a\s+hundred(?:\s+and)?|hundred(?:\s+and)?)"
_ONES = r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
AGE_WORDS = re.compile(
    rf"\b{_TENS}(?:[\s-]+{_ONES})?(?:[\s-]+(?:year|yr)s?(?:[\s-]+old|[\s-]+of\s+age)|"
    rf"(?=\s+(?:y/?o|yo)\b))",
    re.IGNORECASE,
)
AGE_DECADE = re.compile(
    r"\b(?:in\s+(?:his|her|their|the)\s+)(?:early\s+|mid\s*-?\s*|late\s+)?"
    r"(?:90s|90's|nineties|100s|hundreds)\b",
    re.IGNORECASE,
)
AGE_NOUN = re.compile(r"\b(?:nonagenarian|centenarian|supercentenarian)s?\b", re.IGNORECASE)
_AGE_NOT_BEFORE = re.compile(
    r"(?:>|≥|>=|°|\$|\b(?:over|above|than|least|temp|temperature|t|tmax|fever|febrile|hr|pulse|sats?|"
    r"spo2|o2|sao2|bp|rr|weight|wt|°|\$|usd|q|x|glucose|bg|hb|hgb|ef|lvef|fev1|fvc|dlco|"
    r"gfr|egfr|k|na|cl|iq|score|percentile))\W{0,3}$",
    re.IGNORECASE,
)
_AGE_NOT_BEFORE_FAST = case_blind(_AGE_NOT_BEFORE)


def _plausible(month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= 31


_FULL_MONTHS_LOWER = gate_words(
    "january february april june july august september october november december"
)
_HOLIDAY_GATES = gate_words(
    "christmas thanksgiving halloween easter independence memorial labor labour veterans",
    "valentine valentines boxing patrick hanukkah kippur hashanah ramadan eid diwali juneteenth",
    "fourth",
)
_NEW_YEAR_GATES = gate_words("new year")
_LOWER_MONTH = re.compile(
    r"\b(?:january|february|april|june|july|august|september|october|november|december)\b"
)
_MONTH_CUES = words_set(
    "in on since until till from during by last next this early mid mid- late of"
)
_MONTH_YEAR_REASON = "A month with its year narrows a date more than a year alone."
_MONTH_YEAR_SUGGESTION = "Give the year only, or a relative time such as '3 months ago'."


def dates(scan: Scan) -> list[Finding]:
    """Dates in every common format; bare month/day pairs need a date-like context."""
    text = scan.text
    found: list[Finding] = []
    for start in scan.months:
        found.extend(_month_word(text, start))
    if scan.gated(_FULL_MONTHS_LOWER):
        for month in _LOWER_MONTH.finditer(text):
            match = MONTH_DAY.match(text, month.start()) or MONTH_YEAR.match(text, month.start())
            if match:
                found.append(finding(match.start(), match.end(), Kind.DATE))
    for num in scan.numbers:
        if num.lead != num.start:
            continue
        found.extend(_numeric_date(text, num.start, num.text))
    if scan.gated(_HOLIDAY_GATES) or scan.gates >= _NEW_YEAR_GATES:
        for match in HOLIDAY.finditer(text):
            found.append(
                finding(
                    match.start(),
                    match.end(),
                    Kind.DATE,
                    Action.REVIEW,
                    reason="A holiday pins down a date.",
                    suggestion="Write relative time instead ('over a long weekend', 'day 3').",
                )
            )
    return found


def _month_word(text: str, start: int) -> list[Finding]:
    match = MONTH_DAY.match(text, start)
    if match and _month_day_is_date(text, match):
        return [finding(match.start(), match.end(), Kind.DATE)]
    match = MONTH_YEAR.match(text, start)
    if match:
        if match.group().split()[0].rstrip(".") == "May" and not re.search(r"\d{4}", match.group()):
            return []
        return [
            finding(
                match.start(),
                match.end(),
                Kind.DATE,
                reason=_MONTH_YEAR_REASON,
                suggestion=_MONTH_YEAR_SUGGESTION,
            )
        ]
    match = _MONTH_WORD.match(text, start)
    if not match:
        return []
    before = words_before(text, start, 2)
    if not before or (
        before[-1] not in _MONTH_CUES
        and " ".join(before)
        not in (
            "end of",
            "beginning of",
            "start of",
            "middle of",
        )
    ):
        return []
    if match.group() == "May" and before[-1] in ("on", "by", "this", "next", "of", "from"):
        return []
    if re.match(r"\s+(?:\d|the\s+\d)", text[match.end() : match.end() + 8]):
        return []
    return [
        finding(
            match.start(),
            match.end(),
            Kind.DATE,
            Action.REVIEW,
            reason="A month tied to the patient's story is a date element.",
            suggestion="If it dates the patient's care, write relative time ('3 months ago').",
        )
    ]


def _numeric_date(text: str, start: int, token: str) -> list[Finding]:
    if token[-2:] in ("st", "nd", "rd", "th") and token[:-2].isdecimal():
        begin = start - 4 if text[max(0, start - 4) : start].lower() == "the " else start
        match = DAY_MONTH.match(text, begin)
        if match:
            return [finding(match.start(), match.end(), Kind.DATE)]
        return _ordinal_alone(text, start, start + len(token))
    if token.isdecimal():
        if len(token) <= 2:
            begin = start - 4 if text[max(0, start - 4) : start].lower() == "the " else start
            match = DAY_MONTH.match(text, begin)
            if match:
                return [finding(match.start(), match.end(), Kind.DATE)]
        elif len(token) == 8:
            match = COMPACT.match(text, start)
            if match:
                return [finding(match.start(), match.end(), Kind.DATE)]
        return []
    if "/" not in token and "-" not in token and "." not in token:
        return []
    match = ISO.match(text, start)
    if match:
        return [finding(match.start(), match.end(), Kind.DATE)]
    match = NUMERIC.match(text, start)
    if match:
        first, second = int(match.group(1)), int(match.group(3))
        plausible = _plausible(first, second) or _plausible(second, first)
        version = match.group(2) == "." and len(match.group(4)) == 2  # 1.5.10
        if (
            plausible
            and not version
            and (
                len(match.group(4)) == 4
                or not _slash_context_says_not_date(text, match.start(), match.end())
            )
        ):
            return [finding(match.start(), match.end(), Kind.DATE)]
        return []
    match = MONTH_YEAR_NUMERIC.match(text, start)
    if match:
        if not _slash_context_says_not_date(text, match.start(), match.end()):
            return [finding(match.start(), match.end(), Kind.DATE)]
        return []
    match = MONTH_DAY_NUMERIC.match(text, start)
    if match:
        result = _month_day(text, match)
        return [result] if result else []
    return []


_ORDINAL_NOUNS = words_set(
    "day days week weeks month months year years percentile centile rib ribs cranial "
    "nerve dose doses cycle cycles time times line lines grade floor birthday trimester "
    "decade hour hours minute minutes visit visits admission pregnancy child edition "
    "attempt round session generation degree toe finger digit metacarpal metatarsal "
    "vertebra intercostal space postoperative post-op hospital st"
)


def _ordinal_alone(text: str, start: int, end: int) -> list[Finding]:
    """'on the 14th': a day of the month on its own."""
    before = words_before(text, start, 2)
    if before and before[-1] == "the":
        before = before[:-1]
    if not before or before[-1] not in (
        "on",
        "since",
        "from",
        "until",
        "till",
        "by",
        "before",
        "after",
    ):
        return []
    after = words_after(text, end, 2)
    if after and (after[0] in _ORDINAL_NOUNS or (len(after) > 1 and after[1] in _ORDINAL_NOUNS)):
        return []
    return [
        finding(
            start,
            end,
            Kind.DATE,
            Action.REVIEW,
            reason="A day of the month dates the patient's care.",
        )
    ]


def _month_day_is_date(text: str, match: re.Match[str]) -> bool:
    word = match.group().split()[0]
    if word == "May" or word.casefold() in ("march", "mar"):
        # "May 3 be..." is rare, but "may" and "march" are also verbs: need the capital and a day
        return word[0].isupper()
    return True


def _slash_context_says_not_date(text: str, start: int, end: int) -> bool:
    before = words_before(text, start, 1)
    after = words_after(text, end, 1)
    if before and before[-1] in _NOT_DATE_BEFORE - _DATE_BEFORE:
        return True
    return bool(after and after[0] in _NOT_DATE_AFTER)


def _month_day(text: str, match: re.Match[str]) -> Finding | None:
    """3/14 or 14/3: a date in date-like company, a score or fraction otherwise."""
    first, second = int(match.group(1)), int(match.group(2))
    if not (_plausible(first, second) or _plausible(second, first)):
        return None
    start, end = match.span()
    if (start > 0 and text[start - 1] in "/:") or text[end : end + 1] in "/:":
        return None
    if first == second:
        return None  # 5/5, 2/2: strength and counts
    near = words_before(text, start, 3)
    dated = bool(near) and (
        near[-1] in _DATE_BEFORE or (len(near) > 1 and near[-2] in _DATE_BEFORE)
    )
    if not dated and (
        any(w in _NOT_DATE_BEFORE for w in near)
        or (first <= second and second in (3, 4, 5, 6, 10))  # pain 8/10, 4/5, 2/6
    ):
        return None
    before = words_before(text, start, 2)
    after = words_after(text, end, 1)
    if re.search(r"[<>≤≥~]\s*$", text[max(0, start - 3) : start]):
        return None
    if _slash_context_says_not_date(text, start, end):
        return None
    if before and (before[-1] in _DATE_BEFORE or (len(before) > 1 and before[-2] in _DATE_BEFORE)):
        return finding(start, end, Kind.DATE)
    if after and after[0] in ("at", "@", "and", "to", "-", "through", "thru"):
        return finding(start, end, Kind.DATE)
    if first == second or (first <= 12 and second <= 12 and first * 2 == second):
        return None  # 2/2, 5/10 read as counts or fractions
    return finding(
        start,
        end,
        Kind.DATE,
        Action.REVIEW,
        reason="This looks like a month/day date.",
        suggestion="If it is a date, write relative time ('day 3'); if a score, name the score.",
    )


_AGE_CUE_BEFORE = re.compile(
    r"\b(?:age[ds]?|aged|age:|turned|turning|turns|is\s+now)\s*(?:of\s+|is\s+|was\s+|=\s*|:\s*)?$",
    re.IGNORECASE,
)
_AGE_CUE_NOT_AFTER = re.compile(
    r"\s*(?:\+|or\s+(?:older|over|above|more)|and\s+(?:older|over|above)|%|mg|kg|bpm|mmhg|"
    r"minutes|min|seconds|days|percent|lbs|pounds|cm|ml|\.\d)",
    re.IGNORECASE,
)
_BORN_BEFORE = re.compile(
    r"\b(?:born\s+(?:in\s+)?|b\.\s*|dob\s*:?\s*|year\s+of\s+birth\s*:?\s*|birth\s+year\s*:?\s*)$",
    re.IGNORECASE,
)


_AGE_WORD_GATES = gate_words("ninety hundred")
_DECADE_GATES = gate_words("90s nineties hundreds 100s")
_AGE_NOUN_GATES = gate_words(
    "nonagenarian nonagenarians centenarian centenarians supercentenarian supercentenarians"
)


@cache
def _this_year() -> int:
    return date.today().year


def ages(scan: Scan) -> list[Finding]:
    """Ages of 90 and over, in numbers or words, and birth years that imply them."""
    text = scan.text
    found: list[Finding] = []
    this_year = _this_year()
    for num in scan.numbers:
        if num.lead != num.start:
            continue
        digits = num.text[:3] if num.text[:3].isdecimal() else num.text[:2]
        if not digits.isdecimal():
            continue
        value = int(digits)
        if 90 <= value <= 129 and not (
            len(num.text) > len(digits) and num.text[len(digits)].isdecimal()
        ):
            found.extend(_age_number(scan, num.start, num.start + len(digits)))
        elif (
            len(num.text) == 4
            and num.text.isdecimal()
            and this_year - int(num.text) > 89
            and _BORN_BEFORE.search(text, max(0, num.start - 20), num.start)
        ):
            found.append(
                finding(
                    num.start,
                    num.end,
                    Kind.AGE_OVER_89,
                    reason="A birth year this early implies an age over 89.",
                    suggestion="Use an age band such as '90 or older', not the birth year.",
                )
            )
    lower = scan.lower
    if scan.gated(_AGE_WORD_GATES):
        for match in AGE_WORDS.finditer(text):
            found.append(finding(match.start(), match.end(), Kind.AGE_OVER_89))
    review_patterns = []
    if scan.gated(_DECADE_GATES) or "90's" in lower:
        review_patterns.append(AGE_DECADE)
    if scan.gated(_AGE_NOUN_GATES):
        review_patterns.append(AGE_NOUN)
    for pattern in review_patterns:
        for match in pattern.finditer(text):
            found.append(
                finding(
                    match.start(),
                    match.end(),
                    Kind.AGE_OVER_89,
                    Action.REVIEW,
                    reason="An age band above 89 can still single out a patient.",
                )
            )
    return found


def _age_number(scan: Scan, start: int, end: int) -> list[Finding]:
    """A number from 90 to 129 that the words around it make an age."""
    not_before, subject = _AGE_NOT_BEFORE_FAST.on(scan)
    if not_before.search(subject, max(0, start - 12), start):
        return []
    text = scan.text
    if AGE_NUMBER.match(text, start) or AGE_BIRTHDAY.match(text, start):
        return [finding(start, end, Kind.AGE_OVER_89)]
    match = AGE_SEX.match(text, start)
    if match and not re.match(r"\s*(?:°|degrees|deg\b|fahrenheit)", text[match.end() :], re.I):
        return [finding(start, end, Kind.AGE_OVER_89)]
    if _AGE_CUE_BEFORE.search(text, max(0, start - 16), start) and not _AGE_CUE_NOT_AFTER.match(
        text, end
    ):
        return [finding(start, end, Kind.AGE_OVER_89)]
    before = _APPOSITION_BEFORE.search(text, max(0, start - 30), start)
    if before and (
        _APPOSITION_AFTER.match(text, end)
        or (before.group()[0].isupper() and text[end : end + 1] in (",", ")", ";"))
    ):
        return [finding(start, end, Kind.AGE_OVER_89)]  # "Eleanor Whitfield, 91, fell"
    return []


_APPOSITION_BEFORE = re.compile(r"[A-Za-z][\w'\u2019-]*\s*(?:,|\()\s*$")
_APPOSITION_AFTER = re.compile(
    r"\s*(?:[,);]\s*)?(?:who|with|and|presents|presenting|presented|is|was|has|had|admitted|"
    r"s/p|h/o|lives|living|now|fell|from)\b|\s*\)"
)

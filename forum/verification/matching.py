"""Whether a physician's claim agrees with the registry's record for its NPI, rule by rule.

Names are compared on tokens with case, accents, hyphens, apostrophes, periods, titles and
suffixes set aside. A first name may be an initial or a common nickname (data/nicknames.csv);
nothing fuzzier, so a typo is a mismatch that a verifier looks at.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forum.verification.taxonomy import (
    REVIEW_CODES,
    TaxonomyVerdict,
    is_physician_code,
    verdict_for,
)

if TYPE_CHECKING:
    from forum.verification.models import RegistryProvider

NICKNAMES = Path(__file__).parent / "data" / "nicknames.csv"
SOURCE_REGISTRY = "registry"
SOURCE_API = "nppes_api"
RULES = (
    "in_registry",
    "active",
    "individual",
    "physician_taxonomy",
    "name",
    "licence",
    "practice_state",
)

# Letters that Unicode does not decompose into a base letter and an accent.
_LETTER_FOLDS = str.maketrans(
    {"ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "\u0131": "i"}
)
# Apostrophes (straight, typographic, modifier letter, backtick, acute) vanish: O'NEIL is ONEIL.
_APOSTROPHES = "'`\u2019\u2018\u02bc\u00b4"
# Dropped at the front of a name when something else remains.
_TITLES = frozenset({"dr", "doctor", "prof", "professor", "mr", "mrs", "ms", "miss", "mx"})
# Dropped at the end of a name when something else remains; "M. D." arrives as two tokens.
_SUFFIXES = frozenset(
    {
        "jr", "sr", "junior", "senior", "ii", "iii", "iv", "v", "2nd", "3rd",
        "md", "do", "mbbs", "mbchb", "phd", "dds", "dmd", "mph", "facs", "facp", "esq",
    }
)  # fmt: skip
_LONGEST_SUFFIX_TOKENS = 3
# NPPES entity type codes.
_PERSON, _ORGANISATION = 1, 2


class Outcome(StrEnum):
    """The matcher's verdict on a claim, in the order the checks are decided."""

    MATCH = "match"
    NOT_FOUND = "not_found"
    INACTIVE = "inactive"
    ORGANISATION = "organisation"
    NOT_PHYSICIAN = "not_physician"
    TAXONOMY_REVIEW = "taxonomy_review"
    NAME_MISMATCH = "name_mismatch"
    LICENCE_MISMATCH = "licence_mismatch"

    @property
    def explanation(self) -> str:
        """One sentence for the member and the verifier."""
        return _EXPLANATIONS[self]


_EXPLANATIONS = {
    Outcome.MATCH: "Your NPI, name and any licence you gave agree with the NPPES registry.",
    Outcome.NOT_FOUND: (
        "This NPI is not in our copy of the NPPES registry, so a verifier will check it by hand."
    ),
    Outcome.INACTIVE: "The NPPES registry lists this NPI as deactivated.",
    Outcome.ORGANISATION: (
        "This NPI belongs to an organisation, not a person: enter your own individual (type 1) NPI."
    ),
    Outcome.NOT_PHYSICIAN: (
        "None of the taxonomy codes the NPPES registry lists for this NPI is a physician's."
    ),
    Outcome.TAXONOMY_REVIEW: (
        "The NPPES registry lists this NPI only under oral and maxillofacial surgery or as a "
        "physician in training, which a verifier must confirm."
    ),
    Outcome.NAME_MISMATCH: (
        "The name you gave does not match the name the NPPES registry holds for this NPI."
    ),
    Outcome.LICENCE_MISMATCH: (
        "The licence number and state you gave match none of the licences the NPPES registry "
        "lists for this NPI."
    ),
}


@dataclass(frozen=True)
class Claim:
    """What a member states about themselves on the credential form."""

    npi: str
    first_name: str
    last_name: str
    practice_state: str
    licence_number: str | None = None
    licence_state: str | None = None


@dataclass(frozen=True)
class RuleResult:
    """One rule's outcome; passed is None when the rule does not apply."""

    rule: str
    passed: bool | None
    detail: str


@dataclass(frozen=True)
class MatchResult:
    """The verdict with every rule's outcome, kept as the claim's evidence."""

    outcome: Outcome
    rules: tuple[RuleResult, ...]
    source: str
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def matched(self) -> bool:
        """Every rule that decides agreed."""
        return self.outcome is Outcome.MATCH

    def rule(self, name: str) -> RuleResult:
        """The outcome of the rule called `name`."""
        for result in self.rules:
            if result.rule == name:
                return result
        raise KeyError(name)

    def evidence(self, import_id: int | None) -> dict[str, Any]:
        """The JSON stored with the claim, naming the registry import it was checked against."""
        return {
            "outcome": self.outcome.value,
            "source": self.source,
            "import_id": import_id,
            "rules": [
                {"rule": result.rule, "passed": result.passed, "detail": result.detail}
                for result in self.rules
            ],
            "checked_at": self.checked_at.isoformat(timespec="seconds"),
        }


# --- Names ---------------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Lower case without accents: "Zoë Ångström" -> "zoe angstrom"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_LETTER_FOLDS))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def normalise_name(text: str) -> list[str]:
    """The words of a name, case-folded and without accents; apostrophes join, the rest splits."""
    for apostrophe in _APOSTROPHES:
        text = text.replace(apostrophe, "")
    folded = _fold(text)
    return "".join(char if char.isalnum() else " " for char in folded).split()


def _trimmed(tokens: list[str]) -> list[str]:
    """A name's tokens without leading titles and trailing suffixes (never emptied)."""
    tokens = list(tokens)
    while len(tokens) > 1 and tokens[0] in _TITLES:
        tokens.pop(0)
    trimmed = True
    while trimmed:
        trimmed = False
        for size in range(1, _LONGEST_SUFFIX_TOKENS + 1):
            if len(tokens) > size and "".join(tokens[-size:]) in _SUFFIXES:
                del tokens[-size:]
                trimmed = True
                break
    return tokens


def _name_tokens(text: str | None) -> list[str]:
    return _trimmed(normalise_name(text or ""))


@cache
def known_nicknames() -> Mapping[str, frozenset[str]]:
    """Each given name with the names it is known by, in both directions, never chained."""
    pairs: dict[str, set[str]] = {}
    with NICKNAMES.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(line for line in handle if not line.startswith("#"))
        for row in rows:
            names = [name for name in ("".join(normalise_name(cell)) for cell in row) if name]
            for other in names[1:]:
                if other != names[0]:
                    pairs.setdefault(names[0], set()).add(other)
                    pairs.setdefault(other, set()).add(names[0])
    return {name: frozenset(others) for name, others in pairs.items()}


def _token_agrees(claimed: str, registered: str) -> str | None:
    """How one given-name token agrees with the registry's: exact, initial, nickname or None."""
    if claimed == registered:
        return "exact"
    if len(claimed) == 1 and registered.startswith(claimed):
        return "initial"
    if len(registered) == 1 and claimed.startswith(registered):
        return "initial"
    if registered in known_nicknames().get(claimed, ()):
        return "nickname"
    return None


def _in_order(claimed: Sequence[str], registered: Sequence[str]) -> bool:
    """Each claimed token agrees with a later registry token than the one before it."""
    position = 0
    for token in claimed:
        while position < len(registered) and _token_agrees(token, registered[position]) is None:
            position += 1
        if position == len(registered):
            return False
        position += 1
    return True


def _given_names_agree(claimed: list[str], first: list[str], middle: list[str]) -> str | None:
    """How claimed given names agree with a registry first and middle name, or None."""
    if not claimed or not first:
        return None
    joined = "".join(claimed)
    if joined in ("".join(first), "".join(first + middle)):
        return "exact"
    others = first[1:] + middle
    how = _token_agrees(claimed[0], first[0])
    if how is not None:
        # Extra claimed names (middle names) must agree with the registry's, if it has any.
        if not others or _in_order(claimed[1:], others):
            return how
        return None
    # Known by a middle name ("Robert" for JOHN ROBERT); an initial alone is too little.
    if len(claimed[0]) > 1 and others and _in_order(claimed, others):
        return "middle name"
    return None


@dataclass(frozen=True)
class _RegistryName:
    label: str
    first: list[str]
    middle: list[str]
    last: list[str]


def _registry_names(provider: RegistryProvider) -> Iterator[_RegistryName]:
    """The legal name, then each other (former) name, filled from the legal name where partial."""
    yield _RegistryName(
        "legal name",
        _name_tokens(provider.first_name),
        _name_tokens(provider.middle_name),
        _name_tokens(provider.last_name),
    )
    for other in provider.other_names or []:
        first = other.get("first")
        # A former last name alone (a maiden name) is recorded without the given names.
        yield _RegistryName(
            "other name",
            _name_tokens(first or provider.first_name),
            _name_tokens(other.get("middle") if first else provider.middle_name),
            _name_tokens(other.get("last") or provider.last_name),
        )


def names_agree(first: str, last: str, provider: RegistryProvider) -> RuleResult:
    """Whether the claimed names are the registry's legal or other names, tolerantly read."""
    claimed_first, claimed_last = _name_tokens(first), _name_tokens(last)
    if not claimed_first or not claimed_last:
        return RuleResult("name", False, "A first and a last name are both needed.")
    names = [name for name in _registry_names(provider) if name.last]
    if not names:
        return RuleResult("name", None, "The registry holds no personal name for this NPI.")
    last_agreed = False
    for name in names:
        if "".join(claimed_last) != "".join(name.last):
            continue
        last_agreed = True
        how = _given_names_agree(claimed_first, name.first, name.middle)
        if how is not None:
            return RuleResult("name", True, _name_detail(name.label, how))
    if last_agreed:
        return RuleResult(
            "name",
            False,
            "The last name agrees but the first name does not (not the same name, an initial "
            "of it or a common nickname).",
        )
    return RuleResult("name", False, "The last name differs from every name the registry holds.")


def _name_detail(label: str, how: str) -> str:
    if how == "exact":
        return f"Agrees with the registry's {label}."
    if how == "middle name":
        return f"Agrees with the registry's {label}, the first name given being its middle name."
    article = "an" if how == "initial" else "a"
    return f"Agrees with the registry's {label}, the first name given as {article} {how}."


# --- Licences ------------------------------------------------------------------------------------


def normalise_licence(text: str) -> str:
    """A licence number upper-cased, without punctuation or spaces: "me-68414" -> "ME68414"."""
    return "".join(char for char in text.upper() if char.isalnum())


def licence_agrees(number: str | None, state: str | None, provider: RegistryProvider) -> RuleResult:
    """Whether a claimed licence number (and state) is one of the registry's slot licences."""
    given = normalise_licence(number or "")
    if not given:
        return RuleResult("licence", None, "No licence number given.")
    wanted_state = (state or "").strip().upper()
    licences = [
        (int(slot.get("slot") or 0), str(slot.get("state") or "").upper())
        for slot in provider.taxonomies or []
        if normalise_licence(str(slot.get("licence") or "")) == given
    ]
    listed = sorted(
        {
            str(slot.get("state") or "?").upper()
            for slot in provider.taxonomies or []
            if slot.get("licence")
        }
    )
    if not listed:
        return RuleResult("licence", False, "The registry lists no licence for this NPI.")
    for slot, licence_state in licences:
        if not wanted_state or licence_state == wanted_state:
            where = licence_state or "a"
            return RuleResult(
                "licence", True, f"Matches the registry's {where} licence (taxonomy slot {slot})."
            )
    if licences:
        states = ", ".join(sorted({licence_state or "?" for _, licence_state in licences}))
        return RuleResult(
            "licence", False, f"The number is the registry's {states} licence, not {wanted_state}."
        )
    return RuleResult(
        "licence",
        False,
        f"No registry licence has this number (licences listed in {', '.join(listed)}).",
    )


# --- The other rules -----------------------------------------------------------------------------


def _active_rule(provider: RegistryProvider) -> RuleResult:
    if provider.deactivated_on is None:
        return RuleResult("active", True, "Not deactivated.")
    deactivated = provider.deactivated_on.isoformat()
    if provider.is_active and provider.reactivated_on is not None:
        reactivated = provider.reactivated_on.isoformat()
        return RuleResult("active", True, f"Deactivated {deactivated}, reactivated {reactivated}.")
    return RuleResult("active", False, f"Deactivated on {deactivated}.")


def _individual_rule(provider: RegistryProvider) -> RuleResult:
    if provider.entity_type == _PERSON:
        return RuleResult("individual", True, "An individual (entity type 1).")
    if provider.entity_type == _ORGANISATION:
        return RuleResult("individual", False, "An organisation (entity type 2).")
    if not provider.is_active:
        # NPPES blanks every field but the dates of a deactivated NPI.
        return RuleResult("individual", None, "No entity type published (deactivated NPI).")
    return RuleResult("individual", False, "The registry gives no entity type.")


def _taxonomy_rule(provider: RegistryProvider) -> tuple[RuleResult, TaxonomyVerdict]:
    slots = [
        (int(slot.get("slot") or 0), str(slot.get("code") or "").strip().upper())
        for slot in provider.taxonomies or []
    ]
    verdict = verdict_for(code for _, code in slots)
    if verdict is TaxonomyVerdict.PHYSICIAN:
        slot, code = next((slot, code) for slot, code in slots if is_physician_code(code))
        return RuleResult("physician_taxonomy", True, f"{code} in slot {slot}."), verdict
    if verdict is TaxonomyVerdict.REVIEW:
        code = next(code for _, code in slots if code in REVIEW_CODES)
        detail = f"Only {code}, {REVIEW_CODES[code]}: a verifier decides."
        return RuleResult("physician_taxonomy", False, detail), verdict
    if not slots:
        return RuleResult("physician_taxonomy", False, "No taxonomy listed."), verdict
    codes = ", ".join(code for _, code in slots)
    return RuleResult("physician_taxonomy", False, f"No physician code among {codes}."), verdict


def _practice_state_rule(claimed: str, provider: RegistryProvider) -> RuleResult:
    claimed = claimed.strip().upper()
    registered = (provider.practice_state or "").strip().upper()
    if not claimed or not registered:
        return RuleResult("practice_state", None, "Informational: no state to compare.")
    if claimed == registered:
        return RuleResult("practice_state", True, f"Informational: {claimed} in both.")
    return RuleResult(
        "practice_state",
        False,
        f"Informational: claimed {claimed}, registry practice location in {registered}.",
    )


def _not_found(source: str) -> MatchResult:
    rules = [RuleResult("in_registry", False, f"No record for this NPI in {_where(source)}.")]
    rules += [RuleResult(rule, None, "Not checked: no registry record.") for rule in RULES[1:]]
    return MatchResult(Outcome.NOT_FOUND, tuple(rules), source)


def _decide(
    provider: RegistryProvider, verdict: TaxonomyVerdict, rules: Mapping[str, RuleResult]
) -> Outcome:
    """The first failing check in the order a verifier would want to hear about it."""
    if provider.entity_type == _ORGANISATION:
        return Outcome.ORGANISATION
    if not provider.is_active:
        return Outcome.INACTIVE
    if not provider.is_individual:
        return Outcome.ORGANISATION
    if verdict is TaxonomyVerdict.REVIEW:
        return Outcome.TAXONOMY_REVIEW
    if verdict is TaxonomyVerdict.NOT_PHYSICIAN:
        return Outcome.NOT_PHYSICIAN
    if rules["name"].passed is not True:
        return Outcome.NAME_MISMATCH
    if rules["licence"].passed is False:
        return Outcome.LICENCE_MISMATCH
    return Outcome.MATCH


def match(
    claim: Claim, provider: RegistryProvider | None, source: str = SOURCE_REGISTRY
) -> MatchResult:
    """Check a claim against the registry record for its NPI (None: there is none)."""
    if provider is None:
        return _not_found(source)
    if provider.npi != claim.npi:
        raise ValueError("The registry record is for another NPI than the claim's.")
    taxonomy_rule, verdict = _taxonomy_rule(provider)
    if provider.entity_type == _ORGANISATION:
        name = RuleResult("name", None, "Not applicable: an organisation's NPI.")
    else:
        name = names_agree(claim.first_name, claim.last_name, provider)
    rules = {
        "in_registry": RuleResult("in_registry", True, f"Found in {_where(source)}."),
        "active": _active_rule(provider),
        "individual": _individual_rule(provider),
        "physician_taxonomy": taxonomy_rule,
        "name": name,
        "licence": licence_agrees(claim.licence_number, claim.licence_state, provider),
        "practice_state": _practice_state_rule(claim.practice_state, provider),
    }
    outcome = _decide(provider, verdict, rules)
    return MatchResult(outcome, tuple(rules[rule] for rule in RULES), source)


def _where(source: str) -> str:
    return "the NPPES API" if source == SOURCE_API else "the registry copy"

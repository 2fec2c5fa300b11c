"""Matching a claim to the registry record: every rule, the outcome order, and the evidence kept.

Pure unit tests: RegistryProvider objects are built in memory and never stored.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from forum import ROOT
from forum.verification import matching
from forum.verification.matching import (
    RULES,
    Claim,
    MatchResult,
    Outcome,
    RuleResult,
    known_nicknames,
    licence_agrees,
    match,
    names_agree,
    normalise_licence,
    normalise_name,
)
from forum.verification.models import RegistryProvider

SAMPLE_FILE = ROOT.parent / "shared" / "nppes" / "npidata_sample.csv"

Slot = tuple[str, bool, str | None, str | None]  # code, primary, licence, state


def provider(
    npi: str,
    first: str | None = None,
    last: str | None = None,
    *,
    middle: str | None = None,
    suffix: str | None = None,
    credential: str | None = "MD",
    entity_type: int | None = 1,
    organisation: str | None = None,
    other_names: Iterable[dict[str, str]] = (),
    slots: Iterable[Slot] = (),
    practice_state: str | None = None,
    deactivated_on: date | None = None,
    reactivated_on: date | None = None,
) -> RegistryProvider:
    """A registry record in the shape the import writes, never added to a session."""
    taxonomies = [
        {"slot": number, "code": code, "primary": primary, "licence": licence, "state": state}
        for number, (code, primary, licence, state) in enumerate(slots, start=1)
    ]
    return RegistryProvider(
        npi=npi,
        entity_type=entity_type,
        first_name=first,
        middle_name=middle,
        last_name=last,
        name_suffix=suffix,
        credential=credential,
        organisation_name=organisation,
        other_names=list(other_names),
        taxonomies=taxonomies,
        practice_state=practice_state,
        deactivated_on=deactivated_on,
        reactivated_on=reactivated_on,
        has_physician_taxonomy=False,
        row_hash="0" * 32,
    )


# The sample file's people (../shared/nppes/README.md), as the import keeps them.
WIEBE = provider(
    "1679576722",
    "DAVID",
    "WIEBE",
    middle="A",
    credential="M.D.",
    slots=[("207X00000X", True, "12637", "NE")],
    practice_state="NE",
)
PILCHER = provider(
    "1588667638",
    "WILLIAM",
    "PILCHER",
    middle="C",
    slots=[("207RC0000X", False, "032024", "GA"), ("207RC0000X", True, "ME68414", "FL")],
    practice_state="FL",
)
CUMBERLAND = provider(
    "1497758544",
    entity_type=2,
    credential=None,
    organisation="CUMBERLAND COUNTY HOSPITAL SYSTEM, INC",
    slots=[("251G00000X", True, "HC0283", "NC")],
    practice_state="NC",
)
SMITSON = provider(
    "1306849450",
    "HAROLD",
    "SMITSON",
    middle="LEROY",
    suffix="II",
    credential="M.D.",
    slots=[("2085R0202X", True, "E5444", "TX")],
    practice_state="TX",
)
GRESSOT = provider(
    "1215930367",
    "LAURENT",
    "GRESSOT",
    credential="M.D.",
    slots=[("174400000X", False, "H6257", "TX"), ("207RH0003X", True, "H6257", "TX")],
    practice_state="TX",
)
NAPA = provider(
    "1023011178",
    entity_type=2,
    credential=None,
    organisation="NAPA VALLEY HOSPICE & ADULT DAY SERVICES",
    slots=[("251G00000X", True, "100000741", "CA")],
    practice_state="CA",
)
ADUSUMILLI = provider(
    "1932102084",
    "RAVI",
    "ADUSUMILLI",
    middle="K",
    slots=[("207RC0000X", False, "4301081344", "MI"), ("207RC0000X", True, "35069014", "OH")],
    practice_state="OH",
)
WORTSMAN = provider(
    "1841293990",
    "SUSAN",
    "WORTSMAN",
    credential="MA-CCC",
    slots=[("231H00000X", True, "000396-1", "NY")],
    practice_state="NY",
)
BISBEE = provider(
    "1750384806",
    "ROBERT",
    "BISBEE",
    slots=[("207R00000X", True, "J8461", "TX")],
    practice_state="TX",
)
SUNG = provider(
    "1669475711",
    "BIN",
    "SUNG",
    middle="SHENG",
    credential="M. D.",
    slots=[("208000000X", True, "J1405", "TX")],
    practice_state="TX",
)
LOVETTSVILLE = provider(
    "1063947125",
    entity_type=2,
    credential=None,
    organisation="LOVETTSVILLE DENTAL ARTS",
    slots=[("261QD0000X", True, None, None)],
    practice_state="VA",
)


def claim(
    record: RegistryProvider,
    first: str | None = None,
    last: str | None = None,
    state: str | None = None,
    licence: str | None = None,
    licence_state: str | None = None,
) -> Claim:
    """A claim on `record`'s NPI, by default with its own names and practice state."""
    return Claim(
        npi=record.npi,
        first_name=first if first is not None else (record.first_name or "Pat"),
        last_name=last if last is not None else (record.last_name or "Doe"),
        practice_state=state if state is not None else (record.practice_state or "TX"),
        licence_number=licence,
        licence_state=licence_state,
    )


def person(first: str | None, last: str | None, **kwargs: Any) -> RegistryProvider:
    """A plain active internist with the given names."""
    kwargs.setdefault("slots", [("207R00000X", True, "A1", "TX")])
    kwargs.setdefault("practice_state", "TX")
    return provider("1750384806", first, last, **kwargs)


def agrees(first: str, last: str, record: RegistryProvider) -> bool | None:
    return names_agree(first, last, record).passed


# --- The sample file's people --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "outcome"),
    [
        (WIEBE, Outcome.MATCH),
        (PILCHER, Outcome.MATCH),
        (CUMBERLAND, Outcome.ORGANISATION),
        (SMITSON, Outcome.MATCH),
        (GRESSOT, Outcome.MATCH),
        (NAPA, Outcome.ORGANISATION),
        (ADUSUMILLI, Outcome.MATCH),
        (WORTSMAN, Outcome.NOT_PHYSICIAN),
        (BISBEE, Outcome.MATCH),
        (SUNG, Outcome.MATCH),
        (LOVETTSVILLE, Outcome.ORGANISATION),
    ],
    ids=lambda value: value.npi if isinstance(value, RegistryProvider) else str(value),
)
def test_each_sample_record_claimed_under_its_own_name_gives_the_documented_outcome(
    record: RegistryProvider, outcome: Outcome
) -> None:
    result = match(claim(record), record)
    assert result.outcome is outcome
    assert result.matched is (outcome is Outcome.MATCH)


def test_pilcher_matches_his_florida_licence_typed_loosely() -> None:
    result = match(
        claim(PILCHER, "William", "Pilcher", licence="me-68414", licence_state="fl"), PILCHER
    )
    assert result.outcome is Outcome.MATCH
    licence = result.rule("licence")
    assert licence.passed is True
    assert "FL" in licence.detail
    assert "slot 2" in licence.detail


def test_pilcher_matches_his_georgia_licence_with_its_leading_zero() -> None:
    result = match(claim(PILCHER, licence="032024", licence_state="GA"), PILCHER)
    assert result.outcome is Outcome.MATCH
    assert "GA" in result.rule("licence").detail


def test_pilchers_georgia_number_with_florida_as_its_state_is_a_licence_mismatch() -> None:
    result = match(claim(PILCHER, licence="032024", licence_state="FL"), PILCHER)
    assert result.outcome is Outcome.LICENCE_MISMATCH
    licence = result.rule("licence")
    assert licence.passed is False
    assert licence.detail == "The number is the registry's GA licence, not FL."


def test_pilcher_as_bill_matches_by_nickname_and_as_w_by_initial() -> None:
    result = match(claim(PILCHER, "Bill", "Pilcher"), PILCHER)
    assert result.outcome is Outcome.MATCH
    assert result.rule("name").detail.endswith("the first name given as a nickname.")
    initial = match(claim(PILCHER, "W.", "Pilcher"), PILCHER).rule("name")
    assert initial.detail.endswith("the first name given as an initial.")


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("Harold", "Smitson"),
        ("HAROLD LEROY", "SMITSON"),
        ("Harold L.", "Smitson"),
        ("Harold L", "Smitson II"),
        ("Harold", "Smitson, II"),
        ("Harold", "Smitson Jr."),
        ("Harold", "Smitson, M.D."),
        ("Harold", "Smitson M. D."),
        ("H.", "Smitson"),
        ("H. Leroy", "Smitson"),
        ("Dr. Harold", "Smitson"),
        ("Hal", "Smitson"),
        ("Harry", "Smitson"),
        ("Leroy", "Smitson"),  # known by his middle name
    ],
)
def test_smitson_harold_leroy_ii_is_recognised_under_the_usual_variations(
    first: str, last: str
) -> None:
    assert agrees(first, last, SMITSON) is True


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("Harold X.", "Smitson"),  # a middle initial the registry contradicts
        ("Harold Lewis", "Smitson"),
        ("L", "Smitson"),  # a middle initial alone says too little
        ("Harald", "Smitson"),
        ("Harold", "Smithson"),
        ("Harold", "Smitson Leroy"),
    ],
)
def test_smitson_is_not_recognised_under_a_different_name(first: str, last: str) -> None:
    assert agrees(first, last, SMITSON) is False


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("Bin", "Sung"),
        ("Bin Sheng", "Sung"),
        ("Binsheng", "Sung"),
        ("Bin-Sheng", "Sung"),
        ("B.", "Sung"),
    ],
)
def test_sung_bin_sheng_is_recognised_with_or_without_his_middle_name(
    first: str, last: str
) -> None:
    result = match(claim(SUNG, first, last), SUNG)
    assert result.outcome is Outcome.MATCH


def test_sung_with_a_different_last_name_is_a_name_mismatch() -> None:
    result = match(claim(SUNG, "Bin", "Song"), SUNG)
    assert result.outcome is Outcome.NAME_MISMATCH
    assert result.rule("name").detail == "The last name differs from every name the registry holds."


def test_wortsman_the_audiologist_is_not_a_physician_even_with_a_matching_licence() -> None:
    result = match(claim(WORTSMAN, licence="000396-1", licence_state="NY"), WORTSMAN)
    assert result.outcome is Outcome.NOT_PHYSICIAN
    assert result.rule("name").passed is True
    assert result.rule("licence").passed is True
    taxonomy = result.rule("physician_taxonomy")
    assert taxonomy.passed is False
    assert "231H00000X" in taxonomy.detail


def test_gressot_is_a_physician_by_his_second_slot() -> None:
    result = match(claim(GRESSOT, licence="H6257", licence_state="TX"), GRESSOT)
    assert result.outcome is Outcome.MATCH
    assert result.rule("physician_taxonomy") == RuleResult(
        "physician_taxonomy", True, "207RH0003X in slot 2."
    )


def test_adusumilli_matches_either_state_licence() -> None:
    michigan = match(claim(ADUSUMILLI, licence="4301081344", licence_state="MI"), ADUSUMILLI)
    ohio = match(claim(ADUSUMILLI, licence="35069014", licence_state="OH"), ADUSUMILLI)
    assert michigan.outcome is ohio.outcome is Outcome.MATCH


def test_bisbee_claimed_as_bob_or_bobby_or_rob_matches() -> None:
    for first in ["Bob", "bobby", "ROB", "R.", "Robert"]:
        assert match(claim(BISBEE, first, "Bisbee"), BISBEE).matched, first


def test_an_organisation_is_an_organisation_whatever_the_names() -> None:
    result = match(claim(CUMBERLAND, "Michael", "Nagowski"), CUMBERLAND)
    assert result.outcome is Outcome.ORGANISATION
    assert result.rule("individual") == RuleResult(
        "individual", False, "An organisation (entity type 2)."
    )
    assert result.rule("name").passed is None  # an organisation has no personal name to compare
    assert result.rule("physician_taxonomy").passed is False


# --- Names: tolerated differences ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "registry_first", "registry_last"),
    [
        ("Mary-Jane", "O'Neil", "MARY JANE", "ONEIL"),
        ("MARY JANE", "ONEIL", "MARY-JANE", "O'NEIL"),
        ("mary-jane", "o\u2019neil", "MARY", "ONEIL"),  # a typographic apostrophe
        ("MaryJane", "ONeil", "MARY JANE", "O NEIL"),
        ("Maria", "Garcia Lopez", "MARIA", "GARCIA-LOPEZ"),
        ("Maria", "García-López", "MARIA", "GARCIA LOPEZ"),
        ("José", "Núñez", "JOSE", "NUNEZ"),
        ("JOSE", "NUNEZ", "JOSÉ", "NÚÑEZ"),
        ("Zoë", "Ørsted", "ZOE", "ORSTED"),
        ("Søren", "Kierkegaard", "SOREN", "KIERKEGAARD"),
        ("Anne-Marie", "St. John", "ANNE MARIE", "ST JOHN"),
        ("  anne   marie ", "  st john ", "ANNE-MARIE", "ST. JOHN"),
        ("J", "Smith", "JOHN", "SMITH"),
        ("J.", "Smith", "JOHN", "SMITH"),
        ("j.", "smith", "JOHN", "SMITH"),
        ("John", "Smith", "J", "SMITH"),  # the registry holds only an initial
        ("John", "Smith III", "JOHN", "SMITH"),
        ("John", "Smith", "JOHN", "SMITH JR"),
        ("John", "Smith, Sr.", "JOHN", "SMITH"),
        ("Liz", "Taylor", "ELIZABETH", "TAYLOR"),
        ("Elizabeth", "Taylor", "LIZ", "TAYLOR"),  # either side may hold the nickname
        ("Beth", "Taylor", "ELIZABETH", "TAYLOR"),
        ("Bill", "Gates", "WILLIAM", "GATES"),
        ("Will", "Gates", "WILLIAM", "GATES"),
        ("Bob", "Dylan", "ROBERT", "DYLAN"),
        ("Peggy", "Lee", "MARGARET", "LEE"),
        ("Jim", "Beam", "JAMES", "BEAM"),
        ("Jack", "Ryan", "JOHN", "RYAN"),
        ("Dick", "Cheney", "RICHARD", "CHENEY"),
        ("Tony", "Blair", "ANTHONY", "BLAIR"),
        ("Chuck", "Norris", "CHARLES", "NORRIS"),
        ("Kate", "Bush", "KATHERINE", "BUSH"),
        ("Sandy", "Koufax", "SANDRA", "KOUFAX"),
        ("Dave", "Wiebe", "DAVID", "WIEBE"),
    ],
)
def test_names_that_are_the_same_persons_agree(
    first: str, last: str, registry_first: str, registry_last: str
) -> None:
    assert agrees(first, last, person(registry_first, registry_last)) is True


@pytest.mark.parametrize(
    ("first", "last", "registry_first", "registry_last"),
    [
        ("Davd", "Wiebe", "DAVID", "WIEBE"),  # a typo: nothing fuzzier than initials and nicknames
        ("David", "Wiebee", "DAVID", "WIEBE"),
        ("Dvid", "Wiebe", "DAVID", "WIEBE"),
        ("Davids", "Wiebe", "DAVID", "WIEBE"),
        ("Da", "Wiebe", "DAVID", "WIEBE"),  # a prefix is not an initial
        ("William", "Bisbee", "ROBERT", "BISBEE"),  # Bill is both, but nicknames never chain
        ("Robert", "Pilcher", "WILLIAM", "PILCHER"),
        ("K", "Smith", "JOHN", "SMITH"),
        ("John", "S", "JOHN", "SMITH"),  # no initials for last names
        ("John", "S.", "JOHN", "SMITH"),
        ("Maria", "Garcia", "MARIA", "GARCIA-LOPEZ"),  # half a double surname is not the name
        ("Maria", "Lopez", "MARIA", "GARCIA LOPEZ"),
        ("Smith", "John", "JOHN", "SMITH"),  # swapped fields
        ("Mary", "Jane", "MARY JANE", "ONEIL"),
    ],
)
def test_different_names_do_not_agree(
    first: str, last: str, registry_first: str, registry_last: str
) -> None:
    assert agrees(first, last, person(registry_first, registry_last)) is False


def test_a_claimed_middle_name_is_tolerated_when_the_registry_has_none() -> None:
    assert agrees("Ravi Kumar", "Adusumilli", person("RAVI", "ADUSUMILLI")) is True


def test_a_claimed_middle_name_must_agree_with_the_registrys_when_it_has_one() -> None:
    record = person("RAVI", "ADUSUMILLI", middle="K")
    assert agrees("Ravi Kumar", "Adusumilli", record) is True
    assert agrees("Ravi K.", "Adusumilli", record) is True
    assert agrees("Ravi Suresh", "Adusumilli", record) is False


def test_a_first_name_given_as_the_registrys_middle_name_agrees() -> None:
    record = person("JOHN", "SMITH", middle="ROBERT")
    result = names_agree("Robert", "Smith", record)
    assert result.passed is True
    assert "middle name" in result.detail
    assert agrees("J. Robert", "Smith", record) is True
    assert agrees("Bob", "Smith", record) is True  # by nickname of the middle name


def test_a_registry_first_initial_with_a_middle_name_accepts_the_middle_name() -> None:
    assert agrees("Robert", "Smith", person("J", "SMITH", middle="ROBERT")) is True


def test_a_former_last_name_from_other_names_agrees() -> None:
    record = person("MARY", "SMITH", other_names=[{"first": "MARY", "last": "JONES"}])
    result = names_agree("Mary", "Jones", record)
    assert result.passed is True
    assert "other name" in result.detail
    assert agrees("Mary", "Smith", record) is True


def test_a_former_last_name_recorded_alone_takes_the_legal_given_names() -> None:
    record = person("MARY", "SMITH", middle="ANN", other_names=[{"last": "JONES"}])
    assert agrees("Mary Ann", "Jones", record) is True
    assert agrees("Molly", "Jones", record) is True  # Molly is a nickname of Mary
    assert agrees("Susan", "Jones", record) is False


def test_a_former_full_name_agrees_with_its_own_given_names_only() -> None:
    record = person(
        "ALEX", "SMITH", other_names=[{"first": "ALEXANDRA", "middle": "J", "last": "JONES"}]
    )
    assert agrees("Alexandra J", "Jones", record) is True
    assert agrees("Sandy", "Jones", record) is True
    assert agrees("Alexandra Q", "Jones", record) is False


def test_the_legal_last_name_with_a_former_first_name_does_not_mix_two_names() -> None:
    record = person("ALEX", "SMITH", other_names=[{"first": "MARIA", "last": "JONES"}])
    assert agrees("Maria", "Jones", record) is True
    assert agrees("Alex", "Jones", record) is False  # ALEX JONES is neither name
    assert agrees("Maria", "Smith", record) is False


def test_a_first_name_mismatch_says_the_last_name_agreed() -> None:
    result = names_agree("Davd", "Wiebe", WIEBE)
    assert result == RuleResult(
        "name",
        False,
        "The last name agrees but the first name does not (not the same name, an initial of it "
        "or a common nickname).",
    )


@pytest.mark.parametrize(
    ("first", "last"), [("", "Wiebe"), ("David", ""), ("-", "Wiebe"), (" ", " ")]
)
def test_a_missing_name_fails_with_a_reason(first: str, last: str) -> None:
    assert names_agree(first, last, WIEBE) == RuleResult(
        "name", False, "A first and a last name are both needed."
    )


def test_a_registry_record_without_a_personal_name_cannot_agree() -> None:
    result = names_agree("David", "Wiebe", person(None, None))
    assert result.passed is None
    assert result.detail == "The registry holds no personal name for this NPI."


def test_a_lone_suffix_or_title_is_kept_as_the_name() -> None:
    # Do and Le are surnames; trimming only happens when something else remains.
    assert agrees("Anh", "Do", person("ANH", "DO")) is True
    assert agrees("Anh", "Le", person("ANH", "DO")) is False


# --- Normalisation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Mary-Jane O'Neil", ["mary", "jane", "oneil"]),
        ("MARY JANE ONEIL", ["mary", "jane", "oneil"]),
        ("O\u2019Brien", ["obrien"]),
        ("D\u02bcAngelo", ["dangelo"]),
        ("J.", ["j"]),
        ("J.R.R.", ["j", "r", "r"]),
        ("  GARCIA-LOPEZ  ", ["garcia", "lopez"]),
        ("Zoë Ångström", ["zoe", "angstrom"]),
        ("Łukasz Ødegård", ["lukasz", "odegard"]),
        ("STRAßE", ["strasse"]),
        ("Smith, M.D.", ["smith", "m", "d"]),
        ("", []),
        ("--", []),
    ],
)
def test_normalise_name(text: str, tokens: list[str]) -> None:
    assert normalise_name(text) == tokens


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("me-68414", "ME68414"),
        ("ME 68414", "ME68414"),
        (" me.684/14 ", "ME68414"),
        ("000396-1", "0003961"),
        ("032024", "032024"),
        ("", ""),
    ],
)
def test_normalise_licence(text: str, normal: str) -> None:
    assert normalise_licence(text) == normal


def test_the_nickname_table_covers_hundreds_of_common_names_both_ways() -> None:
    table = known_nicknames()
    assert len(table) >= 300
    for name, nickname in [
        ("robert", "bob"),
        ("william", "bill"),
        ("elizabeth", "liz"),
        ("margaret", "peggy"),
        ("richard", "dick"),
        ("katherine", "kate"),
        ("james", "jim"),
        ("charles", "chuck"),
    ]:
        assert nickname in table[name]
        assert name in table[nickname]
    for names in table.values():
        assert all(name == "".join(normalise_name(name)) for name in names)


def test_the_nickname_file_names_its_source_and_licence() -> None:
    first_line = matching.NICKNAMES.read_text(encoding="utf-8").splitlines()[0]
    assert first_line.startswith("# source: carltonnorthern/nicknames")
    assert "licence: Apache License 2.0" in first_line
    readme = (matching.NICKNAMES.parent / "README.md").read_text(encoding="utf-8")
    assert "carltonnorthern/nicknames" in readme
    assert "Apache License 2.0" in readme


def test_the_nickname_file_has_at_least_300_given_names_with_nicknames() -> None:
    lines = matching.NICKNAMES.read_text(encoding="utf-8").splitlines()
    rows = list(csv.reader(line for line in lines if not line.startswith("#")))
    assert len([row for row in rows if len(row) >= 2]) >= 300


# --- Licences ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "state"), [(None, None), ("", "FL"), ("  ", None), ("--", "GA")]
)
def test_no_licence_number_means_the_rule_does_not_apply(
    number: str | None, state: str | None
) -> None:
    assert licence_agrees(number, state, PILCHER) == RuleResult(
        "licence", None, "No licence number given."
    )


def test_a_licence_number_without_a_state_matches_any_state() -> None:
    result = licence_agrees("ME68414", None, PILCHER)
    assert result.passed is True
    assert "FL" in result.detail


def test_a_licence_number_the_registry_does_not_hold_fails_and_lists_the_states() -> None:
    result = licence_agrees("ME99999", "FL", PILCHER)
    assert result == RuleResult(
        "licence", False, "No registry licence has this number (licences listed in FL, GA)."
    )


def test_only_punctuation_and_spaces_are_forgiven_in_a_licence() -> None:
    assert licence_agrees("32024", "GA", PILCHER).passed is False  # the leading zero matters
    assert licence_agrees("ME 684 14", "FL", PILCHER).passed is True
    assert licence_agrees("ME68415", "FL", PILCHER).passed is False


def test_a_licence_state_is_compared_without_case_or_spaces() -> None:
    assert licence_agrees("ME68414", " fl ", PILCHER).passed is True


def test_a_licence_when_the_registry_lists_none_fails() -> None:
    record = person("JOHN", "SMITH", slots=[("207R00000X", True, None, None)])
    result = licence_agrees("A1", "TX", record)
    assert result == RuleResult("licence", False, "The registry lists no licence for this NPI.")
    assert match(claim(record, licence="A1", licence_state="TX"), record).outcome is (
        Outcome.LICENCE_MISMATCH
    )


def test_the_same_licence_in_two_slots_matches_once() -> None:
    result = licence_agrees("h-6257", "TX", GRESSOT)
    assert result.passed is True
    assert "slot 1" in result.detail


def test_licence_details_never_repeat_a_licence_number() -> None:
    for number, state in [("032024", "FL"), ("ME68414", "FL"), ("nope", "GA"), ("032024", None)]:
        detail = licence_agrees(number, state, PILCHER).detail
        assert "032024" not in detail
        assert "68414" not in detail


# --- The other rules -----------------------------------------------------------------------------


def test_a_deactivated_physician_is_inactive_with_every_rule_recorded() -> None:
    record = person("JOHN", "SMITH", deactivated_on=date(2020, 5, 1))
    result = match(claim(record, "Jane", "Smith", licence="B2", licence_state="TX"), record)
    assert result.outcome is Outcome.INACTIVE
    assert result.rule("active") == RuleResult("active", False, "Deactivated on 2020-05-01.")
    assert result.rule("name").passed is False
    assert result.rule("licence").passed is False
    assert result.rule("physician_taxonomy").passed is True


def test_a_reactivated_physician_matches() -> None:
    record = person(
        "JOHN", "SMITH", deactivated_on=date(2020, 5, 1), reactivated_on=date(2021, 1, 4)
    )
    result = match(claim(record), record)
    assert result.outcome is Outcome.MATCH
    assert result.rule("active") == RuleResult(
        "active", True, "Deactivated 2020-05-01, reactivated 2021-01-04."
    )


def test_a_reactivation_older_than_the_deactivation_leaves_it_inactive() -> None:
    record = person(
        "JOHN", "SMITH", deactivated_on=date(2022, 5, 1), reactivated_on=date(2021, 1, 4)
    )
    assert match(claim(record), record).outcome is Outcome.INACTIVE


def test_a_deactivated_record_as_nppes_publishes_it_is_inactive() -> None:
    # Deactivated NPIs come with every field blank but the NPI and the dates.
    record = provider("1750384806", entity_type=None, deactivated_on=date(2019, 3, 2))
    result = match(claim(record, "Robert", "Bisbee"), record)
    assert result.outcome is Outcome.INACTIVE
    assert result.rule("individual").passed is None
    assert result.rule("name").passed is None
    assert result.rule("physician_taxonomy").detail == "No taxonomy listed."


def test_a_deactivated_organisation_is_reported_as_an_organisation() -> None:
    record = provider(
        "1497758544",
        entity_type=2,
        organisation="GONE HOSPITAL",
        deactivated_on=date(2019, 3, 2),
    )
    assert match(claim(record, "Pat", "Doe"), record).outcome is Outcome.ORGANISATION


def test_an_active_record_without_an_entity_type_never_matches() -> None:
    record = person("JOHN", "SMITH", entity_type=None)
    result = match(claim(record), record)
    assert result.outcome is Outcome.ORGANISATION
    assert result.rule("individual") == RuleResult(
        "individual", False, "The registry gives no entity type."
    )


@pytest.mark.parametrize("code", ["204E00000X", "390200000X"])
def test_only_a_review_taxonomy_goes_to_taxonomy_review(code: str) -> None:
    record = person("JOHN", "SMITH", slots=[(code, True, "A1", "TX")])
    result = match(claim(record), record)
    assert result.outcome is Outcome.TAXONOMY_REVIEW
    taxonomy = result.rule("physician_taxonomy")
    assert taxonomy.passed is False
    assert code in taxonomy.detail
    assert "verifier" in taxonomy.detail


def test_a_review_taxonomy_with_a_name_mismatch_still_goes_to_taxonomy_review() -> None:
    record = person("JOHN", "SMITH", slots=[("204E00000X", True, "A1", "TX")])
    result = match(claim(record, "Jane", "Doe"), record)
    assert result.outcome is Outcome.TAXONOMY_REVIEW
    assert result.rule("name").passed is False


def test_a_review_taxonomy_beside_a_physician_one_matches() -> None:
    record = person(
        "JOHN", "SMITH", slots=[("390200000X", True, "A1", "TX"), ("207R00000X", False, "A1", "TX")]
    )
    assert match(claim(record), record).outcome is Outcome.MATCH


def test_a_physician_code_in_the_fifteenth_slot_matches() -> None:
    slots: list[Slot] = [("231H00000X", False, None, None)] * 14
    slots.append(("207RH0003X", True, "A1", "TX"))
    record = person("JOHN", "SMITH", slots=slots)
    result = match(claim(record), record)
    assert result.outcome is Outcome.MATCH
    assert result.rule("physician_taxonomy").detail == "207RH0003X in slot 15."


def test_no_taxonomy_at_all_is_not_a_physician() -> None:
    record = person("JOHN", "SMITH", slots=[])
    assert match(claim(record), record).outcome is Outcome.NOT_PHYSICIAN


def test_a_name_mismatch_is_reported_before_a_licence_mismatch() -> None:
    result = match(claim(PILCHER, "Wilbur", "Pilcher", licence="x1", licence_state="FL"), PILCHER)
    assert result.outcome is Outcome.NAME_MISMATCH
    assert result.rule("licence").passed is False


def test_practice_state_is_informational_only() -> None:
    result = match(claim(BISBEE, state="NM"), BISBEE)
    assert result.outcome is Outcome.MATCH
    assert result.rule("practice_state") == RuleResult(
        "practice_state", False, "Informational: claimed NM, registry practice location in TX."
    )
    same = match(claim(BISBEE, state=" tx "), BISBEE)
    assert same.rule("practice_state") == RuleResult(
        "practice_state", True, "Informational: TX in both."
    )


def test_practice_state_without_a_registry_state_does_not_apply() -> None:
    record = person("JOHN", "SMITH", practice_state=None)
    result = match(claim(record, state="TX"), record)
    assert result.rule("practice_state").passed is None
    assert result.outcome is Outcome.MATCH


def test_an_npi_missing_from_the_copy_is_not_found_and_nothing_else_is_checked() -> None:
    result = match(Claim("1234567893", "John", "Smith", "TX", "A1", "TX"), None)
    assert result.outcome is Outcome.NOT_FOUND
    assert result.source == "registry"
    assert result.rule("in_registry") == RuleResult(
        "in_registry", False, "No record for this NPI in the registry copy."
    )
    assert [rule.passed for rule in result.rules[1:]] == [None] * 6


def test_a_miss_in_the_online_lookup_says_so() -> None:
    result = match(Claim("1234567893", "John", "Smith", "TX"), None, source="nppes_api")
    assert result.source == "nppes_api"
    assert result.rule("in_registry").detail == "No record for this NPI in the NPPES API."


def test_a_record_found_online_says_where_it_came_from() -> None:
    result = match(claim(BISBEE), BISBEE, source="nppes_api")
    assert result.outcome is Outcome.MATCH
    assert result.rule("in_registry") == RuleResult("in_registry", True, "Found in the NPPES API.")


def test_a_record_for_another_npi_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="another NPI"):
        match(Claim("1234567893", "Robert", "Bisbee", "TX"), BISBEE)


@pytest.mark.parametrize(
    "record", [WIEBE, CUMBERLAND, WORTSMAN, person("J", "S", deactivated_on=date(2020, 1, 1)), None]
)
def test_every_rule_is_recorded_in_the_same_order(record: RegistryProvider | None) -> None:
    npi = record.npi if record else "1234567893"
    result = match(Claim(npi, "A", "B", "TX", "x", "TX"), record)
    assert tuple(rule.rule for rule in result.rules) == RULES
    assert all(rule.detail for rule in result.rules)


def test_every_outcome_explains_itself_in_one_sentence() -> None:
    sentences = [outcome.explanation for outcome in Outcome]
    assert len(set(sentences)) == len(Outcome)
    for sentence in sentences:
        assert sentence[0].isupper()
        assert sentence.endswith(".")
        assert sentence.count(". ") == 0


def test_outcome_values_are_the_stored_strings() -> None:
    assert [outcome.value for outcome in Outcome] == [
        "match",
        "not_found",
        "inactive",
        "organisation",
        "not_physician",
        "taxonomy_review",
        "name_mismatch",
        "licence_mismatch",
    ]


# --- Evidence ------------------------------------------------------------------------------------


def test_evidence_is_json_and_carries_the_import_and_every_rule() -> None:
    result = match(claim(PILCHER, "Bill", "Pilcher", licence="032024", licence_state="FL"), PILCHER)
    evidence = result.evidence(42)

    decoded = json.loads(json.dumps(evidence))
    assert decoded == evidence
    assert evidence["outcome"] == "licence_mismatch"
    assert evidence["source"] == "registry"
    assert evidence["import_id"] == 42
    assert [rule["rule"] for rule in evidence["rules"]] == list(RULES)
    assert evidence["rules"][4] == {
        "rule": "name",
        "passed": True,
        "detail": "Agrees with the registry's legal name, the first name given as a nickname.",
    }
    checked = datetime.fromisoformat(evidence["checked_at"])
    assert checked.tzinfo is not None
    assert abs((checked - datetime.now(UTC)).total_seconds()) < 60


def test_evidence_without_an_import_is_still_json() -> None:
    evidence = match(Claim("1234567893", "A", "B", "TX"), None, source="nppes_api").evidence(None)
    assert json.loads(json.dumps(evidence))["import_id"] is None
    assert evidence["outcome"] == "not_found"


def test_evidence_holds_no_licence_number_and_no_claimed_name() -> None:
    result = match(
        claim(PILCHER, "Bill", "Pilcher", licence="ME-68414", licence_state="FL"), PILCHER
    )
    text = json.dumps(result.evidence(1)).lower()
    for secretish in ["68414", "032024", "bill", "pilcher", "william"]:
        assert secretish not in text


def test_a_result_is_frozen_and_checked_once() -> None:
    result = match(claim(WIEBE), WIEBE)
    assert result.evidence(1)["checked_at"] == result.evidence(2)["checked_at"]
    with pytest.raises(AttributeError):
        result.outcome = Outcome.NOT_FOUND  # type: ignore[misc]
    assert isinstance(result, MatchResult)


# --- The sample registry file itself, when this checkout has it -----------------------------------

EXPECTED_SAMPLE_OUTCOMES = {
    "1679576722": Outcome.MATCH,
    "1588667638": Outcome.MATCH,
    "1497758544": Outcome.ORGANISATION,
    "1306849450": Outcome.MATCH,
    "1215930367": Outcome.MATCH,
    "1023011178": Outcome.ORGANISATION,
    "1932102084": Outcome.MATCH,
    "1841293990": Outcome.NOT_PHYSICIAN,
    "1750384806": Outcome.MATCH,
    "1669475711": Outcome.MATCH,
    "1063947125": Outcome.ORGANISATION,
}


def _sample_date(text: str) -> date | None:
    return datetime.strptime(text, "%m/%d/%Y").date() if text else None


def provider_from_sample_row(row: dict[str, str]) -> RegistryProvider:
    """A record from a row of the NPPES file, read the way the issue describes the import."""
    slots: list[Slot] = []
    for number in range(1, 16):
        code = row[f"Healthcare Provider Taxonomy Code_{number}"]
        if code:
            slots.append(
                (
                    code,
                    row[f"Healthcare Provider Primary Taxonomy Switch_{number}"] == "Y",
                    row[f"Provider License Number_{number}"] or None,
                    row[f"Provider License Number State Code_{number}"] or None,
                )
            )
    other = {
        "first": row["Provider Other First Name"],
        "middle": row["Provider Other Middle Name"],
        "last": row["Provider Other Last Name"],
    }
    return provider(
        row["NPI"],
        row["Provider First Name"] or None,
        row["Provider Last Name (Legal Name)"] or None,
        middle=row["Provider Middle Name"] or None,
        suffix=row["Provider Name Suffix Text"] or None,
        credential=row["Provider Credential Text"] or None,
        entity_type=int(row["Entity Type Code"]) if row["Entity Type Code"] else None,
        organisation=row["Provider Organization Name (Legal Business Name)"] or None,
        other_names=[{k: v for k, v in other.items() if v}] if any(other.values()) else [],
        slots=slots,
        practice_state=row["Provider Business Practice Location Address State Name"] or None,
        deactivated_on=_sample_date(row["NPI Deactivation Date"]),
        reactivated_on=_sample_date(row["NPI Reactivation Date"]),
    )


@pytest.mark.skipif(not SAMPLE_FILE.exists(), reason=f"no sample registry file at {SAMPLE_FILE}")
def test_the_sample_files_eleven_npis_give_the_documented_outcomes() -> None:
    with SAMPLE_FILE.open(encoding="utf-8", newline="") as handle:
        records = [provider_from_sample_row(row) for row in csv.DictReader(handle)]
    outcomes = {record.npi: match(claim(record), record).outcome for record in records}
    assert outcomes == EXPECTED_SAMPLE_OUTCOMES


@pytest.mark.skipif(not SAMPLE_FILE.exists(), reason=f"no sample registry file at {SAMPLE_FILE}")
def test_the_hand_built_sample_people_are_the_files() -> None:
    with SAMPLE_FILE.open(encoding="utf-8", newline="") as handle:
        from_file = {row["NPI"]: provider_from_sample_row(row) for row in csv.DictReader(handle)}
    for built in [WIEBE, PILCHER, CUMBERLAND, SMITSON, GRESSOT, NAPA, ADUSUMILLI, WORTSMAN]:
        record = from_file[built.npi]
        for column in [
            "entity_type",
            "first_name",
            "middle_name",
            "last_name",
            "name_suffix",
            "taxonomies",
            "practice_state",
        ]:
            assert getattr(record, column) == getattr(built, column), (built.npi, column)
    for built in [BISBEE, SUNG, LOVETTSVILLE]:
        assert from_file[built.npi].taxonomies == built.taxonomies

"""The shipped physician taxonomy codes, their communities, and the verdict on a record's slots."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from forum import ROOT
from forum.verification import taxonomy
from forum.verification.taxonomy import (
    REVIEW_CODES,
    SPECIALTIES,
    SPECIALTY_NAMES,
    TaxonomyVerdict,
    community_for,
    is_physician_code,
    physician_codes,
    verdict_for,
)

NUCC_SOURCE = ROOT.parent / "shared" / "nppes" / "nucc_taxonomy_v25.1.csv"
BUILD_SCRIPT = ROOT / "scripts" / "build_taxonomy.py"


def shipped_rows() -> list[dict[str, str]]:
    with taxonomy.DATA.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# --- The shipped file ---------------------------------------------------------------------------


def test_the_file_holds_the_238_allopathic_and_osteopathic_physician_codes() -> None:
    rows = shipped_rows()
    assert len(rows) == 238
    assert len(physician_codes()) == 238
    assert len({row["code"] for row in rows}) == 238  # no code twice


def test_every_code_looks_like_a_nucc_code() -> None:
    for code in physician_codes():
        assert len(code) == 10, code
        assert code.endswith("X"), code
        assert code.isascii(), code
        assert code.isalnum(), code
        assert code == code.upper(), code


def test_every_code_maps_to_a_listed_community() -> None:
    unknown = {
        code: slug for code, slug in physician_codes().items() if slug not in SPECIALTY_NAMES
    }
    assert unknown == {}


def test_every_community_has_at_least_one_code() -> None:
    used = set(physician_codes().values())
    assert [specialty.slug for specialty in SPECIALTIES if specialty.slug not in used] == []


def test_communities_are_thirty_with_unique_slugs_and_names() -> None:
    assert len(SPECIALTIES) == 30
    assert len({specialty.slug for specialty in SPECIALTIES}) == 30
    assert len({specialty.name for specialty in SPECIALTIES}) == 30


@pytest.mark.parametrize(
    ("code", "community"),
    [
        ("207RC0000X", "cardiology"),  # internal medicine, cardiovascular disease
        ("207RH0003X", "haematology-oncology"),
        ("207X00000X", "orthopaedics"),
        ("207R00000X", "internal-medicine"),
        ("2085R0202X", "radiology"),
        ("208000000X", "paediatrics"),
        ("2084P0800X", "psychiatry"),
        ("2084N0400X", "neurology"),
        ("208600000X", "surgery"),
        ("207Q00000X", "family-medicine"),
    ],
)
def test_codes_of_the_sample_physicians_and_a_few_more_land_in_their_community(
    code: str, community: str
) -> None:
    assert community_for(code) == community


def test_community_lookup_tolerates_case_and_spaces_and_knows_only_physician_codes() -> None:
    assert community_for(" 207rc0000x ") == "cardiology"
    assert community_for("231H00000X") is None  # audiologist
    assert community_for("") is None


def test_the_review_codes_need_a_verifier() -> None:
    assert set(REVIEW_CODES) == {"204E00000X", "390200000X"}
    for code in REVIEW_CODES:
        assert not is_physician_code(code)


def test_oral_surgery_is_in_the_physician_grouping_and_students_are_not() -> None:
    # NUCC files 204E00000X (D.M.D.) with physicians and 390200000X under "Student, Health Care".
    assert physician_codes()["204E00000X"] == "otolaryngology"
    assert "390200000X" not in physician_codes()


def test_non_physician_codes_are_not_physician_codes() -> None:
    for code in ["231H00000X", "174400000X", "251G00000X", "261QD0000X", "363L00000X"]:
        assert not is_physician_code(code)


def test_the_shipped_file_credits_the_nucc() -> None:
    readme = (taxonomy.DATA.parent / "README.md").read_text()
    assert "American Medical Association" in readme
    assert "National Uniform Claim Committee" in readme


# --- The verdict on a record's slots ------------------------------------------------------------


@pytest.mark.parametrize("code", ["204E00000X", "390200000X"])
def test_a_record_with_only_a_review_code_goes_to_review(code: str) -> None:
    assert verdict_for([code]) is TaxonomyVerdict.REVIEW


def test_both_review_codes_together_still_go_to_review() -> None:
    assert verdict_for(["204E00000X", "390200000X"]) is TaxonomyVerdict.REVIEW


def test_a_review_code_with_a_non_physician_code_goes_to_review() -> None:
    assert verdict_for(["1223S0112X", "204E00000X"]) is TaxonomyVerdict.REVIEW  # a dentist too


def test_a_review_code_beside_a_plain_physician_code_is_a_physician() -> None:
    assert verdict_for(["390200000X", "207R00000X"]) is TaxonomyVerdict.PHYSICIAN


def test_a_physician_code_in_slot_2_makes_a_physician() -> None:
    # GRESSOT in the sample file: slot 1 is 174400000X, the primary 207RH0003X is in slot 2.
    assert verdict_for(["174400000X", "207RH0003X"]) is TaxonomyVerdict.PHYSICIAN


def test_a_physician_code_in_slot_15_makes_a_physician() -> None:
    assert verdict_for(["231H00000X"] * 14 + ["207RH0003X"]) is TaxonomyVerdict.PHYSICIAN


def test_an_audiologist_is_not_a_physician() -> None:
    assert verdict_for(["231H00000X"]) is TaxonomyVerdict.NOT_PHYSICIAN


@pytest.mark.parametrize("codes", [[], [""], ["", ""], ["251G00000X"], ["261QD0000X"]])
def test_no_codes_or_other_codes_are_not_a_physician(codes: list[str]) -> None:
    assert verdict_for(codes) is TaxonomyVerdict.NOT_PHYSICIAN


def test_the_verdict_reads_codes_in_any_case_with_spaces() -> None:
    assert verdict_for([" 207rh0003x "]) is TaxonomyVerdict.PHYSICIAN
    assert verdict_for(["204e00000x"]) is TaxonomyVerdict.REVIEW


def test_the_verdict_accepts_any_iterable_once() -> None:
    assert verdict_for(code for code in ["174400000X", "207RH0003X"]) is TaxonomyVerdict.PHYSICIAN


# --- The file is what the build script makes from the NUCC release -------------------------------


def load_build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_taxonomy", BUILD_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(
    not NUCC_SOURCE.exists(), reason=f"the NUCC release is not at {NUCC_SOURCE} in this checkout"
)
def test_the_shipped_file_is_what_the_build_script_makes_from_nucc_25_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = load_build_script()
    rebuilt = tmp_path / "physician_taxonomy.csv"
    monkeypatch.setattr(script, "OUT", rebuilt)  # never overwrite the shipped file

    script.main(str(NUCC_SOURCE))

    assert "238 physician codes" in capsys.readouterr().out
    assert rebuilt.read_bytes() == taxonomy.DATA.read_bytes()


@pytest.mark.skipif(
    not NUCC_SOURCE.exists(), reason=f"the NUCC release is not at {NUCC_SOURCE} in this checkout"
)
def test_the_nucc_release_has_238_physician_codes_and_both_review_codes() -> None:
    with NUCC_SOURCE.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    physicians = {
        row["Code"] for row in rows if row["Grouping"] == "Allopathic & Osteopathic Physicians"
    }
    assert len(rows) == 883
    assert physicians == set(physician_codes())
    assert set(REVIEW_CODES) <= {row["Code"] for row in rows}

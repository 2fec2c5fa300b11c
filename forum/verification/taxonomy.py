"""Which NPPES taxonomy codes are physicians', and the specialty communities they map to.

The codes are the NUCC grouping "Allopathic & Osteopathic Physicians" (data/README.md names the
source and its copyright holder).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

DATA = Path(__file__).parent / "data" / "physician_taxonomy.csv"

# Codes a verifier must look at: oral surgery with a dental degree, and trainees.
REVIEW_CODES = {
    "204E00000X": "oral and maxillofacial surgery (may hold a dental degree only)",
    "390200000X": "student or resident in training",
}


@dataclass(frozen=True)
class Specialty:
    """A specialty community members pick and verified codes map to."""

    slug: str
    name: str


SPECIALTIES: tuple[Specialty, ...] = (
    Specialty("allergy-immunology", "Allergy and immunology"),
    Specialty("anaesthesiology", "Anaesthesiology"),
    Specialty("cardiology", "Cardiology"),
    Specialty("critical-care", "Critical care"),
    Specialty("dermatology", "Dermatology"),
    Specialty("emergency-medicine", "Emergency medicine"),
    Specialty("endocrinology", "Endocrinology, diabetes and metabolism"),
    Specialty("family-medicine", "Family medicine and general practice"),
    Specialty("gastroenterology", "Gastroenterology and hepatology"),
    Specialty("haematology-oncology", "Haematology and oncology"),
    Specialty("infectious-diseases", "Infectious diseases"),
    Specialty("internal-medicine", "Internal medicine"),
    Specialty("medical-genetics", "Medical genetics"),
    Specialty("nephrology", "Nephrology"),
    Specialty("neurology", "Neurology"),
    Specialty("obstetrics-gynaecology", "Obstetrics and gynaecology"),
    Specialty("ophthalmology", "Ophthalmology"),
    Specialty("orthopaedics", "Orthopaedic surgery"),
    Specialty("otolaryngology", "Otolaryngology and head and neck surgery"),
    Specialty("paediatrics", "Paediatrics"),
    Specialty("palliative-care", "Hospice and palliative medicine"),
    Specialty("pathology", "Pathology"),
    Specialty("physical-medicine", "Physical medicine, rehabilitation and sports medicine"),
    Specialty("preventive-medicine", "Preventive and occupational medicine"),
    Specialty("psychiatry", "Psychiatry"),
    Specialty("pulmonology", "Pulmonology and sleep medicine"),
    Specialty("radiology", "Radiology"),
    Specialty("rheumatology", "Rheumatology"),
    Specialty("surgery", "Surgery"),
    Specialty("urology", "Urology"),
)
SPECIALTY_NAMES = {specialty.slug: specialty.name for specialty in SPECIALTIES}


class TaxonomyVerdict(StrEnum):
    """What a record's taxonomy codes say about the provider being a physician."""

    PHYSICIAN = "physician"
    REVIEW = "review"  # only codes a verifier must judge (REVIEW_CODES)
    NOT_PHYSICIAN = "not_physician"


@cache
def physician_codes() -> dict[str, str]:
    """Every physician taxonomy code with the community it maps to."""
    with DATA.open(encoding="utf-8", newline="") as handle:
        return {row["code"]: row["community"] for row in csv.DictReader(handle)}


def is_physician_code(code: str) -> bool:
    """A physician code that needs no verifier's judgement."""
    return code in physician_codes() and code not in REVIEW_CODES


def verdict_for(codes: Iterable[str]) -> TaxonomyVerdict:
    """Physician when any slot holds a physician code; review when only judgement codes do."""
    codes = [code.strip().upper() for code in codes if code]
    if any(is_physician_code(code) for code in codes):
        return TaxonomyVerdict.PHYSICIAN
    if any(code in REVIEW_CODES for code in codes):
        return TaxonomyVerdict.REVIEW
    return TaxonomyVerdict.NOT_PHYSICIAN


def community_for(code: str) -> str | None:
    """The community slug of a physician code, or None for any other code."""
    return physician_codes().get(code.strip().upper())

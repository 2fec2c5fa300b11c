"""Rebuild forum/verification/data/physician_taxonomy.csv from a NUCC taxonomy release.

Usage: python scripts/build_taxonomy.py ../shared/nppes/nucc_taxonomy_v25.1.csv
Keeps the grouping "Allopathic & Osteopathic Physicians" and assigns each code a community.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "forum/verification/data/physician_taxonomy.csv"
GROUPING = "Allopathic & Osteopathic Physicians"

# Specialization keywords first (a palliative anaesthetist belongs with palliative care) ...
BY_SPECIALIZATION = [
    ("Hospice and Palliative", "palliative-care"),
    ("Critical Care", "critical-care"),
    ("Neurocritical", "critical-care"),
    ("Cardi", "cardiology"),
    ("Heart", "cardiology"),
    ("Hypertension", "cardiology"),
    ("Vascular Neurology", "neurology"),
    ("Vascular Surgery", "surgery"),
    ("Endocrin", "endocrinology"),
    ("Diabetology", "endocrinology"),
    ("Obesity", "endocrinology"),
    ("Nutrition", "endocrinology"),
    ("Gastroenterology", "gastroenterology"),
    ("Hepatology", "gastroenterology"),
    ("Hematology", "haematology-oncology"),
    ("Oncology", "haematology-oncology"),
    ("Infectious", "infectious-diseases"),
    ("Nephrology", "nephrology"),
    ("Pulmon", "pulmonology"),
    ("Sleep", "pulmonology"),
    ("Rheumatology", "rheumatology"),
    ("Allergy", "allergy-immunology"),
    ("Immunology", "allergy-immunology"),
    ("Geriatric Psychiatry", "psychiatry"),
    ("Geriatric", "internal-medicine"),
    ("Addiction", "psychiatry"),
    ("Pain", "physical-medicine"),
    ("Sports", "physical-medicine"),
    ("Toxicology", "emergency-medicine"),
    ("Clinical Informatics", "preventive-medicine"),
]
# ... then the classification.
BY_CLASSIFICATION = {
    "Allergy & Immunology": "allergy-immunology",
    "Anesthesiology": "anaesthesiology",
    "Clinical Pharmacology": "internal-medicine",
    "Colon & Rectal Surgery": "surgery",
    "Dermatology": "dermatology",
    "Electrodiagnostic Medicine": "physical-medicine",
    "Emergency Medicine": "emergency-medicine",
    "Family Medicine": "family-medicine",
    "General Practice": "family-medicine",
    "Hospitalist": "internal-medicine",
    "Independent Medical Examiner": "preventive-medicine",
    "Integrative Medicine": "family-medicine",
    "Internal Medicine": "internal-medicine",
    "Legal Medicine": "preventive-medicine",
    "Medical Genetics": "medical-genetics",
    "Neurological Surgery": "surgery",
    "Neuromusculoskeletal Medicine & OMM": "physical-medicine",
    "Neuromusculoskeletal Medicine, Sports Medicine": "physical-medicine",
    "Nuclear Medicine": "radiology",
    "Obstetrics & Gynecology": "obstetrics-gynaecology",
    "Ophthalmology": "ophthalmology",
    "Oral & Maxillofacial Surgery": "otolaryngology",
    "Orthopaedic Surgery": "orthopaedics",
    "Otolaryngology": "otolaryngology",
    "Pain Medicine": "physical-medicine",
    "Pathology": "pathology",
    "Pediatrics": "paediatrics",
    "Phlebology": "surgery",
    "Physical Medicine & Rehabilitation": "physical-medicine",
    "Plastic Surgery": "surgery",
    "Preventive Medicine": "preventive-medicine",
    "Psychiatry & Neurology": "neurology",
    "Radiology": "radiology",
    "Surgery": "surgery",
    "Thoracic Surgery (Cardiothoracic Vascular Surgery)": "surgery",
    "Transplant Surgery": "surgery",
    "Urology": "urology",
}
# Whole classifications that keep their subspecialists together.
KEEP_TOGETHER = {"Pediatrics", "Pathology", "Radiology", "Obstetrics & Gynecology", "Surgery"}
PSYCHIATRY_WORDS = ("Psychiatr", "Psychosomatic", "Addiction", "Brain Injury")


def community_for(classification: str, specialization: str) -> str:
    """The site community a NUCC physician code belongs to."""
    if classification == "Psychiatry & Neurology" and any(
        word in specialization for word in PSYCHIATRY_WORDS
    ):
        return "psychiatry"
    if classification not in KEEP_TOGETHER or "Palliative" in specialization:
        for word, community in BY_SPECIALIZATION:
            if word in specialization:
                return community
    return BY_CLASSIFICATION[classification]


def main(source: str) -> None:
    with open(source, encoding="utf-8-sig", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["Grouping"] == GROUPING]
    with OUT.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["code", "classification", "specialization", "display_name", "community"])
        for row in rows:
            community = community_for(row["Classification"], row["Specialization"])
            writer.writerow(
                [
                    row["Code"],
                    row["Classification"],
                    row["Specialization"],
                    row["Display Name"],
                    community,
                ]
            )
    print(f"{len(rows)} physician codes written to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])

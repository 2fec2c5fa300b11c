"""Dates more specific than a year, ages over 89; relative times, years and younger ages pass."""

from __future__ import annotations

import pytest

from forum.phi import Action, Kind
from tests.phi.helpers import finding_over, found


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Admitted on 03/14/2024 with DKA.", "03/14/2024"),
        ("Discharged on 3/14 and back two days later.", "3/14"),
        ("Symptoms started March 14th after a cold.", "March 14th"),
        ("Seen in the ED on 14 Mar with chest pain.", "14 Mar"),
        ("Surgery was on 2024-03-14; now POD 2.", "2024-03-14"),
        ("Born on the 14th of March and now febrile.", "the 14th of March"),
        ("DOB the 2th of July. Presented with fever.", "the 2th of July"),
        ("Syncope since December 2, 2026.", "December 2, 2026"),
        ("Syncope since Mar. 24th, three visits.", "Mar. 24th"),
        ("Syncope since 2/22/22, tilt table next?", "2/22/22"),
        ("Syncope since 10/27. Tilt table next?", "10/27"),
        ("Her DOB is 07/22/1948 and she has COPD.", "07/22/1948"),
        ("DOB April 12. Presented with fever.", "April 12"),
        ("Scheduled on April 3, 2025 for colonoscopy.", "April 3, 2025"),
        ("Seen on Sept 12 with the same complaint.", "Sept 12"),
        ("Admission 14.03.2024 per the outside notes.", "14.03.2024"),
        ("Lymphoma diagnosed in June 2019, treated with R-CHOP.", "June 2019"),
        ("Discharge 20240314 per the summary.", "20240314"),
    ],
)
def test_dates_are_blocked_in_every_common_format(text: str, fragment: str) -> None:
    item = finding_over(text, fragment)
    assert item is not None, found(text)
    assert (item.kind, item.action) == (Kind.DATE, Action.BLOCK)
    assert text[item.start : item.end] == fragment


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("On Christmas Eve he developed chest pain.", "Christmas Eve"),
        ("Her symptoms began in March and never settled.", "March"),
        ("The fall happened on the 14th, a Sunday.", "14th"),
    ],
)
def test_holidays_lone_months_and_days_are_held_for_review(text: str, fragment: str) -> None:
    item = finding_over(text, fragment)
    assert item is not None, found(text)
    assert (item.kind, item.action) == (Kind.DATE, Action.REVIEW)


@pytest.mark.parametrize(
    "text",
    [
        "Guideline from 2000 says to screen men 65-75 who ever smoked.",
        "Diagnosed in 2019, treated in 2020, relapsed in 2023.",
        "Day 3 of piperacillin-tazobactam and still febrile.",
        "POD 2 after lap chole with rising bilirubin.",
        "Symptoms started 2 weeks ago after a URI.",
        "HD 5, still on pressors.",
        "BP 140/90 on amlodipine.",
        "BP 180/67 in clinic, 87/85 at home.",
        "Percocet 5/325 after the cholecystectomy.",
        "Hydrocodone/acetaminophen 10/325 q6h prn, pain still 8/10.",
        "Epinephrine 1:1000 IM for anaphylaxis.",
        "Strength 4/5 in the deltoid and 5/5 elsewhere.",
        "2/6 systolic murmur at the left sternal border.",
        "Blood cultures 2/2 bottles with Staph aureus.",
        "Apgar 8/9 but grunting at 2 hours.",
        "Started on 1/2 tab of metoprolol tartrate 25 mg.",
        "GCS 9/15 on arrival.",
        "Pain 7/10 despite oxycodone.",
        "May I ask how you would manage this?",
        "We may need to march him down to IR.",
        "Screen women aged 65 and over.",
    ],
)
def test_relative_times_years_and_clinical_fractions_pass(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Admitted last night, 95 y/o, with pneumonia.", "95"),
        ("She is a 97-year-old with aortic stenosis.", "97"),
        ("93 yo F with new AF.", "93"),
        ("92M presenting with syncope.", "92"),
        ("Patient is aged 101 and lives alone.", "101"),
        ("A ninety-four-year-old man with hyponatremia.", "ninety-four-year-old"),
        ("Her 100th birthday was last week.", "100"),
        ("Eleanor is 91 years old and wants surgery.", "91"),
        ("Quick question about our patient, 96, who fell.", "96"),
        ("Born in 1925, she still drives.", "1925"),
    ],
)
def test_ages_over_89_are_blocked_in_any_wording(text: str, fragment: str) -> None:
    item = finding_over(text, fragment)
    assert item is not None, found(text)
    assert (item.kind, item.action) == (Kind.AGE_OVER_89, Action.BLOCK)


@pytest.mark.parametrize(
    "text",
    ["A woman in her 90s with falls.", "A nonagenarian with sepsis."],
)
def test_age_bands_over_89_are_held_for_review(text: str) -> None:
    assert [kind for _, kind, _ in found(text)] == [Kind.AGE_OVER_89]


@pytest.mark.parametrize(
    "text",
    [
        "An 89-year-old with syncope and aortic stenosis.",
        "86F with SLE nephritis class IV.",
        "A woman in her 80s with new atrial fibrillation.",
        "In patients 90 or older the data are sparse.",
        "Age > 89 is grouped as 90+ in our registry.",
        "Temperature 101F and HR 120 in a neutropenic patient.",
        "Tmax 102.5F overnight, cultures pending.",
        "SpO2 94% on 2 L, HR 96, RR 22.",
        "Glucose 110 and weight 95 kg.",
    ],
)
def test_ages_up_to_89_vitals_and_fevers_pass(text: str) -> None:
    assert found(text) == []

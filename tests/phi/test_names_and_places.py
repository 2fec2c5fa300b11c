"""Names in context, initials, Last-First, possessives; towns and facilities; eponyms pass."""

from __future__ import annotations

import itertools

import pytest

from forum.phi import Action, Kind
from tests.phi.helpers import finding_over, found


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Mrs. Krish is a 74-year-old with dementia.", "Krish"),
        ("Saw Mr. Thompson today; VT again.", "Thompson"),
        ("Discussed with Dr. Patel from nephrology.", "Patel"),
        ("Ms Delgado has had three miscarriages.", "Delgado"),
        ("Patient Diego Morales is on hemodialysis MWF.", "Diego Morales"),
        ("The pt, named Rebecca, refuses transfusion.", "Rebecca"),
        ("Her husband Tom says she has been confused.", "Tom"),
        ("Her son Will is the healthcare proxy.", "Will"),
        ("Patient's son Rossana called about flying after the PE.", "Rossana"),
        ("Discussed the case with her brother, Samuel, a nurse.", "Samuel"),
        ("Admitted Brijesh Vance last night with pneumonia.", "Brijesh Vance"),
        ("Admitted María Luisa Harper last night.", "María Luisa Harper"),
        ("Jane Brown was admitted with a GI bleed.", "Jane Brown"),
        ("I admitted Brittany last night with an overdose.", "Brittany"),
        ("Called Priya Raman back about her potassium.", "Priya Raman"),
        ("Wei Zhang, 67, admitted with pneumonia.", "Wei Zhang"),
        ("Sarah presented with 2 weeks of headache.", "Sarah"),
        ("The daughter, Keisha Williams, wants a second opinion.", "Keisha Williams"),
        ("Sent the biopsy under accession for Massey, Mirco.", "Massey"),
        ("Sent the biopsy under accession for Massey, Mirco.", "Mirco"),
        ("Smith, John was admitted overnight with GI bleed.", "Smith"),
        ("Anna's INR is supratherapeutic again.", "Anna"),
        ("Mrs. Kowalski's daughter asked about hospice.", "Kowalski"),
        ("Centered on Mrs. O'Brien's goals of care, we chose hospice.", "O'Brien"),
        ("Patient Jean-Pierre Dubois has a new murmur.", "Jean-Pierre Dubois"),
        ("The patient is named john smith in the chart.", "john"),
    ],
)
def test_names_in_context_are_blocked(text: str, fragment: str) -> None:
    item = finding_over(text, fragment)
    assert item is not None, found(text)
    assert (item.kind, item.action) == (Kind.NAME, Action.BLOCK)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("J.S. is a 45-year-old with refractory ascites.", "J.S."),
        ("R. T., 34M, with recurrent pericarditis.", "R. T."),
        ("Seen by J. Whitfield in clinic.", "J. Whitfield"),
        ("Mr. K. has a new murmur.", "K."),
        ("Pt initials are JS and he is 45.", "JS"),
    ],
)
def test_initials_are_treated_as_names(text: str, fragment: str) -> None:
    item = finding_over(text, fragment)
    assert item is not None, found(text)
    assert item.kind is Kind.NAME


def test_a_lone_capitalised_word_that_may_be_a_name_is_held_for_review() -> None:
    item = finding_over("Saw Shravyo today about the results.", "Shravyo")
    assert item is not None
    assert (item.kind, item.action) == (Kind.NAME, Action.REVIEW)


@pytest.mark.parametrize(
    "text",
    [
        "Parkinson disease on carbidopa/levodopa with wearing off.",
        "Crohn's flare on vedolizumab; switch?",
        "Teenager with Crohn's who refuses infusions.",
        "Wilson disease workup: ceruloplasmin 12.",
        "Wilson's disease with low ceruloplasmin.",
        "New Addison's diagnosis; hydrocortisone dosing?",
        "Graves disease with high TRAb.",
        "Graves' orbitopathy in a smoker.",
        "Hashimoto encephalopathy is on my differential.",
        "Cushing syndrome suspected.",
        "Down syndrome adult with cognitive decline.",
        "Bell's palsy 48 hours in.",
        "Lyme carditis with a long PR.",
        "Gilbert syndrome explains the bilirubin.",
        "Positive Babinski on the left.",
        "Austin Flint murmur in severe AR.",
        "Sister Mary Joseph nodule on exam.",
        "Argyll Robertson pupils; RPR pending.",
        "Stevens-Johnson after lamotrigine.",
        "Guillain-Barré with falling FVC.",
        "Charcot-Marie-Tooth in the family.",
        "Wolff-Parkinson-White with AF.",
        "Murphy sign positive but ultrasound normal.",
        "Tanner stage 2 at age 7.",
        "The Glasgow Coma Scale is overused.",
        "Circle of Willis aneurysm, 4 mm.",
        "Johns Hopkins protocol for heparin.",
        "Kaplan-Meier curves separated at 6 months.",
        "Cockcroft-Gault CrCl 38.",
        "Foley removed POD 1.",
        "Swan-Ganz showed a wedge of 28.",
        "Wells score 4.5, D-dimer 1,250.",
        "Low risk, so a negative D-dimer would be reassuring.",
        "Child-Pugh B with MELD 18.",
        "Started Ozempic; nausea is bad.",
        "Eliquis or Xarelto with CrCl 45?",
        "Keytruda-related colitis, grade 3.",
        "Mounjaro vs Zepbound coverage.",
        "The SPRINT and ACCORD trials disagree.",
        "EMPA-REG and DAPA-HF changed practice.",
        "Klebsiella ESBL in urine.",
        "Candida glabrata in blood cultures.",
        "S. aureus bacteremia with a negative TEE.",
        "E. coli bacteremia from a urinary source.",
        "Jehovah's Witness with Hb 6.8.",
        "Returned from sub-Saharan Africa with fever.",
        "Per Smith et al., the benefit was small.",
        "Na 128, K 5.9, Cr 2.4.",
        "Using UpToDate and MDCalc for most scores.",
        "Medicare won't cover the CGM.",
        "Epic keeps flagging the QTc.",
        "QTc 520 ms. Admit for telemetry?",
        "Erythema migrans after a hike in Connecticut.",
        "Dengue in a traveler returning from Brazil.",
    ],
)
def test_eponyms_drugs_organisms_and_clinical_words_pass(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("She moved here from East Jeremytown last year.", "East Jeremytown"),
        ("She moved here from Gonzalezview last year.", "Gonzalezview"),
        ("She moved here from Lake Justinland last year.", "Lake Justinland"),
        ("He moved from Tulsa last year with CHF.", "Tulsa"),
        ("Travelled back from Phoenix on Sunday with fever.", "Phoenix"),
        ("He is from Lake Charles, Louisiana, and works offshore.", "Lake Charles"),
        ("Lives in Springfield, IL with her son.", "Springfield"),
        ("Lives on a farm outside Ames; strep suis?", "Ames"),
        ("She lives in Cook County and has no car.", "Cook County"),
        ("They live in the town of Millbrook.", "Millbrook"),
    ],
)
def test_towns_and_cities_are_caught(text: str, fragment: str) -> None:
    item = finding_over(text, fragment)
    assert item is not None, found(text)
    assert item.kind is Kind.CITY


def test_a_facility_that_places_the_patient_is_held_for_review() -> None:
    text = "Transferred from St. Mary's in Springfield after a stroke alert."
    facility = finding_over(text, "St. Mary's")
    town = finding_over(text, "Springfield")
    assert facility is not None
    assert facility.action is Action.REVIEW
    assert town is not None
    assert town.kind is Kind.CITY


def test_a_named_hospital_is_held_for_review() -> None:
    item = finding_over("Seen at Mercy Hospital before the transfer.", "Mercy Hospital")
    assert item is not None
    assert item.action is Action.REVIEW


@pytest.mark.parametrize(
    "text",
    [
        "Patients in rural Appalachia have poor access to dialysis.",
        "Valley fever is endemic in the Southwest.",
        "Rocky Mountain spotted fever with a tick bite.",
        "West Nile virus encephalitis.",
        "St. John's wort interacts with cyclosporine.",
        "Community hospital without a cath lab.",
        "The county clinic wants to follow up.",
    ],
)
def test_regions_states_and_generic_places_pass(text: str) -> None:
    assert found(text) == []


def test_every_finding_has_a_reason_and_a_suggestion() -> None:
    from forum.phi import scan

    text = (
        "Mrs. Krish, 94, lives at 12 Elm Street in Tulsa, OK 74103; call 918-555-0101, "
        "MRN 4423190, seen 3/14/2024, email k@example.com, https://facebook.com/k."
    )
    findings = scan(text)
    assert len(findings) >= 8
    for item in findings:
        assert item.reason
        assert "\n" not in item.reason
        assert item.suggestion


def test_findings_are_in_order_and_do_not_overlap() -> None:
    from forum.phi import scan

    text = "Pt John Smith (MRN 12345678) at 12 Main Street, Springfield, IL 62704."
    findings = scan(text)
    assert findings == sorted(findings, key=lambda f: f.start)
    for left, right in itertools.pairwise(findings):
        assert left.end <= right.start


def test_an_age_suggestion_offers_an_age_band() -> None:
    item = finding_over("A 95 y/o with pneumonia.", "95")
    assert item is not None
    assert "90 or older" in item.suggestion


def test_a_date_suggestion_offers_relative_time() -> None:
    item = finding_over("Admitted 03/14/2024 with DKA.", "03/14/2024")
    assert item is not None
    assert "day 3" in item.suggestion

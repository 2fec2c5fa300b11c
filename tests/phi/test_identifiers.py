"""Numbers and addresses that identify: phones, e-mail, SSN, record and plan numbers, links."""

from __future__ import annotations

import pytest

from forum.phi import Action, Kind
from tests.phi.helpers import finding_over, found


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Call me at (415) 555-0132 about the biopsy.", "(415) 555-0132"),
        ("Her number is 517-261-8756 if anyone wants it.", "517-261-8756"),
        ("Son called from 601 877 5794 last night.", "601 877 5794"),
        ("Reach him on 486.820.2126 after 5.", "486.820.2126"),
        ("Cell +1 540 556 2770, ask for the daughter.", "+1 540 556 2770"),
        ("The family is abroad: +44 20 7946 0958.", "+44 20 7946 0958"),
        ("Pager 555-867-5309 x204 for the resident.", "555-867-5309 x204"),
        ("Call 555-1234 for the lab.", "555-1234"),
    ],
)
def test_telephone_numbers_are_blocked_in_every_common_format(text: str, fragment: str) -> None:
    item = finding_over(text, fragment)
    assert item is not None, found(text)
    assert item.kind is Kind.PHONE
    assert item.action is Action.BLOCK


def test_a_number_after_fax_is_a_fax_number() -> None:
    item = finding_over("Fax the records to 212-555-0199 please.", "212-555-0199")
    assert item is not None
    assert item.kind is Kind.FAX


@pytest.mark.parametrize(
    "address",
    ["maria.lopez@gmail.com", "calcedonio.süßebier78@gmail.com", "dr_jones@hospital.org"],
)
def test_email_addresses_are_blocked(address: str) -> None:
    text = f"Contact: {address}. Teenager with Crohn's."
    item = finding_over(text, address)
    assert item is not None
    assert (item.kind, item.action) == (Kind.EMAIL, Action.BLOCK)
    assert text[item.start : item.end] == address


def test_a_spelled_out_email_address_is_caught() -> None:
    assert finding_over("write to jsmith at gmail dot com", "jsmith") is not None


@pytest.mark.parametrize("number", ["123-45-6789", "167 12 3041", "538724559"])
def test_social_security_numbers_are_blocked(number: str) -> None:
    text = f"SSN {number} was on the transfer sheet."
    item = finding_over(text, number)
    assert item is not None
    assert item.kind is Kind.SSN


def test_last_four_of_a_social_security_number_is_still_an_identifier() -> None:
    item = finding_over("Verified with the last 4 of her SSN 6789.", "6789")
    assert item is not None
    assert item.kind is Kind.SSN


@pytest.mark.parametrize(
    ("text", "fragment", "kind"),
    [
        ("MRN: 23110422. 66M with new AF.", "23110422", Kind.MRN),
        ("MRN: A11692123. 66M with new AF.", "A11692123", Kind.MRN),
        ("The MRN is A-7734921 if anyone wants to look.", "A-7734921", Kind.MRN),
        ("Biopsy accession S24-018877 came back positive.", "S24-018877", Kind.MRN),
        ("Policy number W1185991101 keeps getting flagged.", "W1185991101", Kind.HEALTH_PLAN),
        ("Policy number XJH885647711 was denied.", "XJH885647711", Kind.HEALTH_PLAN),
        ("Medicare ID 1EG4-TE5-MK73 was rejected.", "1EG4-TE5-MK73", Kind.HEALTH_PLAN),
        ("Her card says 2WW2-AA2-CV69 for the plan.", "2WW2-AA2-CV69", Kind.HEALTH_PLAN),
        ("Bill for account 4362477834 went to collections.", "4362477834", Kind.ACCOUNT),
        ("Bill for account 28069-237 went to collections.", "28069-237", Kind.ACCOUNT),
        ("Bill for account ACCT239116 went out.", "ACCT239116", Kind.ACCOUNT),
        ("Driver's license D1234567 was in his wallet.", "D1234567", Kind.LICENSE),
        ("DEA number AB1234563 was used on forged scripts.", "AB1234563", Kind.LICENSE),
        ("License plate 7XYZ123 was noted at the scene.", "7XYZ123", Kind.VEHICLE),
        ("VIN 1HGCM82633A004352 matched the car.", "1HGCM82633A004352", Kind.VEHICLE),
        ("The ICD (serial SN 3322-FB-36) fired 6 times.", "3322-FB-36", Kind.DEVICE),
        ("The ICD (serial PJN846555) fired twice.", "PJN846555", Kind.DEVICE),
        ("Pacemaker serial number PZK204317R is recalled.", "PZK204317R", Kind.DEVICE),
        ("Device MAC 00:1A:2B:3C:4D:5E keeps dropping.", "00:1A:2B:3C:4D:5E", Kind.DEVICE),
    ],
)
def test_record_plan_account_licence_vehicle_and_device_numbers_are_blocked(
    text: str, fragment: str, kind: Kind
) -> None:
    item = finding_over(text, fragment)
    assert item is not None, found(text)
    assert item.kind is kind
    assert item.action is Action.BLOCK


def test_a_long_number_without_a_label_is_held_for_review() -> None:
    item = finding_over("Reference 884123907 came back on the fax.", "884123907")
    assert item is not None
    assert item.action in (Action.BLOCK, Action.REVIEW)


@pytest.mark.parametrize("address", ["191.30.79.213", "10.0.0.45", "2001:db8:85a3::8a2e:370:7334"])
def test_ip_addresses_are_blocked(address: str) -> None:
    text = f"The portal logged access from {address} at 3 a.m."
    item = finding_over(text, address)
    assert item is not None
    assert item.kind is Kind.IP


@pytest.mark.parametrize(
    "url",
    [
        "https://www.facebook.com/ornella.porter.75",
        "www.linkedin.com/in/alexandra-kumer-271",
        "https://www.gofundme.com/f/help-leslie-dobson-fight-cancer",
        "https://storeyfamily.blogspot.com/2023/05/update.html",
        "instagram.com/bigmike_lifts",
    ],
)
def test_links_to_personal_pages_are_blocked(url: str) -> None:
    text = f"See the video at {url}. Dystonia or functional?"
    item = finding_over(text, url)
    assert item is not None
    assert (item.kind, item.action) == (Kind.URL, Action.BLOCK)
    assert text[item.start : item.end] == url


def test_links_to_other_sites_are_held_for_review() -> None:
    item = finding_over("Story at https://www.smalltownnews.com/local/crash", "https://")
    assert item is not None
    assert (item.kind, item.action) == (Kind.URL, Action.REVIEW)


@pytest.mark.parametrize(
    "text",
    [
        "Review: https://pubmed.ncbi.nlm.nih.gov/33306283/ on steroids in CAP.",
        "See https://doi.org/10.1056/NEJMoa2021436 for the data.",
        "Trial: https://clinicaltrials.gov/study/NCT03036124 is recruiting.",
        "Guideline: https://www.idsociety.org/practice-guideline/clostridioides-difficile/",
        "ADA: https://diabetesjournals.org/care/issue/47/Supplement_1",
        "NICE NG136: https://www.nice.org.uk/guidance/ng136",
        "doi:10.1001/jama.2020.17023 has the trial.",
        "NCT04280705 was ACTT-1.",
        "PMID: 32678530 has the meta-analysis.",
    ],
)
def test_literature_registry_and_guideline_references_pass(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Zip code 08424, rural area, far from a cath lab.", "08424"),
        ("Lives in Burlington, VT 05401 with her son.", "05401"),
        ("Mailing ZIP 62704-1234 on the form.", "62704-1234"),
    ],
)
def test_zip_codes_are_blocked(text: str, fragment: str) -> None:
    item = finding_over(text, fragment)
    assert item is not None
    assert item.kind is Kind.ZIP


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Lives alone at 335 Garcia Path Apt. 344 and fell.", "335 Garcia Path Apt. 344"),
        ("Lives alone at 428 S. Jordan Dr. and fell.", "428 S. Jordan Dr."),
        ("Lives alone at 72297 Anthony Parkways Apt. 251.", "72297 Anthony Parkways Apt. 251"),
        ("He lives at 1452 Maple Avenue with his wife.", "1452 Maple Avenue"),
        ("Records say PO Box 4471, but he is homeless now.", "PO Box 4471"),
        ("Lives on Oak Street next to the fire station.", "Oak Street"),
    ],
)
def test_street_addresses_are_blocked(text: str, fragment: str) -> None:
    item = finding_over(text, fragment)
    assert item is not None, found(text)
    assert (item.kind, item.action) == (Kind.ADDRESS, Action.BLOCK)
    assert text[item.start : item.end] == fragment

"""Becoming a verified physician in a real browser: at once by hospital e-mail, or by a verifier."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image
from playwright.sync_api import Page, expect

from forum.accounts.models import Role
from forum.extensions import db, utcnow
from forum.verification.models import HospitalDomain, RegistryImport, RegistryProvider
from tests.conftest import Mailbox, body_text
from tests.core.helpers import PHYSICIAN_PROBE_URL, add_probe_routes
from tests.e2e.conftest import LiveServer
from tests.factories import Member, code_at, make_user

pytestmark = pytest.mark.e2e

BISBEE = "1750384806"  # BISBEE ROBERT, internal medicine, Texas (sample file)
WIEBE = "1679576722"  # WIEBE DAVID, orthopaedic surgery, Nebraska (sample file)
HOSPITAL = "stmarys-health.example"
REASON = "Your hospital badge shows your name; the registry still has your former name."


def _provider(npi: str, first: str, last: str, code: str, state: str) -> RegistryProvider:
    return RegistryProvider(
        npi=npi,
        entity_type=1,
        first_name=first,
        last_name=last,
        credential="M.D.",
        other_names=[],
        taxonomies=[{"slot": 1, "code": code, "primary": True, "licence": "", "state": state}],
        practice_state=state,
        last_updated_on=date(2024, 1, 5),
        has_physician_taxonomy=True,
        row_hash=npi * 3 + "00",
        import_id=1,
    )


@pytest.fixture
def registry(app: Flask) -> None:
    """Two physicians in the registry copy, one hospital on the list, and a clinical page."""
    add_probe_routes(app)  # stands in for the clinical pages, whatever else exists
    with app.app_context():
        now = utcnow()
        db.session.add(
            RegistryImport(
                id=1,
                file_name="npidata_sample.csv",
                sha256="d" * 64,
                file_size=4096,
                status="complete",
                started_at=now,
                finished_at=now,
            )
        )
        db.session.flush()
        db.session.add(_provider(BISBEE, "ROBERT", "BISBEE", "207R00000X", "TX"))
        db.session.add(_provider(WIEBE, "DAVID", "WIEBE", "207X00000X", "NE"))
        db.session.add(HospitalDomain(domain=HOSPITAL, organisation="St Mary's Health"))
        db.session.commit()


def sign_in(page: Page, member: Member, next_path: str = "/verification/") -> None:
    """Both steps through the forms, then on to `next_path`."""
    assert member.totp_secret
    page.goto(f"/sign-in?next={next_path}")
    page.get_by_label("E-mail address").fill(member.email)
    page.get_by_label("Password", exact=True).fill(member.password)
    with page.expect_navigation():
        page.get_by_label("Password", exact=True).press("Enter")
    page.get_by_label("Code", exact=True).fill(code_at(member.totp_secret))
    with page.expect_navigation():
        page.get_by_label("Code", exact=True).press("Enter")


def send_claim(page: Page, npi: str, first: str, last: str, state: str, specialty: str) -> None:
    """The credential form on the verification page, filled by its labels."""
    page.get_by_label("National Provider Identifier (NPI)").fill(npi)
    page.get_by_label("Legal first name").fill(first)
    page.get_by_label("Legal last name").fill(last)
    page.get_by_label("Practice state").select_option(label=state)
    page.get_by_label("Specialty", exact=True).select_option(label=specialty)
    with page.expect_navigation():
        page.get_by_role("button", name="Send my claim").click()


def physician_page(page: Page) -> tuple[int, str]:
    """What a physician-only URL answers this browser's session (its cookies), unfollowed.

    The stand-in page is bare text without an icon link, so Chromium would fetch /favicon.ico
    and log its 404; asking through the context's request API avoids that.
    """
    answer = page.request.get(PHYSICIAN_PROBE_URL, max_redirects=0)
    return answer.status, answer.headers.get("location", "") or answer.text()


def expect_clinical_pages_open(page: Page, server: LiveServer) -> None:
    """The front page no longer sends the member to verification, and a physician page opens."""
    front = page.goto("/")
    assert front is not None
    assert front.status == 200
    expect(page).to_have_url(server("/"))
    assert physician_page(page) == (200, "probe ok")


def expect_clinical_pages_closed(page: Page) -> None:
    """A physician-only URL sends the member back to verification."""
    status, location = physician_page(page)
    assert status == 302
    assert location.endswith("/verification/")


def test_a_physician_with_a_hospital_address_is_verified_at_once(
    app: Flask, registry: None, page: Page, live_server: LiveServer, mailbox: Mailbox
) -> None:
    with app.app_context():
        member = make_user(email=f"robert.bisbee@{HOSPITAL}", display_name="Dr Bisbee")
    sign_in(page, member)
    expect(page).to_have_url(live_server("/verification/"))
    expect_clinical_pages_closed(page)

    send_claim(page, BISBEE, "Robert", "Bisbee", "Texas", "Internal medicine")

    expect(page).to_have_url(live_server("/verification/"))
    expect(page.get_by_role("status")).to_contain_text("you are verified")
    expect(page.get_by_role("main")).to_contain_text("You are a verified physician since")
    expect(page.get_by_role("navigation", name="Main")).not_to_contain_text("Verification")
    expect_clinical_pages_open(page, live_server)
    assert mailbox.to(member.email), "the member was not told"


def test_a_mismatch_goes_to_a_verifier_who_approves_from_the_document(
    app: Flask,
    registry: None,
    open_page: Callable[..., Page],
    live_server: LiveServer,
    mailbox: Mailbox,
    tmp_path: Path,
) -> None:
    badge = tmp_path / "hospital-badge.png"
    Image.new("RGB", (64, 40), (20, 90, 160)).save(badge, format="PNG")
    with app.app_context():
        member = make_user(email="d.webber@mail.example", display_name="Dr Webber")
        verifier = make_user(display_name="Dr Verifier", verified=True, roles=(Role.VERIFIER,))

    # The member: the registry knows this NPI under another last name.
    mine = open_page()
    sign_in(mine, member)
    send_claim(mine, WIEBE, "David", "Webber", "Nebraska", "Orthopaedic surgery")
    expect(mine).to_have_url(live_server("/verification/"))
    expect(mine.get_by_role("heading", name="Your claim is waiting for a verifier")).to_be_visible()
    mine.get_by_label("Licence certificate or hospital badge").set_input_files(badge)
    with mine.expect_navigation():
        mine.get_by_role("button", name="Upload").click()
    expect(mine.get_by_role("status")).to_contain_text("Document received")
    expect(mine.get_by_role("main")).to_contain_text("hospital-badge.png")
    expect_clinical_pages_closed(mine)

    # The verifier: from the header to the claim, the record, the document and the decision.
    theirs = open_page()
    sign_in(theirs, verifier)
    theirs.get_by_role("navigation", name="Main").get_by_role(
        "link", name=re.compile(r"^Verification queue")
    ).click()
    expect(theirs).to_have_url(live_server("/verification/queue/"))
    waiting = theirs.get_by_role("region", name=re.compile(r"^Waiting for a verifier"))
    row = waiting.get_by_role("row").filter(has_text="Dr Webber")
    expect(row).to_contain_text("1 attached")
    expect(row).to_contain_text("mismatch")
    row.get_by_role("link", name=re.compile(r"^Claim #")).click()

    expect(theirs.get_by_role("heading", name=re.compile(r"^Claim #"))).to_be_visible()
    registry_panel = theirs.get_by_role("region", name="What the registry holds")
    expect(registry_panel).to_contain_text("WIEBE")
    expect(registry_panel).to_contain_text("207X00000X")
    claimed = theirs.get_by_role("region", name="What the member claims")
    expect(claimed).to_contain_text("Webber")
    expect(theirs.get_by_role("region", name="Matching rules")).to_contain_text("fail")
    with theirs.expect_download() as download:
        theirs.get_by_role("link", name="hospital-badge.png").click()
    assert Path(download.value.path()).read_bytes() == badge.read_bytes()

    theirs.get_by_label("Approve: the member is the physician behind this NPI").check()
    theirs.get_by_label("Reason").fill(REASON)
    with theirs.expect_navigation():
        theirs.get_by_role("button", name="Record the decision").click()
    expect(theirs).to_have_url(live_server("/verification/queue/"))
    expect(theirs.get_by_role("status")).to_contain_text("approved; the member was e-mailed")
    waiting = theirs.get_by_role("region", name=re.compile(r"^Waiting for a verifier"))
    expect(waiting).to_contain_text("No claims here.")

    # The member is told, and gets in.
    (told,) = [m for m in mailbox.to(member.email) if "verified" in str(m["Subject"])]
    assert REASON in body_text(told)
    assert live_server("/verification/") in body_text(told)
    mine.goto("/verification/")
    expect(mine.get_by_role("main")).to_contain_text("You are a verified physician since")
    expect_clinical_pages_open(mine, live_server)

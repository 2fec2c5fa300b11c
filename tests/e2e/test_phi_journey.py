"""The PHI gate in a real browser: a phone number is highlighted while the member types and
blocked on submit with the form intact; a reply with a possible name is held, redacted and
approved by a moderator, and only then seen by others."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import Locator, Page, expect

from forum.accounts.models import Role
from forum.cases.communities import ensure_communities
from tests.e2e.conftest import Watch
from tests.e2e.test_cases_journey import physician, status, submit, thread_id_of
from tests.e2e.test_verification_journey import sign_in

pytestmark = pytest.mark.e2e

TITLE = "Recurrent falls in an older woman"
PHONE = "415-555-0132"
HISTORY = f"Day 3: a second fall at home. Her daughter asks us to call {PHONE} with news."
FIXED_HISTORY = "Day 3: a second fall at home. Her daughter would like updates."
HELD_REPLY = "Saw Shravyo today about the biopsy results; she is keen on a DEXA scan."
REDACTED_REPLY = "Saw the patient today about the biopsy results; she is keen on a DEXA scan."
BLOCKED_HEADING = "This may identify a patient: nothing was posted"


def live_findings(page: Page, label: str, exact: bool = True) -> Locator:
    """The as-you-type findings shown below the field with this label."""
    field_id = page.get_by_label(label, exact=exact).get_attribute("id")
    return page.locator(f"#{field_id}-phi-live")


def fill_the_case(page: Page, history: str) -> None:
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Age band").select_option(label="70s")
    page.get_by_label("Sex", exact=True).select_option(label="Female")
    page.get_by_label("Setting").select_option(label="Outpatient")
    page.get_by_label("Presenting problem").fill("Three falls in two months, no syncope.")
    page.get_by_label("History", exact=True).fill(history)
    page.get_by_label("Examination and investigations").fill("Orthostatic drop of 25 mmHg.")
    page.get_by_label("Current management").fill("Stopped doxazosin.")
    page.get_by_label("The question for colleagues").fill("What else would you stop first?")


def test_a_phone_number_is_highlighted_while_typing_and_blocked_with_the_form_intact(
    app: Flask, open_page: Callable[..., Page], watch: Watch
) -> None:
    with app.app_context():
        ensure_communities()
    author = physician(app, "Dr Ada Okafor", "cardiology")
    watch.allow_status(422)

    page = open_page()
    sign_in(page, author, "/c/cardiology/new-case")
    expect(page.get_by_role("heading", name="Present a case")).to_be_visible()
    fill_the_case(page, HISTORY)

    # Highlighted before submitting, with the same reason and suggestion as the block page.
    found = live_findings(page, "History")
    expect(found).to_be_visible()
    expect(found).to_have_attribute("aria-live", "polite")
    expect(found.locator("mark")).to_have_text(PHONE)
    expect(found).to_contain_text("A telephone number identifies a person. Remove the number.")
    expect(live_findings(page, "Presenting problem")).to_be_hidden()

    # Poll options are checked as well: they share one name, and each shows its own findings.
    page.get_by_label("Option 2", exact=True).fill(f"Call {PHONE} first")
    expect(live_findings(page, "Option 2").locator("mark")).to_have_text(PHONE)
    expect(live_findings(page, "Option 1")).to_be_hidden()
    page.get_by_label("Option 2", exact=True).fill("")
    expect(live_findings(page, "Option 2")).to_be_hidden()

    # Submitted anyway: blocked, nothing posted, everything typed still in the form.
    with page.expect_navigation():
        page.get_by_role("button", name="Post the case").click()
    expect(page.get_by_role("heading", name=BLOCKED_HEADING)).to_be_visible()
    expect(page.locator(".phi-findings mark")).to_have_text(PHONE)
    expect(page.locator(".phi-findings")).to_contain_text(
        "A telephone number identifies a person. Remove the number."
    )
    expect(page.get_by_label("Title")).to_have_value(TITLE)
    expect(page.get_by_label("History", exact=True)).to_have_value(HISTORY)
    expect(page.get_by_label("Current management")).to_have_value("Stopped doxazosin.")
    expect(page.get_by_label("Age band")).to_have_value(re.compile("70"))

    # Rewritten: the highlight goes away as the member types, and the case is posted.
    page.get_by_label("History", exact=True).fill(FIXED_HISTORY)
    expect(live_findings(page, "History")).to_be_hidden()
    submit(page, page.get_by_role("button", name="Post the case"))
    expect(page.get_by_role("heading", name=TITLE)).to_be_visible()
    assert PHONE not in page.content()


def test_a_reply_with_a_possible_name_is_held_redacted_and_approved_before_others_see_it(
    app: Flask, open_page: Callable[..., Page]
) -> None:
    with app.app_context():
        ensure_communities()
    author = physician(app, "Dr Ada Okafor", "cardiology")
    colleague = physician(app, "Dr Ben Ruiz", "cardiology")
    observer = physician(app, "Dr Chen Li", "cardiology")
    moderator = physician(app, "Dr Mo Derator", "cardiology", roles=(Role.MODERATOR,))

    mine = open_page()
    sign_in(mine, author, "/c/cardiology/new-case")
    fill_the_case(mine, FIXED_HISTORY)
    submit(mine, mine.get_by_role("button", name="Post the case"))
    thread_id = thread_id_of(mine)

    # The colleague's reply is flagged for review as they type, then held when posted.
    theirs = open_page()
    sign_in(theirs, colleague, f"/t/{thread_id}")
    theirs.get_by_label("Your reply").fill(HELD_REPLY)
    found = live_findings(theirs, "Your reply")
    expect(found.locator("mark")).to_have_text("Shravyo")
    expect(found).to_contain_text("a moderator would check it")
    submit(theirs, theirs.get_by_role("button", name="Post the reply"))
    expect(status(theirs)).to_contain_text("waiting for a moderator")

    # Nobody else sees it yet.
    others = open_page()
    sign_in(others, observer, f"/t/{thread_id}")
    expect(others.get_by_role("heading", name=TITLE)).to_be_visible()
    expect(others.get_by_role("main")).not_to_contain_text("biopsy results")

    # The moderator finds it in the queue with the name highlighted, redacts it and approves.
    desk = open_page()
    sign_in(desk, moderator, "/moderation/queue")
    expect(desk.get_by_role("heading", name="Review queue")).to_be_visible()
    expect(desk.locator(".phi-text mark")).to_have_text("Shravyo")
    desk.get_by_role("link", name=re.compile(f"Reply in “{re.escape(TITLE)}”")).click()
    body = desk.locator("#edit-body")
    expect(body).to_have_value(HELD_REPLY)
    body.fill(REDACTED_REPLY)
    submit(desk, desk.get_by_role("button", name="Save and approve"))
    expect(status(desk)).to_contain_text("Edited, approved and published")
    expect(desk.get_by_role("main")).to_contain_text("Nothing is waiting.")

    # Now the others see the redacted reply, and never the name.
    others.reload()
    expect(others.get_by_role("main")).to_contain_text(REDACTED_REPLY)
    assert "Shravyo" not in others.content()
    mine.reload()
    expect(mine.get_by_role("main")).to_contain_text(REDACTED_REPLY)

"""The way in, in a real browser: sign up, confirm by mail, enrol TOTP, sign in with two factors."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Locator, Page, expect

from tests.conftest import Mailbox, first_link
from tests.e2e.conftest import LiveServer, Watch
from tests.factories import Member, code_at, make_user

pytestmark = pytest.mark.e2e

LOCKED = "locked for 15 minutes"
REFUSED = "That code is not right, or was already used. Try the next one."


def current_step() -> int:
    return int(time.time()) // 30


def submit(page: Page, field: Locator) -> None:
    """Press Enter in a field and wait for the answer page, even when the address stays put."""
    with page.expect_navigation():
        field.press("Enter")


def sign_in_with_password(page: Page, email: str, password: str) -> None:
    """The first step, by keyboard: address, Tab, password, Enter."""
    page.get_by_label("E-mail address").focus()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    page.keyboard.type(password)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def enter_code(page: Page, code: str) -> None:
    """The second step: the code field has the focus when the page opens."""
    field = page.get_by_label("Code", exact=True)
    expect(field).to_be_focused()
    page.keyboard.type(code)
    submit(page, field)


def sign_out(page: Page, server: LiveServer) -> None:
    """The header's Sign out button, then its Sign in link, by keyboard."""
    page.get_by_role("button", name="Sign out").press("Enter")
    expect(page).to_have_url(server("/"))
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in").press("Enter")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def member(app: Flask) -> Member:
    with app.app_context():
        return make_user()


def wrong_codes(secret: str, count: int) -> list[str]:
    """Codes no step near now accepts."""
    near = {pyotp.TOTP(secret).generate_otp(current_step() + k) for k in range(-4, 5)}
    return [digit * 6 for digit in "0123456789" if digit * 6 not in near][:count]


def test_a_physician_signs_up_confirms_enrols_and_signs_in_again(
    page: Page, live_server: LiveServer, mailbox: Mailbox
) -> None:
    email = "ada.lovelace@hospital.example"
    password = "a quiet ward at four in the morning"

    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Join").press("Enter")
    expect(page.get_by_role("heading", name="Join Curbside")).to_be_visible()
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Display name").fill("Dr Ada Lovelace")
    page.get_by_label("Legal first name").fill("Ada")
    page.get_by_label("Legal last name").fill("Lovelace")
    page.get_by_label("New password").fill(password)
    page.get_by_label("Repeat the password").fill(password)
    page.get_by_label("Repeat the password").press("Enter")
    expect(page).to_have_url(live_server("/sign-up/check-email"))
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()

    link = first_link(mailbox.last_to(email))
    assert link.startswith(live_server("/confirm/"))
    page.goto(link)
    expect(page).to_have_url(live_server("/sign-in"))
    expect(page.get_by_role("status")).to_have_text("Your e-mail address is confirmed.")

    sign_in_with_password(page, email, password)
    expect(page).to_have_url(live_server("/two-factor/setup"))
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    grouped = page.locator("#totp-secret").inner_text()
    assert re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{4})+", grouped), grouped
    secret = grouped.replace(" ", "")
    enrolled_at = current_step()
    page.get_by_label("Six-digit code").fill(pyotp.TOTP(secret).generate_otp(enrolled_at))
    submit(page, page.get_by_label("Six-digit code"))

    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Two-factor sign-in is set up.")
    codes = page.get_by_role("list", name="Recovery codes").get_by_role("listitem")
    expect(codes).to_have_count(10)
    expect(codes).to_have_text([re.compile(r"^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$")] * 10)
    page.get_by_role("link", name="I have saved them, continue").press("Enter")
    expect(page).to_have_url(live_server("/verification/"))

    sign_out(page, live_server)
    sign_in_with_password(page, email, password)
    expect(page).to_have_url(live_server("/two-factor"))
    # The enrolment code's step is spent (replay protection): use the next one or later.
    later = max(current_step(), enrolled_at + 1)
    enter_code(page, pyotp.TOTP(secret).generate_otp(later))

    expect(page).to_have_url(live_server("/verification/"))
    expect(page.get_by_role("heading", name="Physician verification")).to_be_visible()
    main = page.get_by_role("main")
    expect(main).to_contain_text("National Provider Identifier (NPI)")
    expect(main).to_contain_text("licence number")
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("Dr Ada Lovelace")


def test_a_replayed_code_is_refused_in_the_browser(
    app: Flask, page: Page, live_server: LiveServer, watch: Watch
) -> None:
    watch.allow_status(422)  # the refused code re-renders the form with 422
    physician = member(app)
    assert physician.totp_secret
    page.goto("/sign-in")
    sign_in_with_password(page, physician.email, physician.password)
    expect(page).to_have_url(live_server("/two-factor"))
    code = code_at(physician.totp_secret)
    enter_code(page, code)
    expect(page).to_have_url(live_server("/verification/"))

    sign_out(page, live_server)
    sign_in_with_password(page, physician.email, physician.password)
    enter_code(page, code)

    expect(page).to_have_url(live_server("/two-factor"))
    field = page.get_by_label("Code", exact=True)
    expect(page.locator("#code-error")).to_have_text(REFUSED)
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(re.compile(re.escape(REFUSED)))
    expect(page.get_by_role("alert")).to_contain_text(f"Code: {REFUSED}")
    page.goto("/verification/")
    expect(page).to_have_url(re.compile(r"/two-factor\?next=/verification/$"))


def test_five_wrong_codes_lock_the_second_factor_in_the_browser(
    app: Flask, page: Page, live_server: LiveServer, watch: Watch
) -> None:
    watch.allow_status(422)
    physician = member(app)
    assert physician.totp_secret
    page.goto("/sign-in")
    sign_in_with_password(page, physician.email, physician.password)
    field = page.get_by_label("Code", exact=True)

    *first_four, fifth = wrong_codes(physician.totp_secret, 5)
    for wrong in first_four:
        field.fill(wrong)
        submit(page, field)
        expect(page.locator("#code-error")).to_have_text(REFUSED)
        expect(page.get_by_role("alert").filter(has_text=LOCKED)).to_have_count(0)
    field.fill(fifth)
    submit(page, field)
    expect(page.get_by_role("alert").filter(has_text=LOCKED)).to_be_visible()

    field.fill(code_at(physician.totp_secret))
    submit(page, field)
    expect(page).to_have_url(live_server("/two-factor"))
    expect(page.get_by_role("alert").filter(has_text=LOCKED)).to_be_visible()
    page.goto("/verification/")
    expect(page).to_have_url(re.compile(r"/two-factor\?next=/verification/$"))


def test_a_member_signs_in_and_out_without_javascript(
    app: Flask, open_page: Callable[..., Page], live_server: LiveServer
) -> None:
    page = open_page(java_script_enabled=False)
    physician = member(app)
    assert physician.totp_secret
    page.goto("/")
    page.get_by_role("link", name="Sign in").first.click()
    sign_in_with_password(page, physician.email, physician.password)
    expect(page).to_have_url(live_server("/two-factor"))
    enter_code(page, code_at(physician.totp_secret))
    expect(page).to_have_url(live_server("/verification/"))
    expect(page.get_by_role("heading", name="Physician verification")).to_be_visible()
    sign_out(page, live_server)

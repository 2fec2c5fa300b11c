"""Sign-in with password and second factor, the steps before it, sign-out and the rate limit."""

from __future__ import annotations

import pytest
from flask import Flask

from forum.accounts.models import Role
from tests.accounts.helpers import (
    WRONG_SIGN_IN,
    audit_rows,
    field_errors,
    flashes,
    is_signed_in,
    later,
    path_of,
    redirect_path,
    text,
    user_row,
    where_sent,
)
from tests.conftest import FormClient, Mailbox, first_link
from tests.factories import make_user, sign_in, sign_in_password, unused_code


def test_the_right_password_leads_to_the_code_step_only(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()

    response = sign_in_password(client, member)

    assert redirect_path(response) == "/two-factor"
    assert where_sent(client, "/account") == "/two-factor"
    assert len(audit_rows(app, "signin.password")) == 1


def test_both_factors_sign_a_member_in(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()

    response = sign_in(client, member)

    assert redirect_path(response) == "/"
    assert is_signed_in(client)
    assert user_row(app, member.id).last_sign_in_at is not None


def test_wrong_password_and_unknown_address_get_the_same_answer(
    app: Flask, client: FormClient
) -> None:
    with app.app_context():
        member = make_user()

    wrong_password = client.post(
        "/sign-in", data={"email": member.email, "password": "not my password at all"}
    )
    unknown_address = client.post(
        "/sign-in", data={"email": "nobody@hospital.example", "password": member.password}
    )

    assert wrong_password.status_code == unknown_address.status_code == 422
    assert flashes(wrong_password) == flashes(unknown_address) == [WRONG_SIGN_IN]
    assert field_errors(wrong_password, "email") == field_errors(unknown_address, "email") == []
    assert where_sent(client, "/account") == "/sign-in"


def test_each_failed_sign_in_writes_an_audit_row(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()

    client.post("/sign-in", data={"email": member.email, "password": "not my password at all"})
    client.post("/sign-in", data={"email": "nobody@hospital.example", "password": "whatever"})

    assert audit_rows(app, "signin.failure") == [
        {"actor": member.id, "target": member.id, "details": {"reason": "wrong password"}},
        {"actor": None, "target": None, "details": {"reason": "unknown address"}},
    ]


def test_the_address_is_matched_whatever_its_case(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user("dr.who@example.org")

    response = client.post(
        "/sign-in", data={"email": " Dr.Who@Example.ORG ", "password": member.password}
    )

    assert redirect_path(response) == "/two-factor"


def test_sign_in_goes_on_to_a_safe_next_address(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()

    sign_in_password(client, member, next_url="/account")
    response = client.post("/two-factor?next=/account", data={"code": unused_code(app, member)})

    assert redirect_path(response) == "/account"


def test_sign_in_ignores_a_next_address_on_another_site(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()

    sign_in_password(client, member)
    response = client.post(
        "/two-factor?next=//evil.example/phish", data={"code": unused_code(app, member)}
    )

    assert response.headers["Location"] == "/"


# --- Before the second factor ------------------------------------------------------------------


def test_an_unconfirmed_member_is_sent_to_confirm_their_address(
    app: Flask, client: FormClient
) -> None:
    with app.app_context():
        member = make_user(confirmed=False, enrolled=False)

    response = sign_in_password(client, member)

    assert redirect_path(response) == "/account/confirm-email"
    for path in ("/", "/account", "/two-factor/setup", "/verification/"):
        assert where_sent(client, path) == "/account/confirm-email", path
    assert "confirm" in text(client.get("/account/confirm-email")).lower()


def test_an_unconfirmed_member_can_have_the_link_sent_again(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        member = make_user(confirmed=False, enrolled=False)
    sign_in_password(client, member)

    response = client.post("/account/confirm-email/resend", follow_redirects=True)

    assert "We sent a new link. It works for 48 hours." in flashes(response)
    link = first_link(mailbox.last_to(member.email))
    assert link.startswith("http://curbside.example/confirm/")
    assert redirect_path(client.get(path_of(link))) == "/two-factor/setup"
    assert user_row(app, member.id).email_confirmed


@pytest.mark.parametrize("path", ["/", "/account", "/verification/", "/admin/", "/two-factor"])
def test_after_the_first_sign_in_a_member_reaches_nothing_but_enrolment(
    app: Flask, client: FormClient, path: str
) -> None:
    with app.app_context():
        member = make_user(enrolled=False, roles=(Role.ADMIN,))
    assert redirect_path(sign_in_password(client, member)) == "/two-factor/setup"

    assert where_sent(client, path) == "/two-factor/setup"
    assert client.get("/two-factor/setup").status_code == 200


# --- Signing out -------------------------------------------------------------------------------


def test_signing_out_ends_the_session(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()
    sign_in(client, member)

    response = client.post("/sign-out", follow_redirects=True)

    assert "You are signed out." in flashes(response)
    assert where_sent(client, "/account") == "/sign-in"


def test_signing_out_needs_the_form_token(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()
    sign_in(client, member)

    response = client.post("/sign-out", csrf=False)

    assert response.status_code == 400
    assert is_signed_in(client)


def test_signing_out_everywhere_ends_this_and_every_other_session(
    app: Flask, client: FormClient
) -> None:
    with app.app_context():
        member = make_user()
    other = app.test_client()
    sign_in(client, member)
    sign_in(other, member)

    response = client.post("/account/sign-out-everywhere", follow_redirects=True)

    assert "You are signed out on every device." in flashes(response)
    assert where_sent(client, "/account") == "/sign-in"
    assert where_sent(other, "/account") == "/sign-in"
    assert len(audit_rows(app, "session.signed_out_everywhere")) == 1


def test_a_session_ended_everywhere_stays_ended_after_signing_in_again(
    app: Flask, client: FormClient
) -> None:
    with app.app_context():
        member = make_user()
    other = app.test_client()
    sign_in(client, member)
    sign_in(other, member)
    client.post("/account/sign-out-everywhere")

    sign_in(client, member)

    assert is_signed_in(client)
    assert where_sent(other, "/account") == "/sign-in"


# --- Rate limit --------------------------------------------------------------------------------


def test_the_eleventh_sign_in_within_a_minute_gets_a_friendly_429(
    app: Flask, client: FormClient
) -> None:
    with app.app_context():
        member = make_user()
    wrong = {"email": member.email, "password": "not my password at all"}
    for attempt in range(10):
        assert client.post("/sign-in", data=wrong).status_code == 422, attempt

    response = sign_in_password(client, member)

    assert response.status_code == 429
    page = text(response)
    assert "Too many attempts" in page
    assert "Too many attempts from your address. Wait a minute and try again." in page
    assert where_sent(client, "/account") == "/sign-in"
    with later(minutes=1, seconds=5):
        assert redirect_path(sign_in_password(client, member)) == "/two-factor"

"""Forgotten password by mail, and changing password or address behind re-authentication."""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from tests.accounts.helpers import (
    WRONG_SIGN_IN,
    audit_rows,
    field_errors,
    flashes,
    is_signed_in,
    later,
    path_of,
    reauthenticate,
    redirect_path,
    user_row,
    where_sent,
)
from tests.conftest import FormClient, Mailbox, body_text, first_link
from tests.factories import Member, make_user, sign_in, sign_in_password

NEW_PASSWORD = "the night registrar drinks cold tea"
ON_ITS_WAY = (
    "If that address belongs to an account, a reset link is on its way. "
    "It works once, for one hour."
)
LINK_USED = "That reset link is not valid or was already used. Ask for a new one."
CHANGE_LINK_USED = "That link is not valid or was already used."


def reset_link(client: FormClient, mailbox: Mailbox, member: Member) -> str:
    """Ask for a reset and return the path of the link that arrives."""
    client.post("/password/forgot", data={"email": member.email})
    return path_of(first_link(mailbox.last_to(member.email)))


def choose(client: FormClient, password: str, url: str = "/password/reset") -> TestResponse:
    return client.post(url, data={"password": password, "password_confirm": password})


def with_password(member: Member, password: str) -> Member:
    return Member(member.id, member.email, password, member.totp_secret, member.recovery_codes)


# --- Forgotten password ------------------------------------------------------------------------


def test_forgot_password_answers_the_same_whether_or_not_the_address_exists(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        member = make_user()

    known = client.post("/password/forgot", data={"email": member.email})
    known_page = client.get(known.headers["Location"])
    unknown = client.post("/password/forgot", data={"email": "nobody@hospital.example"})
    unknown_page = client.get(unknown.headers["Location"])

    assert (known.status_code, known.headers["Location"]) == (302, unknown.headers["Location"])
    assert flashes(known_page) == flashes(unknown_page) == [ON_ITS_WAY]
    assert [str(message["To"]) for message in mailbox.messages] == [member.email]


def test_the_reset_mail_carries_a_link_built_from_the_base_url(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        member = make_user()

    client.post("/password/forgot", data={"email": member.email})

    message = mailbox.last_to(member.email)
    assert message["Subject"] == "Reset your Curbside password"
    assert first_link(message).startswith("http://curbside.example/password/reset/")
    assert len(audit_rows(app, "password.reset_requested")) == 1


def test_the_reset_link_moves_its_token_out_of_the_address(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        member = make_user()
    link = reset_link(client, mailbox, member)
    token = link.rsplit("/", 1)[1]

    response = client.get(link)

    assert response.headers["Location"] == "/password/reset"
    form = client.get("/password/reset")
    assert form.status_code == 200
    assert token not in form.get_data(as_text=True)


def test_the_reset_page_needs_the_link_first(app: Flask, client: FormClient) -> None:
    response = client.get("/password/reset", follow_redirects=True)

    assert "Open the link from the reset e-mail first." in flashes(response)


def test_a_reset_sets_the_new_password_and_retires_the_old(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        member = make_user()
    client.get(reset_link(client, mailbox, member))

    response = choose(client, NEW_PASSWORD)

    assert redirect_path(response) == "/sign-in"
    fresh = app.test_client()
    assert sign_in_password(fresh, member).status_code == 422
    assert redirect_path(sign_in_password(fresh, with_password(member, NEW_PASSWORD))) == (
        "/two-factor"
    )
    assert len(audit_rows(app, "password.reset")) == 1


def test_a_reset_mails_a_password_changed_notice(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        member = make_user()
    client.get(reset_link(client, mailbox, member))

    choose(client, NEW_PASSWORD)

    notice = mailbox.last_to(member.email)
    assert notice["Subject"] == "Your Curbside password was changed"
    assert NEW_PASSWORD not in body_text(notice)


def test_a_reset_link_works_once(app: Flask, client: FormClient, mailbox: Mailbox) -> None:
    with app.app_context():
        member = make_user()
    link = reset_link(client, mailbox, member)
    client.get(link)
    choose(client, NEW_PASSWORD)

    again = client.get(link, follow_redirects=True)

    assert LINK_USED in flashes(again)
    assert client.get("/password/reset").headers["Location"] == "/password/forgot"


def test_a_reset_ends_every_older_reset_link(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        member = make_user()
    first = reset_link(client, mailbox, member)
    second = reset_link(client, mailbox, member)
    client.get(second)
    choose(client, NEW_PASSWORD)

    assert LINK_USED in flashes(client.get(first, follow_redirects=True))


def test_a_reset_link_expires_after_an_hour(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        member = make_user()
    link = reset_link(client, mailbox, member)

    with later(minutes=61):
        response = client.get(link, follow_redirects=True)

    assert "That reset link has expired. Ask for a new one." in flashes(response)


def test_a_reset_link_opened_in_time_cannot_be_used_after_the_hour(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        member = make_user()
    client.get(reset_link(client, mailbox, member))

    with later(minutes=61):
        response = choose(client, NEW_PASSWORD)

    assert redirect_path(response) == "/password/forgot"
    assert sign_in_password(app.test_client(), member).status_code == 302


def test_a_reset_ends_other_sessions(app: Flask, client: FormClient, mailbox: Mailbox) -> None:
    with app.app_context():
        member = make_user()
    other = app.test_client()
    sign_in(other, member)

    client.get(reset_link(client, mailbox, member))
    choose(client, NEW_PASSWORD)

    assert where_sent(other, "/account") == "/sign-in"


def test_a_reset_refuses_a_common_password_beside_the_field(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        member = make_user()
    client.get(reset_link(client, mailbox, member))

    response = choose(client, "qwerty123456")

    assert response.status_code == 422
    assert field_errors(response, "password") == [
        "This password is among the 10,000 most common; choose another."
    ]
    assert redirect_path(sign_in_password(app.test_client(), member)) == "/two-factor"


# --- Changes behind re-authentication ----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/account/password", {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}),
        ("/account/email", {"email": "new.address@clinic.example"}),
    ],
)
def test_changing_password_or_address_needs_reauthentication(
    app: Flask, client: FormClient, mailbox: Mailbox, path: str, data: dict[str, str]
) -> None:
    with app.app_context():
        member = make_user()
    sign_in(client, member)

    with later(minutes=11):
        shown = client.get(path)
        posted = client.post(path, data=data)

    for response in (shown, posted):
        assert response.headers["Location"] == f"/account/reauthenticate?next={path}"
    user = user_row(app, member.id)
    assert (user.email, user.pending_email) == (member.email, None)
    assert redirect_path(sign_in_password(app.test_client(), member)) == "/two-factor"
    assert mailbox.messages == []


def test_changing_the_password_after_reauthentication(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        member = make_user()
    sign_in(client, member)

    with later(minutes=11):
        reauthenticate(client, member, next_url="/account/password")
        response = client.post(
            "/account/password", data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
        )
        assert redirect_path(response) == "/account"
        assert is_signed_in(client)

    fresh = app.test_client()
    assert flashes(sign_in_password(fresh, member)) == [WRONG_SIGN_IN]
    assert redirect_path(sign_in_password(fresh, with_password(member, NEW_PASSWORD))) == (
        "/two-factor"
    )
    assert mailbox.last_to(member.email)["Subject"] == "Your Curbside password was changed"
    assert len(audit_rows(app, "password.changed")) == 1


def test_a_new_password_must_meet_the_policy(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()
    sign_in(client, member)

    response = client.post(
        "/account/password", data={"password": "too short", "password_confirm": "too short"}
    )

    assert response.status_code == 422
    assert field_errors(response, "password") == ["Use at least 12 characters."]


def test_changing_the_address_mails_a_link_to_the_new_one_and_a_notice_to_the_old(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        member = make_user()
    sign_in(client, member)

    response = client.post("/account/email", data={"email": "New.Address@Clinic.example"})

    assert redirect_path(response) == "/account"
    link = first_link(mailbox.last_to("new.address@clinic.example"))
    assert link.startswith("http://curbside.example/account/email/confirm/")
    notice = mailbox.last_to(member.email)
    assert notice["Subject"] == "Your Curbside address is being changed"
    assert "http" not in body_text(notice)
    user = user_row(app, member.id)
    assert (user.email, user.pending_email) == (member.email, "new.address@clinic.example")
    assert len(audit_rows(app, "email.change_requested")) == 1


def test_the_address_changes_only_when_the_link_is_followed(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        member = make_user()
    sign_in(client, member)
    client.post("/account/email", data={"email": "new.address@clinic.example"})
    link = path_of(first_link(mailbox.last_to("new.address@clinic.example")))

    response = client.get(link, follow_redirects=True)

    assert "Your new e-mail address is confirmed." in flashes(response)
    user = user_row(app, member.id)
    assert (user.email, user.pending_email) == ("new.address@clinic.example", None)
    moved = Member(member.id, user.email, member.password, member.totp_secret, ())
    assert redirect_path(sign_in_password(app.test_client(), moved)) == "/two-factor"
    assert sign_in_password(app.test_client(), member).status_code == 422
    assert len(audit_rows(app, "email.changed")) == 1


def test_the_address_change_link_works_once(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        member = make_user()
    sign_in(client, member)
    client.post("/account/email", data={"email": "new.address@clinic.example"})
    link = path_of(first_link(mailbox.last_to("new.address@clinic.example")))
    client.get(link)

    again = client.get(link, follow_redirects=True)

    assert CHANGE_LINK_USED in flashes(again)
    assert len(audit_rows(app, "email.changed")) == 1


def test_an_address_taken_by_another_account_is_refused(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        member = make_user()
        make_user("colleague@clinic.example")
    sign_in(client, member)

    response = client.post("/account/email", data={"email": "Colleague@Clinic.example"})

    assert response.status_code == 422
    assert field_errors(response, "email") == ["Another account uses that address."]
    assert user_row(app, member.id).pending_email is None
    assert mailbox.messages == []


def test_an_address_taken_before_the_link_is_followed_is_refused(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        member = make_user()
    sign_in(client, member)
    client.post("/account/email", data={"email": "new.address@clinic.example"})
    link = path_of(first_link(mailbox.last_to("new.address@clinic.example")))
    with app.app_context():
        make_user("new.address@clinic.example")

    response = client.get(link, follow_redirects=True)

    assert "Another account now uses that address." in flashes(response)
    assert user_row(app, member.id).email == member.email

"""Sign-up: the form, the password policy, unique addresses and names, confirmation by mail."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from itsdangerous import URLSafeTimedSerializer
from werkzeug.test import TestResponse

from forum.accounts.models import User
from forum.accounts.tokens import Purpose, make_token
from forum.extensions import db
from tests.accounts.helpers import (
    audit_rows,
    field_errors,
    flashes,
    input_value,
    is_signed_in,
    later,
    path_of,
    redirect_path,
    text,
    user_row,
)
from tests.conftest import FormClient, Mailbox, body_text, first_link
from tests.factories import make_user

EMAIL = "grace.hopper@hospital.example"
PASSWORD = "a compiler is a fine colleague"
CONFIRMED = "Your e-mail address is confirmed."
USED = "This link has already been used. Sign in to continue."
EXPIRED = "That link has expired. Sign in and ask for a new one."
INVALID = "That link is not valid. Sign in and ask for a new one."
COMMON = "This password is among the 10,000 most common; choose another."


def sign_up(client: FormClient, **fields: str) -> TestResponse:
    """Post the sign-up form: Grace Hopper's details unless told otherwise."""
    data = {
        "email": EMAIL,
        "display_name": "Dr Hopper",
        "first_name": "Grace",
        "last_name": "Hopper",
        "password": PASSWORD,
        **fields,
    }
    data.setdefault("password_confirm", data["password"])
    return client.post("/sign-up", data=data)


def find_user(app: Flask, email: str) -> User | None:
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        if user is not None:
            db.session.expunge(user)
        return user


def count_users(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(User)) or 0


def confirmation_token(mailbox: Mailbox, email: str = EMAIL) -> str:
    return path_of(first_link(mailbox.last_to(email))).rsplit("/", 1)[1]


# --- The form ----------------------------------------------------------------------------------


def test_sign_up_creates_an_unconfirmed_account_with_the_legal_name(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    response = sign_up(client)

    assert redirect_path(response) == "/sign-up/check-email"
    user = find_user(app, EMAIL)
    assert user is not None
    assert (user.display_name, user.first_name, user.last_name) == ("Dr Hopper", "Grace", "Hopper")
    assert not user.email_confirmed
    assert not user.totp_enrolled


def test_sign_up_does_not_sign_the_newcomer_in(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    sign_up(client)

    assert redirect_path(client.get("/account")) == "/sign-in"
    assert redirect_path(client.get("/two-factor/setup")) == "/sign-in"


def test_sign_up_needs_a_legal_first_and_last_name(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    response = sign_up(client, first_name="", last_name="")

    assert response.status_code == 422
    assert field_errors(response, "first_name") == ["This field is required."]
    assert field_errors(response, "last_name") == ["This field is required."]
    assert count_users(app) == 0


def test_a_legal_name_must_look_like_one(app: Flask, client: FormClient, mailbox: Mailbox) -> None:
    response = sign_up(client, last_name="Hopper 2nd")

    assert response.status_code == 422
    assert field_errors(response, "last_name") == [
        "Use your name as on your licence: letters, spaces, hyphens, apostrophes."
    ]
    assert count_users(app) == 0


def test_passwords_are_stored_as_argon2id_hashes(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    sign_up(client)

    user = find_user(app, EMAIL)
    assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_sign_up_writes_an_audit_row(app: Flask, client: FormClient, mailbox: Mailbox) -> None:
    sign_up(client)

    user = find_user(app, EMAIL)
    assert user is not None
    assert audit_rows(app, "account.signup") == [
        {"actor": user.id, "target": user.id, "details": {}}
    ]


# --- Password policy ---------------------------------------------------------------------------


def test_a_password_shorter_than_12_characters_is_refused_beside_the_field(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    response = sign_up(client, password="eleven char")

    assert response.status_code == 422
    assert field_errors(response, "password") == ["Use at least 12 characters."]
    assert count_users(app) == 0


def test_a_password_of_exactly_12_uncommon_characters_is_accepted(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    response = sign_up(client, password="twelve chars")

    assert redirect_path(response) == "/sign-up/check-email"
    assert count_users(app) == 1


def test_common_passwords_are_refused_whatever_their_case(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    for common in ("1qaz2wsx3edc", "qwerty123456", "QWERTY123456", "1QAZ2wsx3EDC"):
        response = sign_up(client, password=common)

        assert response.status_code == 422, common
        assert field_errors(response, "password") == [COMMON], common
    assert count_users(app) == 0
    assert mailbox.messages == []


def test_a_refused_password_keeps_the_other_fields_in_the_form(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    response = sign_up(client, password="1qaz2wsx3edc")

    assert response.status_code == 422
    assert input_value(response, "email") == EMAIL
    assert input_value(response, "display_name") == "Dr Hopper"
    assert input_value(response, "first_name") == "Grace"
    assert input_value(response, "last_name") == "Hopper"
    assert not input_value(response, "password")
    assert field_errors(response, "email") == []
    assert field_errors(response, "display_name") == []


def test_the_two_passwords_must_match(app: Flask, client: FormClient, mailbox: Mailbox) -> None:
    response = sign_up(client, password_confirm=PASSWORD + "!")

    assert response.status_code == 422
    assert field_errors(response, "password_confirm") == ["The two passwords differ."]
    assert count_users(app) == 0


# --- Unique addresses and names ----------------------------------------------------------------


def test_addresses_are_normalised_to_lower_case(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    sign_up(client, email="Dr.Who@Example.ORG")

    assert find_user(app, "dr.who@example.org") is not None
    assert mailbox.last_to("dr.who@example.org")["Subject"] == (
        "Confirm your e-mail address for Curbside"
    )


def test_the_same_address_in_another_case_makes_no_second_account(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    sign_up(client, email="Dr.Who@Example.ORG", display_name="The Doctor")
    mailbox.clear()

    response = sign_up(client, email="dr.who@example.org", display_name="Another Doctor")

    assert redirect_path(response) == "/sign-up/check-email"
    assert count_users(app) == 1
    assert mailbox.last_to("dr.who@example.org")["Subject"] == (
        "Someone tried to sign up with your address"
    )


def test_sign_up_answers_the_same_whether_or_not_the_address_is_taken(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        make_user("taken@hospital.example", display_name="Dr Holder")

    fresh = sign_up(client, email="fresh@hospital.example", display_name="Dr Fresh")
    fresh_page = client.get(fresh.headers["Location"])
    taken = sign_up(client, email="taken@hospital.example", display_name="Dr Taker")
    taken_page = client.get(taken.headers["Location"])

    assert (fresh.status_code, fresh.headers["Location"]) == (302, taken.headers["Location"])
    assert fresh_page.get_data() == taken_page.get_data()


def test_a_taken_address_gets_a_notice_and_no_second_account(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        holder = make_user("taken@hospital.example", display_name="Dr Holder")

    sign_up(client, email="Taken@Hospital.example", display_name="Dr Taker")

    assert count_users(app) == 1
    assert user_row(app, holder.id).display_name == "Dr Holder"
    notice = mailbox.last_to("taken@hospital.example")
    assert notice["Subject"] == "Someone tried to sign up with your address"
    assert "http://curbside.example/password/forgot" in body_text(notice)
    assert len(mailbox.to("taken@hospital.example")) == 1


def test_display_names_are_unique_regardless_of_case(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        make_user(display_name="Dr House")

    response = sign_up(client, display_name="dr HOUSE")

    assert response.status_code == 422
    assert field_errors(response, "display_name") == ["That display name is taken; choose another."]
    assert find_user(app, EMAIL) is None


# --- Confirmation by mail ----------------------------------------------------------------------


def test_the_confirmation_mail_arrives_with_a_link_built_from_the_base_url(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    sign_up(client)

    message = mailbox.last_to(EMAIL)
    assert message["Subject"] == "Confirm your e-mail address for Curbside"
    assert first_link(message).startswith("http://curbside.example/confirm/")


def test_following_the_link_confirms_the_address(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    sign_up(client)

    response = client.get(f"/confirm/{confirmation_token(mailbox)}", follow_redirects=True)

    assert CONFIRMED in flashes(response)
    user = find_user(app, EMAIL)
    assert user is not None
    assert user.email_confirmed
    assert audit_rows(app, "account.email_confirmed") == [
        {"actor": user.id, "target": user.id, "details": {}}
    ]


def test_the_confirmation_link_works_only_once(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    sign_up(client)
    token = confirmation_token(mailbox)
    client.get(f"/confirm/{token}", follow_redirects=True)

    again = client.get(f"/confirm/{token}", follow_redirects=True)

    assert flashes(again) == [USED]
    assert len(audit_rows(app, "account.email_confirmed")) == 1


def test_the_confirmation_link_expires_after_48_hours(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    sign_up(client)
    token = confirmation_token(mailbox)

    with later(hours=49):
        response = client.get(f"/confirm/{token}", follow_redirects=True)

    assert flashes(response) == [EXPIRED]
    user = find_user(app, EMAIL)
    assert user is not None
    assert not user.email_confirmed


def test_a_link_signed_with_another_key_is_refused(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    sign_up(client)
    genuine = URLSafeTimedSerializer("x", salt="curbside:confirm-email")
    _, payload = genuine.loads_unsafe(confirmation_token(mailbox))
    forger = URLSafeTimedSerializer("not-the-site-key-" * 3, salt="curbside:confirm-email")

    response = client.get(f"/confirm/{forger.dumps(payload)}", follow_redirects=True)

    assert flashes(response) == [INVALID]
    assert not find_user(app, EMAIL).email_confirmed  # type: ignore[union-attr]


def test_a_link_with_another_members_payload_is_refused(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    sign_up(client)
    sign_up(client, email="other@hospital.example", display_name="Dr Other")
    mine = confirmation_token(mailbox)
    theirs = confirmation_token(mailbox, "other@hospital.example")
    spliced = theirs.split(".")[0] + "." + ".".join(mine.split(".")[1:])

    response = client.get(f"/confirm/{spliced}", follow_redirects=True)

    assert flashes(response) == [INVALID]
    assert not find_user(app, "other@hospital.example").email_confirmed  # type: ignore[union-attr]


def test_a_token_made_for_another_purpose_does_not_confirm(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    sign_up(client)
    genuine = URLSafeTimedSerializer("x", salt="curbside:confirm-email")
    _, payload = genuine.loads_unsafe(confirmation_token(mailbox))
    with app.test_request_context():
        other_purpose = make_token(Purpose.CHANGE_EMAIL, payload)

    response = client.get(f"/confirm/{other_purpose}", follow_redirects=True)

    assert flashes(response) == [INVALID]
    assert not find_user(app, EMAIL).email_confirmed  # type: ignore[union-attr]


def test_a_password_reset_link_does_not_confirm_an_address(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        member = make_user(confirmed=False, enrolled=False)
    client.post("/password/forgot", data={"email": member.email}, follow_redirects=True)
    reset_token = path_of(first_link(mailbox.last_to(member.email))).rsplit("/", 1)[1]

    response = client.get(f"/confirm/{reset_token}", follow_redirects=True)

    assert flashes(response) == [INVALID]
    assert not user_row(app, member.id).email_confirmed


def test_a_newcomer_signed_in_with_a_password_goes_on_to_enrolment_after_confirming(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    sign_up(client)
    client.post("/sign-in", data={"email": EMAIL, "password": PASSWORD})

    response = client.get(f"/confirm/{confirmation_token(mailbox)}")

    assert redirect_path(response) == "/two-factor/setup"
    assert "<svg" in text(client.get("/two-factor/setup"))
    assert not is_signed_in(client)


@pytest.mark.parametrize("display_name", ["Dr Lee 555-123-4567", "Dr Lee 078-05-1120"])
def test_a_display_name_goes_through_the_phi_gate(
    app: Flask, client: FormClient, display_name: str
) -> None:
    response = sign_up(client, display_name=display_name)
    assert response.status_code == 422
    [error] = field_errors(response, "display_name")
    assert "Use only your name" in error
    assert count_users(app) == 0


def test_a_surname_that_is_also_a_town_is_a_fine_display_name(
    app: Flask, client: FormClient
) -> None:
    response = sign_up(client, display_name="Dr Jackson Austin")
    assert response.status_code == 302
    assert count_users(app) == 1

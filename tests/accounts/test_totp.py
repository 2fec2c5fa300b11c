"""The second factor: enrolment, codes and their window, replay, lockout, recovery codes,
encryption at rest, and the changes that need re-authentication."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask import Flask
from werkzeug.test import TestResponse

from forum.accounts import services, totp
from forum.accounts.models import RecoveryCode, User
from forum.extensions import db, utcnow
from tests.accounts.helpers import (
    LOCKED,
    WRONG_CODE,
    audit_rows,
    field_errors,
    flashes,
    is_signed_in,
    later,
    reauthenticate,
    redirect_path,
    text,
    user_row,
    where_sent,
    wrong_code,
)
from tests.conftest import TEST_ENCRYPTION_KEY, FormClient
from tests.factories import Member, code_at, make_user, sign_in, sign_in_password, unused_code

ENROL_MISMATCH = "That code does not match. Check the time on your phone and try the newest code."


def shown_secret(response: TestResponse) -> str:
    found = re.search(r'<code class="secret" id="totp-secret">([A-Z2-7 ]+)</code>', text(response))
    assert found, "no secret on the page"
    return found.group(1).replace(" ", "")


def shown_codes(response: TestResponse) -> list[str]:
    listed = re.search(r'<ul class="recovery-codes".*?</ul>', text(response), re.DOTALL)
    assert listed, "no recovery codes on the page"
    return re.findall(r"<code>([a-z0-9-]+)</code>", listed.group(0))


def send_code(client: FormClient, code: str) -> TestResponse:
    return client.post("/two-factor", data={"code": code})


def stored_hashes(app: Flask, member_id: int) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(RecoveryCode.code_hash).where(RecoveryCode.user_id == member_id)
            )
        )


def lock_out(client: FormClient, member: Member) -> TestResponse:
    """Sign in with the password and then give five wrong codes."""
    assert member.totp_secret
    sign_in_password(client, member)
    for _ in range(4):
        assert send_code(client, wrong_code(member.totp_secret)).status_code == 422
    return send_code(client, wrong_code(member.totp_secret))


def enrolling(app: Flask, client: FormClient) -> tuple[Member, str]:
    """A confirmed member half way through enrolment, and the secret the page shows."""
    with app.app_context():
        member = make_user(enrolled=False)
    sign_in_password(client, member)
    return member, shown_secret(client.get("/two-factor/setup"))


# --- Enrolment ---------------------------------------------------------------------------------


def test_enrolment_shows_a_qr_code_and_the_secret_as_text(app: Flask, client: FormClient) -> None:
    member, secret = enrolling(app, client)

    page = text(client.get("/two-factor/setup"))
    assert "<svg" in page
    assert "QR code for your authenticator app" in page
    stored = user_row(app, member.id).totp_secret_encrypted or ""
    with app.app_context():
        assert totp.decrypt_secret(stored) == secret


def test_reloading_the_enrolment_page_keeps_the_same_secret(app: Flask, client: FormClient) -> None:
    _, secret = enrolling(app, client)

    assert shown_secret(client.get("/two-factor/setup")) == secret


def test_the_secret_counts_only_once_a_code_confirms_it(app: Flask, client: FormClient) -> None:
    member, secret = enrolling(app, client)

    assert not user_row(app, member.id).totp_enrolled
    client.post("/sign-out")
    assert redirect_path(sign_in_password(client, member)) == "/two-factor/setup"
    assert where_sent(client, "/account") == "/two-factor/setup"
    assert shown_secret(client.get("/two-factor/setup")) == secret


def test_a_wrong_enrolment_code_is_refused_beside_the_field(app: Flask, client: FormClient) -> None:
    member, secret = enrolling(app, client)

    response = client.post("/two-factor/setup", data={"code": wrong_code(secret)})

    assert response.status_code == 422
    assert field_errors(response, "code") == [ENROL_MISMATCH]
    assert shown_secret(response) == secret
    assert not user_row(app, member.id).totp_enrolled


def test_a_right_code_enrols_and_shows_ten_recovery_codes(app: Flask, client: FormClient) -> None:
    member, secret = enrolling(app, client)

    response = client.post("/two-factor/setup", data={"code": code_at(secret)})

    assert response.status_code == 200
    codes = shown_codes(response)
    assert len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", code) for code in codes)
    assert user_row(app, member.id).totp_enrolled
    assert is_signed_in(client)
    assert audit_rows(app, "totp.enrolled") == [
        {"actor": member.id, "target": member.id, "details": {}}
    ]


def test_recovery_codes_are_shown_once_and_stored_only_hashed(
    app: Flask, client: FormClient
) -> None:
    member, secret = enrolling(app, client)
    codes = shown_codes(client.post("/two-factor/setup", data={"code": code_at(secret)}))

    hashes = stored_hashes(app, member.id)
    assert len(hashes) == 10
    for code in codes:
        assert all(code not in h and code.replace("-", "") not in h for h in hashes)
    assert redirect_path(client.get("/two-factor/setup")) == "/"
    settings = text(client.get("/account"))
    assert "10 unused" in settings
    assert not any(code in settings for code in codes)


def test_recovery_codes_from_enrolment_work_at_sign_in(app: Flask, client: FormClient) -> None:
    member, secret = enrolling(app, client)
    codes = shown_codes(client.post("/two-factor/setup", data={"code": code_at(secret)}))
    client.post("/sign-out")

    sign_in_password(client, member)

    assert redirect_path(send_code(client, codes[3])) == "/"


# --- Codes at sign-in --------------------------------------------------------------------------


def test_every_sign_in_asks_for_a_code(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()

    assert redirect_path(sign_in_password(client, member)) == "/two-factor"
    for path in ("/", "/account", "/verification/"):
        assert where_sent(client, path) == "/two-factor", path


def test_a_wrong_code_is_refused_beside_the_field(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()
    sign_in_password(client, member)

    response = send_code(client, wrong_code(member.totp_secret or ""))

    assert response.status_code == 422
    assert field_errors(response, "code") == [WRONG_CODE]
    assert not is_signed_in(client)
    assert audit_rows(app, "totp.failure") == [
        {"actor": member.id, "target": member.id, "details": {"during": "signin.totp"}}
    ]


def test_codes_one_step_either_side_are_accepted_but_not_two(
    app: Flask, client: FormClient
) -> None:
    with app.app_context():
        member = make_user()
    secret = member.totp_secret or ""

    sign_in_password(client, member)
    assert send_code(client, code_at(secret, steps=-2)).status_code == 422
    assert redirect_path(send_code(client, code_at(secret, steps=-1))) == "/"
    client.post("/sign-out")
    sign_in_password(client, member)
    assert send_code(client, code_at(secret, steps=+2)).status_code == 422
    assert redirect_path(send_code(client, code_at(secret, steps=+1))) == "/"


def test_a_code_accepted_once_cannot_be_replayed(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()
    secret = member.totp_secret or ""
    sign_in_password(client, member)
    send_code(client, code_at(secret))
    client.post("/sign-out")
    sign_in_password(client, member)

    replayed = send_code(client, code_at(secret))
    earlier = send_code(client, code_at(secret, steps=-1))

    assert field_errors(replayed, "code") == [WRONG_CODE]
    assert field_errors(earlier, "code") == [WRONG_CODE]
    assert not is_signed_in(client)
    assert redirect_path(send_code(client, code_at(secret, steps=+1))) == "/"


def test_the_last_step_used_is_stored(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()

    sign_in_password(client, member)
    send_code(client, code_at(member.totp_secret or "", steps=+1))

    assert user_row(app, member.id).totp_last_step == totp.current_step(utcnow()) + 1


# --- Lockout -----------------------------------------------------------------------------------


def test_five_wrong_codes_lock_the_second_factor_even_against_the_right_code(
    app: Flask, client: FormClient
) -> None:
    with app.app_context():
        member = make_user()

    fifth = lock_out(client, member)
    response = send_code(client, unused_code(app, member))

    assert LOCKED in " ".join(flashes(fifth))
    assert response.status_code == 422
    assert LOCKED in " ".join(flashes(response))
    assert not is_signed_in(client)
    assert len(audit_rows(app, "totp.failure")) == 5
    assert audit_rows(app, "totp.locked") == [
        {"actor": member.id, "target": member.id, "details": {"minutes": 15}}
    ]


def test_the_lockout_refuses_recovery_codes_too(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()
    lock_out(client, member)

    response = send_code(client, member.recovery_codes[0])

    assert LOCKED in " ".join(flashes(response))
    assert not is_signed_in(client)


def test_the_lockout_holds_in_another_app_instance(
    app: Flask, client: FormClient, build_app: Callable[..., Flask]
) -> None:
    with app.app_context():
        member = make_user()
    lock_out(client, member)
    elsewhere = build_app().test_client()

    sign_in_password(elsewhere, member)
    response = send_code(elsewhere, unused_code(app, member))

    assert LOCKED in " ".join(flashes(response))
    assert not is_signed_in(elsewhere)


def test_the_right_code_works_again_after_15_minutes(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()
    lock_out(client, member)

    with later(minutes=14):
        assert LOCKED in " ".join(flashes(send_code(client, unused_code(app, member))))
    with later(minutes=16):
        assert redirect_path(send_code(client, unused_code(app, member))) == "/"
        assert is_signed_in(client)


def test_a_right_code_resets_the_count_of_wrong_ones(app: Flask) -> None:
    with app.app_context():
        member = make_user()
        user = db.session.get(User, member.id)
        assert user is not None
        secret = member.totp_secret or ""

        for _ in range(4):
            services.check_second_factor(user, wrong_code(secret))
        assert services.check_second_factor(user, code_at(secret, steps=-1)).ok
        for _ in range(4):
            services.check_second_factor(user, wrong_code(secret))
        check = services.check_second_factor(user, code_at(secret))

    assert check.outcome is services.CodeOutcome.ACCEPTED


# --- Recovery codes at sign-in -----------------------------------------------------------------


def test_a_recovery_code_signs_in_once(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()
    code = member.recovery_codes[0]

    sign_in_password(client, member)
    used = send_code(client, code)
    assert redirect_path(used) == "/"
    assert "You used a recovery code; 9 left." in " ".join(flashes(client.get("/account")))
    client.post("/sign-out")
    sign_in_password(client, member)

    again = send_code(client, code)

    assert field_errors(again, "code") == [WRONG_CODE]
    assert not is_signed_in(client)


def test_using_a_recovery_code_writes_an_audit_row(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()

    sign_in_password(client, member)
    send_code(client, member.recovery_codes[0])

    assert audit_rows(app, "signin.totp") == [
        {
            "actor": member.id,
            "target": member.id,
            "details": {"method": "recovery", "recovery_left": 9},
        }
    ]


@pytest.mark.parametrize(
    "spelling",
    [str.upper, lambda code: code.replace("-", ""), lambda code: code.replace("-", " ").upper()],
    ids=["upper case", "no dashes", "spaces"],
)
def test_recovery_codes_are_accepted_with_or_without_dashes_and_case(
    app: Flask, client: FormClient, spelling: Callable[[str], str]
) -> None:
    with app.app_context():
        member = make_user()

    sign_in_password(client, member)

    assert redirect_path(send_code(client, spelling(member.recovery_codes[0]))) == "/"


def test_each_of_the_ten_recovery_codes_works_exactly_once(app: Flask) -> None:
    with app.app_context():
        member = make_user()
        user = db.session.get(User, member.id)
        assert user is not None

        for left, code in zip(range(9, -1, -1), member.recovery_codes, strict=True):
            check = services.check_second_factor(user, code)
            assert check.outcome is services.CodeOutcome.RECOVERY_USED
            assert check.recovery_codes_left == left
            assert services.check_second_factor(user, code).outcome is services.CodeOutcome.WRONG


# --- Secrets at rest ---------------------------------------------------------------------------


def test_totp_secrets_are_encrypted_with_the_configured_key(app: Flask) -> None:
    with app.app_context():
        member = make_user()
        stored = db.session.execute(
            sa.text("SELECT totp_secret_encrypted FROM user_account WHERE id = :id"),
            {"id": member.id},
        ).scalar_one()

    assert member.totp_secret
    assert member.totp_secret not in stored
    assert Fernet(TEST_ENCRYPTION_KEY).decrypt(stored.encode()).decode() == member.totp_secret


def test_an_app_with_another_key_cannot_read_the_secrets(
    app: Flask, build_app: Callable[..., Flask]
) -> None:
    with app.app_context():
        member = make_user()
    stored = user_row(app, member.id).totp_secret_encrypted or ""
    new_key = Fernet.generate_key().decode()

    with build_app(ENCRYPTION_KEYS=new_key).app_context(), pytest.raises(RuntimeError):
        totp.decrypt_secret(stored)
    with build_app(ENCRYPTION_KEYS=f"{new_key},{TEST_ENCRYPTION_KEY}").app_context():
        assert totp.decrypt_secret(stored) == member.totp_secret


# --- Changes that need re-authentication -------------------------------------------------------


@pytest.mark.parametrize("path", ["/account/recovery-codes", "/account/two-factor/reset"])
def test_second_factor_changes_need_reauthentication(
    app: Flask, client: FormClient, path: str
) -> None:
    with app.app_context():
        member = make_user()
    sign_in(client, member)

    with later(minutes=11):
        shown = client.get(path)
        posted = client.post(path)

    for response in (shown, posted):
        assert response.headers["Location"] == f"/account/reauthenticate?next={path}"
    assert user_row(app, member.id).totp_enrolled
    assert len(stored_hashes(app, member.id)) == 10


def test_reauthentication_needs_the_password(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()
    sign_in(client, member)

    with later(minutes=11):
        response = client.post(
            "/account/reauthenticate?next=/account/recovery-codes",
            data={"password": "not my password at all", "code": unused_code(app, member)},
        )
        assert response.status_code == 422
        assert field_errors(response, "password") == ["That password is incorrect."]
        assert redirect_path(client.get("/account/recovery-codes")) == "/account/reauthenticate"
    assert len(audit_rows(app, "reauth.failure")) == 1


def test_reauthentication_needs_a_code(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()
    sign_in(client, member)

    with later(minutes=11):
        response = reauthenticate(client, member, code=wrong_code(member.totp_secret or ""))
        assert response.status_code == 422
        assert field_errors(response, "code") == [WRONG_CODE]
        assert redirect_path(client.get("/account/recovery-codes")) == "/account/reauthenticate"


def test_reauthentication_with_password_and_code_opens_the_page_asked_for(
    app: Flask, client: FormClient
) -> None:
    with app.app_context():
        member = make_user()
    sign_in(client, member)

    with later(minutes=11):
        response = reauthenticate(client, member, next_url="/account/recovery-codes")
        assert response.headers["Location"] == "/account/recovery-codes"
        assert client.get("/account/recovery-codes").status_code == 200
    assert len(audit_rows(app, "reauth.success")) == 1


def test_reauthentication_lasts_ten_minutes(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()
    sign_in(client, member)

    with later(minutes=11):
        reauthenticate(client, member)
        with later(minutes=9):
            assert client.get("/account/recovery-codes").status_code == 200
        with later(minutes=11):
            assert redirect_path(client.get("/account/recovery-codes")) == (
                "/account/reauthenticate"
            )


def test_regenerating_recovery_codes_makes_ten_new_ones_and_retires_the_old(
    app: Flask, client: FormClient
) -> None:
    with app.app_context():
        member = make_user()
    sign_in(client, member)

    with later(minutes=11):
        reauthenticate(client, member)
        new_codes = shown_codes(client.post("/account/recovery-codes"))
        fresh = app.test_client()
        sign_in_password(fresh, member)
        old_refused = send_code(fresh, member.recovery_codes[0])
        new_accepted = send_code(fresh, new_codes[0])

    assert len(set(new_codes)) == 10
    assert not set(new_codes) & set(member.recovery_codes)
    assert field_errors(old_refused, "code") == [WRONG_CODE]
    assert redirect_path(new_accepted) == "/"
    assert len(audit_rows(app, "totp.recovery_codes_regenerated")) == 1


def test_resetting_totp_sends_the_member_to_enrolment_and_ends_other_sessions(
    app: Flask, client: FormClient
) -> None:
    with app.app_context():
        member = make_user()
    other = app.test_client()
    sign_in(other, member)
    sign_in(client, member)

    with later(minutes=11):
        reauthenticate(client, member)
        response = client.post("/account/two-factor/reset")
        assert redirect_path(response) == "/two-factor/setup"
        assert where_sent(client, "/account") == "/two-factor/setup"
        assert where_sent(other, "/account") == "/sign-in"
        new_secret = shown_secret(client.get("/two-factor/setup"))
        assert new_secret != member.totp_secret
        codes = shown_codes(client.post("/two-factor/setup", data={"code": code_at(new_secret)}))
        assert len(codes) == 10
        assert is_signed_in(client)

    assert audit_rows(app, "totp.reset") == [
        {"actor": member.id, "target": member.id, "details": {}}
    ]


def test_resetting_totp_forgets_the_old_secret_and_recovery_codes(
    app: Flask, client: FormClient
) -> None:
    with app.app_context():
        member = make_user()
    sign_in(client, member)

    client.post("/account/two-factor/reset")

    user = user_row(app, member.id)
    assert not user.totp_enrolled
    assert user.totp_secret_encrypted is None
    assert stored_hashes(app, member.id) == []

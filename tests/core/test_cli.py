"""Shell commands: the first admin (`flask users create-admin`) and demo data (`flask demo`)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pyotp
import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask

from forum.accounts import totp
from forum.accounts.models import RecoveryCode, Role, User
from forum.cases.models import Post, Thread, Visibility
from forum.demo import DEMO_ACCOUNTS, DEMO_PASSWORD
from forum.extensions import db
from tests.conftest import FormClient
from tests.core.helpers import audit_rows, redirect_target
from tests.factories import Member, make_user, sign_in, sign_in_password

PASSWORD = "a long and unusual admin passphrase"
RECOVERY_CODE = re.compile(r"^\s+([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})\s*$", re.MULTILINE)


def run(app: Flask, *args: str, input: str | None = None) -> Result:
    return app.test_cli_runner().invoke(args=list(args), input=input)


def printed_secret(output: str) -> str:
    found = re.search(r"secret:\s+([A-Z2-7 ]+)$", output, re.MULTILINE)
    assert found, output
    return found.group(1).replace(" ", "")


def user_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(User)) or 0


def stored_user(app: Flask, email: str) -> User:
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        assert user is not None, email
        db.session.expunge(user)
        return user


# --- flask users create-admin -------------------------------------------------------------------


def test_create_admin_makes_an_enrolled_admin_and_prints_the_secret_and_recovery_codes(
    app: Flask, client: FormClient
) -> None:
    result = run(app, "users", "create-admin", "boss@hospital.example", input=f"{PASSWORD}\n" * 2)

    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    secret = printed_secret(result.output)
    codes = RECOVERY_CODE.findall(result.output)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert f"otpauth://totp/Curbside:boss%40hospital.example?secret={secret}" in result.output

    admin = stored_user(app, "boss@hospital.example")
    assert admin.is_admin
    assert admin.email_confirmed
    assert admin.totp_enrolled
    with app.app_context():
        assert totp.decrypt_secret(admin.totp_secret_encrypted or "") == secret
        stored = set(db.session.scalars(sa.select(RecoveryCode.code_hash)))
        assert stored == {totp.hash_recovery_code(code) for code in codes}
        (event,) = audit_rows("account.provisioned")
        assert event.target_id == admin.id
        assert event.details == {"roles": ["admin"]}

    member = Member(admin.id, admin.email, PASSWORD, secret, tuple(codes))
    assert sign_in(client, member).status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize(
    ("email", "display_name"),
    [
        ("dr.o'neil+ops@hospital.example", "Staff dr o neil ops"),
        ("a@hospital.example", "Staff a"),
        ("x" * 60 + "@hospital.example", "Staff " + "x" * 34),
    ],
)
def test_create_admin_gives_a_usable_display_name_for_any_address(
    app: Flask, email: str, display_name: str
) -> None:
    result = run(app, "users", "create-admin", email, input=f"{PASSWORD}\n" * 2)
    assert result.exit_code == 0, result.output
    assert stored_user(app, email.lower()).display_name == display_name


def test_create_admin_takes_a_chosen_display_name(app: Flask) -> None:
    result = run(
        app,
        "users",
        "create-admin",
        "boss@hospital.example",
        "--display-name",
        "Dr Boss",
        input=f"{PASSWORD}\n" * 2,
    )
    assert result.exit_code == 0, result.output
    assert stored_user(app, "boss@hospital.example").display_name == "Dr Boss"


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "Use at least 12 characters."),
        ("qwerty123456", "among the 10,000 most common"),
        ("boss@hospital.example", "Do not use your e-mail address"),
    ],
)
def test_create_admin_refuses_a_weak_password_and_creates_nothing(
    app: Flask, password: str, message: str
) -> None:
    result = run(app, "users", "create-admin", "boss@hospital.example", input=f"{password}\n" * 2)

    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert user_count(app) == 0
    with app.app_context():
        assert audit_rows() == []


def test_create_admin_asks_again_when_the_passwords_differ_and_creates_nothing(
    app: Flask,
) -> None:
    result = run(
        app, "users", "create-admin", "boss@hospital.example", input=f"{PASSWORD}\nother one\n"
    )
    assert result.exit_code != 0
    assert "do not match" in result.output
    assert user_count(app) == 0


def test_create_admin_refuses_a_malformed_address(app: Flask) -> None:
    result = run(app, "users", "create-admin", "not-an-address", input=f"{PASSWORD}\n" * 2)
    assert result.exit_code != 0
    assert "Enter a valid e-mail address" in result.output
    assert user_count(app) == 0


def test_create_admin_on_an_existing_member_grants_the_admin_role(
    app: Flask, client: FormClient
) -> None:
    with app.app_context():
        member = make_user(email="existing@hospital.example", verified=True)

    result = run(app, "users", "create-admin", "Existing@Hospital.example")

    assert result.exit_code == 0, result.output
    assert "now holds the admin role" in result.output
    assert "secret:" not in result.output  # their own authenticator stays
    assert user_count(app) == 1
    assert stored_user(app, member.email).is_admin
    with app.app_context():
        (event,) = audit_rows("role.granted")
        assert (event.actor_id, event.target_id, event.details) == (
            None,
            member.id,
            {"role": "admin"},
        )
    assert sign_in(client, member).status_code == 302  # same password, same second factor
    assert client.get("/admin/").status_code == 200


# --- flask demo ---------------------------------------------------------------------------------


def printed_accounts(output: str) -> dict[str, tuple[str, str]]:
    """email -> (created/exists, TOTP secret) from the seed command's output."""
    rows = re.findall(r"^(created|exists)\s+(\S+@\S+)\s.*TOTP secret (\S+)$", output, re.MULTILINE)
    return {email: (state, secret) for state, email, secret in rows}


def test_demo_seed_creates_each_account_once_and_prints_its_secret(app: Flask) -> None:
    first = run(app, "demo", "seed")
    second = run(app, "demo", "seed")

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert DEMO_PASSWORD in first.output
    made, again = printed_accounts(first.output), printed_accounts(second.output)
    emails = {account.email for account in DEMO_ACCOUNTS}
    assert set(made) == set(again) == emails
    assert {state for state, _ in made.values()} == {"created"}
    assert {state for state, _ in again.values()} == {"exists"}
    assert {email: secret for email, (_, secret) in made.items()} == {
        email: secret for email, (_, secret) in again.items()
    }
    assert user_count(app) == len(DEMO_ACCOUNTS)

    for account in DEMO_ACCOUNTS:
        user = stored_user(app, account.email)
        with app.app_context():
            assert totp.decrypt_secret(user.totp_secret_encrypted or "") == made[account.email][1]
        assert set(user.roles) == set(account.roles)
        assert (user.verified_at is not None) == account.verified
        assert user.email_confirmed


def test_a_demo_account_signs_in_with_the_printed_password_and_code(
    app: Flask, client: FormClient
) -> None:
    run(app, "demo", "seed")
    admin = stored_user(app, "admin@curbside.example")

    code = run(app, "demo", "code", "admin@curbside.example")

    assert code.exit_code == 0, code.output
    assert re.fullmatch(r"\d{6}\n", code.output)
    first = sign_in_password(client, Member(admin.id, admin.email, DEMO_PASSWORD, None, ()))
    assert redirect_target(first)[0] == "/two-factor"
    second = client.post("/two-factor", data={"code": code.output.strip()})
    assert redirect_target(second)[0] == "/"
    assert client.get("/admin/").status_code == 200


def test_demo_code_prints_a_code_valid_for_that_account(app: Flask) -> None:
    seeded = printed_accounts(run(app, "demo", "seed").output)
    _, secret = seeded["cardiology@curbside.example"]

    result = run(app, "demo", "code", "cardiology@curbside.example")

    assert re.fullmatch(r"\d{6}", result.output.strip())
    assert pyotp.TOTP(secret).verify(result.output.strip(), valid_window=1)
    _, other_secret = seeded["neurology@curbside.example"]
    assert not pyotp.TOTP(other_secret).verify(result.output.strip(), valid_window=1)


@pytest.mark.parametrize("email", ["member@hospital.example", "nobody@hospital.example"])
def test_demo_code_refuses_accounts_that_are_not_demo_accounts(app: Flask, email: str) -> None:
    with app.app_context():
        make_user(email="member@hospital.example")
    result = run(app, "demo", "code", email)
    assert result.exit_code != 0
    assert not re.search(r"\d{6}", result.output)


@pytest.mark.parametrize("command", [("demo", "seed"), ("demo", "code", "admin@curbside.example")])
def test_demo_commands_refuse_to_run_in_production(
    build_app: Callable[..., Flask], command: tuple[str, ...]
) -> None:
    app = build_app(ENV_NAME="production")

    result = run(app, *command)

    assert result.exit_code != 0
    assert "not production" in result.output
    assert user_count(app) == 0


def test_demo_seed_runs_on_a_development_site(build_app: Callable[..., Flask]) -> None:
    # The production refusal above is about the setting, not about a broken command.
    app = build_app(ENV_NAME="development")
    assert run(app, "demo", "seed").exit_code == 0
    assert user_count(app) == len(DEMO_ACCOUNTS)


def test_the_demo_admin_holds_the_admin_role(app: Flask) -> None:
    run(app, "demo", "seed")
    assert stored_user(app, "admin@curbside.example").has_role(Role.MODERATOR)


def test_demo_seed_posts_its_threads_once_through_the_gate(app: Flask) -> None:
    first = run(app, "demo", "seed")
    second = run(app, "demo", "seed")

    assert "Demo threads created: 2" in first.output
    assert "Demo threads created: 0" in second.output
    with app.app_context():
        threads = db.session.scalars(sa.select(Thread)).all()
        posts = db.session.scalars(sa.select(Post)).all()
        assert len(threads) == 2
        assert {thread.visibility for thread in threads} == {Visibility.PUBLISHED}
        anonymous = [post for post in posts if post.anonymous]
        assert len(anonymous) == 1
        assert anonymous[0].alias_number == 1

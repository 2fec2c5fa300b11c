"""`flask demo ...`: demonstration accounts (and later content) for a development site."""

from __future__ import annotations

from dataclasses import dataclass

import click
import pyotp
from flask import current_app
from flask.cli import AppGroup

from forum.accounts import services, totp
from forum.accounts.models import Role, User
from forum.extensions import utcnow

demo_cli = AppGroup("demo", help="Demonstration data for development sites.")

DEMO_PASSWORD = "curbside-demo-password"  # noqa: S105 - printed on purpose; demo sites only


@dataclass(frozen=True)
class DemoAccount:
    """One demonstration member."""

    email: str
    display_name: str
    first_name: str
    last_name: str
    roles: frozenset[Role] = frozenset()
    verified: bool = True


DEMO_ACCOUNTS = (
    DemoAccount("admin@curbside.example", "Ada Admin", "Ada", "Lovelace", frozenset({Role.ADMIN})),
    DemoAccount(
        "verifier@curbside.example", "Victor Verifier", "Victor", "Hugo", frozenset({Role.VERIFIER})
    ),
    DemoAccount(
        "moderator@curbside.example",
        "Mona Moderator",
        "Mona",
        "Hatoum",
        frozenset({Role.MODERATOR}),
    ),
    DemoAccount("cardiology@curbside.example", "Dr Carla Cardio", "Carla", "Ferreira"),
    DemoAccount("emergency@curbside.example", "Dr Emil Emerg", "Emil", "Okafor"),
    DemoAccount("neurology@curbside.example", "Dr Nora Neuro", "Nora", "Lindqvist"),
    DemoAccount("newcomer@curbside.example", "Dr Nate Newcomer", "Nathan", "Park", verified=False),
)


def _refuse_in_production() -> None:
    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException("Demo data is for development sites, not production.")


def _ensure(account: DemoAccount) -> tuple[User, str, bool]:
    existing = services.find_by_email(account.email)
    if existing is not None and existing.totp_secret_encrypted:
        return existing, totp.decrypt_secret(existing.totp_secret_encrypted), False
    if existing is not None:
        raise click.ClickException(
            f"{account.email} exists without a second factor; "
            "reset it with the admin pages or a fresh database."
        )
    made = services.provision_account(
        services.SignUp(
            account.email,
            DEMO_PASSWORD,
            account.display_name,
            account.first_name,
            account.last_name,
        ),
        set(account.roles),
        verified=account.verified,
    )
    return made.user, made.totp_secret, True


@demo_cli.command("seed")
def seed() -> None:
    """Create the demo accounts (safe to run again) and print how to sign in as each."""
    _refuse_in_production()
    click.echo(f"Every demo account's password: {DEMO_PASSWORD}")
    click.echo(
        "Sign in, then give the code from `flask demo code EMAIL` or an app holding the secret.\n"
    )
    for account in DEMO_ACCOUNTS:
        user, secret, created = _ensure(account)
        roles = ", ".join(role.value for role in user.roles) or "member"
        state = "verified" if user.verified_at else "not verified"
        click.echo(
            f"{'created ' if created else 'exists  '} {user.email:28} {roles:10} {state:13} "
            f"TOTP secret {secret}"
        )


@demo_cli.command("code")
@click.argument("email")
def code(email: str) -> None:
    """Print the current TOTP code of a demo account."""
    _refuse_in_production()
    user = services.find_by_email(email)
    if user is None or not user.totp_secret_encrypted:
        raise click.ClickException("No such account with a second factor.")
    if not any(user.email == account.email for account in DEMO_ACCOUNTS):
        raise click.ClickException("Only demo accounts' codes can be printed.")
    secret = totp.decrypt_secret(user.totp_secret_encrypted)
    click.echo(pyotp.TOTP(secret).at(utcnow()))

"""`flask users ...`: account chores for the person running the site."""

from __future__ import annotations

import re

import click
from flask.cli import AppGroup

from forum.accounts import services, totp
from forum.accounts.models import Role

users_cli = AppGroup("users", help="Manage member accounts.")


@users_cli.command("create-admin")
@click.argument("email")
@click.option("--display-name", default=None, help="Shown on posts; defaults to 'Staff <name>'.")
@click.option("--first-name", default="Site", show_default=True)
@click.option("--last-name", default="Administrator", show_default=True)
def create_admin(email: str, display_name: str | None, first_name: str, last_name: str) -> None:
    """Create an admin (asking for the password) and print the TOTP enrolment secret.

    An existing member with that address is made an admin instead.
    """
    try:
        existing = services.find_by_email(email)
        if existing is not None:
            services.set_roles(None, existing, {*existing.roles, Role.ADMIN})
            click.echo(f"{existing.email} already has an account; it now holds the admin role.")
            return
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        # Not "Admin ...": names starting with a staff title are reserved (see services).
        local = re.sub(r"\W+", " ", email.split("@")[0]).strip()
        name = display_name or f"Staff {local}"[:40].rstrip()
        made = services.provision_account(
            services.SignUp(email, password, name, first_name, last_name), {Role.ADMIN}
        )
    except services.AccountError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Admin {made.user.email} created (id {made.user.id}).")
    click.echo("Add this secret to an authenticator app now; it is not shown again:")
    click.echo(f"  secret:   {totp.group_secret(made.totp_secret)}")
    click.echo(f"  otpauth:  {totp.provisioning_uri(made.totp_secret, made.user.email)}")
    click.echo("Recovery codes (each works once; keep them offline):")
    for code in made.recovery_codes:
        click.echo(f"  {code}")

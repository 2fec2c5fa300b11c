"""`flask demo ...`: demonstration accounts (and later content) for a development site."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
import pyotp
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from forum.accounts import services, totp
from forum.accounts.models import Role, User
from forum.cases.communities import ensure_communities
from forum.demo_content import seed_threads
from forum.extensions import db, utcnow
from forum.search import service as search_service
from forum.verification import registry
from forum.verification.models import HospitalDomain, RegistryProvider
from forum.verification.taxonomy import community_for

demo_cli = AppGroup("demo", help="Demonstration data for development sites.")

DEMO_PASSWORD = "curbside-demo-password"  # noqa: S105 - printed on purpose; demo sites only
# Invented providers named after the demo accounts (scripts/make_demo_registry.py writes it).
DEMO_REGISTRY = Path(__file__).parent / "verification" / "data" / "demo_registry.csv"
DEMO_HOSPITAL_DOMAIN = "curbside-hospital.example"
DEMO_HOSPITAL = "Curbside Demo Hospital"


@dataclass(frozen=True)
class DemoAccount:
    """One demonstration member."""

    email: str
    display_name: str
    first_name: str
    last_name: str
    roles: frozenset[Role] = frozenset()
    verified: bool = True
    npi: str | None = None  # their record in DEMO_REGISTRY
    former_email: str | None = None  # an older seed's address, moved to `email`


DEMO_ACCOUNTS = (
    DemoAccount(
        "admin@curbside.example",
        "Ada Admin",
        "Ada",
        "Lovelace",
        frozenset({Role.ADMIN}),
        npi="1000000111",
    ),
    DemoAccount(
        "verifier@curbside.example",
        "Victor Verifier",
        "Victor",
        "Hugo",
        frozenset({Role.VERIFIER}),
        npi="1000000129",
    ),
    DemoAccount(
        "moderator@curbside.example",
        "Mona Moderator",
        "Mona",
        "Hatoum",
        frozenset({Role.MODERATOR}),
        npi="1000000137",
    ),
    DemoAccount(
        "cardiology@curbside.example", "Dr Carla Cardio", "Carla", "Ferreira", npi="1000000145"
    ),
    DemoAccount("emergency@curbside.example", "Dr Emil Emerg", "Emil", "Okafor", npi="1000000152"),
    DemoAccount(
        "neurology@curbside.example", "Dr Nora Neuro", "Nora", "Lindqvist", npi="1000000160"
    ),
    # At the demo hospital's domain: a matching claim is verified at once.
    DemoAccount(
        f"newcomer@{DEMO_HOSPITAL_DOMAIN}",
        "Dr Nate Newcomer",
        "Nathan",
        "Park",
        verified=False,
        npi="1000000178",
        former_email="newcomer@curbside.example",
    ),
    # In private practice, no hospital address: the claim needs a document and a verifier.
    DemoAccount(
        "practice@curbside.example",
        "Dr Pia Practice",
        "Pia",
        "Rossi",
        verified=False,
        npi="1000000186",
    ),
)


def _refuse_in_production() -> None:
    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException("Demo data is for development sites, not production.")


def _ensure(account: DemoAccount) -> tuple[User, str, bool]:
    existing = services.find_by_email(account.email)
    if existing is None and account.former_email:
        existing = services.find_by_email(account.former_email)
        if existing is not None:
            existing.email = account.email
            db.session.commit()
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
    click.echo(f"Specialty communities created: {ensure_communities()}")
    click.echo(f"Every demo account's password: {DEMO_PASSWORD}")
    click.echo(
        "Sign in, then give the code from `flask demo code EMAIL` or an app holding the secret.\n"
    )
    for account in DEMO_ACCOUNTS:
        user, secret, created = _ensure(account)
        roles = ", ".join(role.value for role in user.roles) or "member"
        state = "verified" if user.verified_at else "not verified"
        click.echo(
            f"{'created ' if created else 'exists  '} {user.email:34} {roles:10} {state:13} "
            f"TOTP secret {secret}"
        )
    _seed_registry()
    threads = seed_threads("cardiology@curbside.example", "emergency@curbside.example")
    click.echo(f"Demo threads created: {threads}")
    click.echo(f"Search index updated: {search_service.drain()} changes")


def _link_npi(account: DemoAccount) -> None:
    """Give an already-verified demo account its registry NPI and specialty, once."""
    user = services.find_by_email(account.email)
    if user is None or user.verified_at is None or user.npi or not account.npi:
        return
    provider = db.session.get(RegistryProvider, account.npi)
    if provider is None or not provider.is_active_physician:
        return
    if db.session.scalar(sa.select(User.id).where(User.npi == account.npi)) is not None:
        return  # someone verified with it on this site already
    user.npi = account.npi
    user.specialty = community_for(provider.primary_taxonomy or "")


def _seed_registry() -> None:
    """Import the demo registry, list the demo hospital's domain, and link the verified accounts."""
    summary = registry.import_file(DEMO_REGISTRY)
    click.echo(
        f"\nDemo NPPES registry: import #{summary.import_id} of {summary.file_name}, "
        f"{summary.rows_read} providers, {summary.rows_written} new or changed."
    )
    domain = db.session.scalar(
        sa.select(HospitalDomain).where(HospitalDomain.domain == DEMO_HOSPITAL_DOMAIN)
    )
    if domain is None:
        db.session.add(HospitalDomain(domain=DEMO_HOSPITAL_DOMAIN, organisation=DEMO_HOSPITAL))
    for account in DEMO_ACCOUNTS:
        _link_npi(account)
    db.session.commit()
    click.echo(
        f"Hospital domain {DEMO_HOSPITAL_DOMAIN} ({DEMO_HOSPITAL}): "
        "a confirmed address there proves a matching claim."
    )
    for account in DEMO_ACCOUNTS:
        if not account.verified:
            click.echo(
                f"To verify {account.email}, claim NPI {account.npi} as "
                f"{account.first_name} {account.last_name}."
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

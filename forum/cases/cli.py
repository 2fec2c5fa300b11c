"""`flask cases ...`: set up the communities, and remind authors to add their cases' outcomes."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from forum.cases import services
from forum.cases.communities import ensure_communities

cases_cli = AppGroup("cases", help="Specialty communities and case upkeep.")


@cases_cli.command("setup")
def setup() -> None:
    """Create the specialty communities that do not exist yet (safe to run again)."""
    created = ensure_communities()
    click.echo(f"{created} communit{'y' if created == 1 else 'ies'} created.")


@cases_cli.command("remind-outcomes")
def remind_outcomes() -> None:
    """Mail authors of cases solved 14+ days ago without an outcome (once each; for cron)."""
    sent = services.remind_outcomes()
    click.echo(f"{sent} outcome reminder{'' if sent == 1 else 's'} sent.")

"""`flask verification ...`: verification chores for the person running the site."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from forum.extensions import utcnow
from forum.verification import services

verification_cli = AppGroup("verification", help="Physician verification chores.")


@verification_cli.command("purge-documents")
def purge_documents() -> None:
    """Delete the files of claims decided more than 30 days ago; checksums stay (run daily)."""
    purged = services.purge_expired_documents(utcnow())
    click.echo(f"Purged {purged} document file{'' if purged == 1 else 's'}.")

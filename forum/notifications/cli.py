"""`flask notifications poll-closings`: announce closed polls (for cron, every few minutes)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from forum.notifications import services

notifications_cli = AppGroup("notifications", help="Notifications that depend on time.")


@notifications_cli.command("poll-closings")
def poll_closings() -> None:
    """Tell voters and authors of polls that have closed since the last run (each poll once)."""
    announced = services.announce_closed_polls()
    click.echo(f"{announced} closed poll{'' if announced == 1 else 's'} announced.")

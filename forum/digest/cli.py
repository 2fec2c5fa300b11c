"""`flask digest send | preview`: the hourly cron job and a look at one member's digest."""

from __future__ import annotations

from datetime import datetime

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from forum.accounts.models import User
from forum.digest import services
from forum.digest.message import Links, render
from forum.digest.schedule import WeekError, check_week
from forum.extensions import db, utcnow

digest_cli = AppGroup("digest", help="The weekly digest e-mail.")


def _week(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_week(value)
    except WeekError as error:
        raise click.BadParameter(str(error)) from None


@digest_cli.command("send")
@click.option("--dry-run", is_flag=True, help="Count what would be sent; send and record nothing.")
@click.option("--user", "email", metavar="EMAIL", help="Only this member.")
@click.option(
    "--week",
    metavar="YYYY-Www",
    callback=_week,
    help="This ISO week (default: each member's current week).",
)
def send_command(dry_run: bool, email: str | None, week: str | None) -> None:
    """Send the digests whose time has come (cron runs this every hour)."""
    now: datetime = utcnow()
    total = services.eligible_count(email)
    with click.progressbar(length=total, label="Digests") as bar:
        report = services.send_digests(
            now, week=week, email=email, dry_run=dry_run, progress=bar.update
        )
    verb = "would be claimed" if dry_run else "claimed"
    click.echo(
        f"{report.examined:,} members examined, {report.due:,} due, {report.claimed:,} {verb}: "
        f"{report.sent:,} sent, {report.empty:,} with nothing to say, {report.failed:,} failed."
    )
    for kind, count in sorted(report.errors.items()):
        click.echo(f"  {kind}: {count:,} (retried later)")


@digest_cli.command("preview")
@click.argument("email")
@click.option("--html", "as_html", is_flag=True, help="Print the HTML part instead of the text.")
def preview_command(email: str, as_html: bool) -> None:
    """Print one member's digest as it would read now."""
    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == email.lower()))
    if user is None:
        raise click.ClickException("No member has that address.")
    digest = services.preview(user, utcnow())
    if digest.is_empty:
        click.echo("Nothing to say this week: no e-mail would be sent.")
        return
    plain, html = render(digest, Links())
    click.echo(html if as_html else plain)

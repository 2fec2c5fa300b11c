"""`flask search sync | reindex | check`: the operator's handles on the index."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from forum.search import service
from forum.search.core import RebuildRunning

search_cli = AppGroup("search", help="Keep the search index in step with the forum.")


@search_cli.command("sync")
def sync_command() -> None:
    """Index what the outbox still holds (after a crash, say)."""
    handled = service.drain()
    click.echo(f"{handled:,} outbox entries indexed; {service.pending():,} left.")


@search_cli.command("reindex")
def reindex_command() -> None:
    """Rebuild the whole index from the database."""
    total = service.searchable_count()
    try:
        with click.progressbar(length=total, label="Indexing posts") as bar:
            indexed = service.reindex(progress=bar.update)
    except RebuildRunning as running:
        raise click.ClickException(f"{running}; try again once it has finished.") from None
    handled = service.drain()
    click.echo(f"{indexed:,} posts indexed ({service.engine_label()}); {handled:,} later changes.")


@search_cli.command("check")
def check_command() -> None:
    """Report posts missing from the index or in it when they should not be."""
    report = service.check()
    click.echo(f"missing from the index: {len(report.missing):,}")
    click.echo(f"in the index but not searchable: {len(report.extra):,}")
    for label, ids in (("missing", report.missing), ("extra", report.extra)):
        if ids:
            shown = ", ".join(map(str, ids[:20])) + (" ..." if len(ids) > 20 else "")
            click.echo(f"  {label} post ids: {shown}")
    if not report.in_step:
        raise SystemExit(1)

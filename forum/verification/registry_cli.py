"""`flask registry ...`: import the NPPES file into the local copy, and look an NPI up in it."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import AppGroup
from tqdm import tqdm

from forum.verification import registry
from forum.verification.npi import NpiError, normalise_npi

registry_cli = AppGroup("registry", help="The local copy of the NPPES physician registry.")


def _progress_bar(bar: tqdm) -> registry.ProgressHook:
    """A hook that moves the bar, estimating the total rows from the bytes read so far."""

    def advance(progress: registry.Progress) -> None:
        if progress.bytes_read and progress.bytes_total:
            estimate = progress.rows_read * progress.bytes_total // progress.bytes_read
            bar.total = max(estimate, progress.rows_read)
        bar.update(progress.rows_read - bar.n)

    return advance


def _print_summary(summary: registry.ImportSummary) -> None:
    if summary.resumed_after:
        click.echo(
            f"Resumed import #{summary.import_id} after the {summary.resumed_after:,} rows "
            "an interrupted run had committed."
        )
    done = summary.rows_read - summary.resumed_after  # by this run
    rate = done / summary.seconds if summary.seconds else 0
    click.echo(
        f"Import #{summary.import_id} of {summary.file_name}: {summary.status} "
        f"in {summary.seconds:.1f} s ({rate:,.0f} rows/s)."
    )
    click.echo(f"  sha256          {summary.sha256}")
    click.echo(f"  rows read       {summary.rows_read:>12,}")
    click.echo(f"  rows written    {summary.rows_written:>12,}  (new or changed)")
    click.echo(f"  rows malformed  {summary.rows_malformed:>12,}")
    if summary.revoked or summary.reactivation_notices:
        click.echo(
            f"  {summary.revoked} verified members lost access (NPI deactivated); "
            f"{summary.reactivation_notices} told their NPI is active again."
        )
    if summary.malformed_examples:
        click.echo("First malformed rows (skipped):")
        for example in summary.malformed_examples:
            click.echo(f"  line {example['line']}: {example['problem']}")


@registry_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--batch-size",
    default=registry.DEFAULT_BATCH_SIZE,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Rows written and committed together.",
)
@click.option("--quiet", is_flag=True, help="No progress bar (for cron).")
def import_command(file: Path, batch_size: int, quiet: bool) -> None:
    """Import an NPPES data file (the CSV or CMS's zip); run it again to resume."""
    with tqdm(unit=" rows", unit_scale=True, disable=quiet, smoothing=0.1) as bar:
        try:
            summary = registry.import_file(file, batch_size=batch_size, on_batch=_progress_bar(bar))
        except registry.RegistryError as error:
            raise click.ClickException(error.message) from None
        bar.total = bar.n
    _print_summary(summary)


@registry_cli.command("lookup")
@click.argument("npi")
def lookup_command(npi: str) -> None:
    """Print what the copy holds for an NPI, as JSON."""
    try:
        digits = normalise_npi(npi)
    except NpiError as error:
        raise click.ClickException(str(error)) from None
    provider = registry.find_provider(digits)
    if provider is None:
        latest = registry.latest_import()
        since = (
            f"the latest import is #{latest.id} of {latest.file_name} ({latest.status})"
            if latest
            else "no registry file has been imported yet (flask registry import FILE)"
        )
        raise click.ClickException(f"NPI {digits} is not in the registry copy; {since}.")
    click.echo(json.dumps(registry.describe(provider), indent=2))

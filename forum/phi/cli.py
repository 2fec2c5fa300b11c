"""`flask phi scan FILE` and `flask phi eval FILE.jsonl`: the detector from the shell."""

from __future__ import annotations

import json
import sys
from typing import TextIO

import click
from flask.cli import AppGroup

from forum.phi.evaluate import evaluate, format_report, load
from forum.phi.knowledge import lexicon
from forum.phi.scanner import scan

phi_cli = AppGroup("phi", help="Check text for patient identifiers (HIPAA Safe Harbor).")


@phi_cli.command("scan")
@click.argument("source", type=click.File("r", encoding="utf-8"))
@click.option("--no-text", is_flag=True, help="Leave the matched text out of the output.")
def scan_command(source: TextIO, no_text: bool) -> None:
    """Print one JSON line per finding in SOURCE (a file, or - for standard input)."""
    text = source.read()
    for found in scan(text):
        row = found.as_dict()
        if not no_text:
            row["text"] = text[found.start : found.end]
        click.echo(json.dumps(row, ensure_ascii=False))


@phi_cli.command("eval")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--show-misses", is_flag=True, help="Also list missed spans and false alarms.")
def eval_command(path: str, show_misses: bool) -> None:
    """Per-kind span recall, post recall, clean pass rate and speed on a labelled set."""
    lexicon()  # loading the word lists is not part of the speed figure
    report = evaluate(load(path))
    click.echo(format_report(report))
    if show_misses:
        for post_id, kind, text in report.missed:
            click.echo(f"missed {post_id} {kind}: {text!r}")
        for post_id, kind, text in report.false_alarms:
            click.echo(f"false alarm {post_id} {kind}: {text!r}")
    sys.stdout.flush()

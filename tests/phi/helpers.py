"""Small helpers for the PHI detector tests."""

from __future__ import annotations

import re
from pathlib import Path

from forum.phi import Action, Finding, Kind, scan

HERE = Path(__file__).resolve().parent
MARK = re.compile(r"\[\[([A-Z_0-9]+):(.+?)\]\]")


def found(text: str) -> list[tuple[str, Kind, Action]]:
    """What the scanner flags, as (text, kind, action)."""
    return [(text[f.start : f.end], f.kind, f.action) for f in scan(text)]


def finding_over(text: str, fragment: str) -> Finding | None:
    """The finding that overlaps the first occurrence of fragment, if any."""
    start = text.index(fragment)
    end = start + len(fragment)
    for item in scan(text):
        if item.start < end and start < item.end:
            return item
    return None


def parse_marked(line: str) -> tuple[str, list[tuple[int, int, str]]]:
    """'Saw [[NAME:Tom]] today' -> ('Saw Tom today', [(4, 7, 'NAME')])."""
    spans = []
    out = ""
    position = 0
    for match in MARK.finditer(line):
        out += line[position : match.start()]
        start = len(out)
        out += match.group(2)
        spans.append((start, len(out), match.group(1)))
        position = match.end()
    return out + line[position:], spans


def marked_lines(name: str) -> list[str]:
    """The non-comment lines of a file beside the tests."""
    lines = (HERE / name).read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]

"""scan(text): the Safe Harbor identifier detector (issue 5 fills in the detection)."""

from __future__ import annotations

from forum.phi.findings import Finding


def scan(text: str) -> list[Finding]:
    """Every suspected identifier in text, in order of position."""
    return []

"""The PHI gate every write path calls before anything is stored."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from forum.phi.findings import Action, Finding
from forum.phi.scanner import scan


class Verdict(StrEnum):
    """Clean: publish. Review: hold for a moderator. Block: send back to the member."""

    CLEAN = "clean"
    REVIEW = "review"
    BLOCK = "block"


@dataclass(frozen=True)
class GateResult:
    """Findings per form field, and the verdict they add up to."""

    findings: dict[str, list[Finding]] = field(default_factory=dict)

    @property
    def verdict(self) -> Verdict:
        """Any block blocks; otherwise any review holds; otherwise clean."""
        actions = {finding.action for found in self.findings.values() for finding in found}
        if Action.BLOCK in actions:
            return Verdict.BLOCK
        if Action.REVIEW in actions:
            return Verdict.REVIEW
        return Verdict.CLEAN

    @property
    def blocked(self) -> bool:
        """The submission must not be stored."""
        return self.verdict is Verdict.BLOCK

    @property
    def held(self) -> bool:
        """The submission is stored as pending for a moderator."""
        return self.verdict is Verdict.REVIEW


def gate(fields: Mapping[str, str], allowed_terms: Collection[str] = ()) -> GateResult:
    """Scan every field; findings whose text is on the site allow-list are dropped."""
    allowed = {term.casefold() for term in allowed_terms}
    findings: dict[str, list[Finding]] = {}
    for name, text in fields.items():
        found = [f for f in scan(text) if text[f.start : f.end].casefold() not in allowed]
        if found:
            findings[name] = found
    return GateResult(findings)

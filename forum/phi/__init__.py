"""Protected health information: scan(text) finds Safe Harbor identifiers; gate() decides.

Depends on nothing else in the forum, so it can run anywhere (CLI, workers, tests).
"""

from forum.phi.findings import Action, Finding, Kind
from forum.phi.gate import GateResult, Verdict, gate
from forum.phi.scanner import scan

__all__ = ["Action", "Finding", "GateResult", "Kind", "Verdict", "gate", "scan"]

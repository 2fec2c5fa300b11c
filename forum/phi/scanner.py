"""scan(text): the Safe Harbor identifier detector."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable

from forum.phi.findings import Action, Finding, Kind
from forum.phi.knowledge import lexicon
from forum.phi.rules import contact, dates, names, numbers, places
from forum.phi.rules.base import Scan

# When two findings overlap, the more specific kind wins (an address beats the name inside it).
_PRIORITY = {
    kind: rank
    for rank, kind in enumerate(
        [
            Kind.EMAIL,
            Kind.URL,
            Kind.IP,
            Kind.SSN,
            Kind.HEALTH_PLAN,
            Kind.VEHICLE,
            Kind.PHONE,
            Kind.FAX,
            Kind.ADDRESS,
            Kind.DATE,
            Kind.AGE_OVER_89,
            Kind.MRN,
            Kind.ACCOUNT,
            Kind.LICENSE,
            Kind.DEVICE,
            Kind.ZIP,
            Kind.CITY,
            Kind.NAME,
            Kind.OTHER_ID,
        ]
    )
}


_RULES: tuple[Callable[[Scan], list[Finding]], ...] = (
    contact.emails,
    contact.urls,
    contact.ips,
    contact.phones,
    numbers.identifiers,
    numbers.zips,
    dates.dates,
    dates.ages,
    places.addresses,
    places.cities,
    places.facilities,
    names.names,
)


def scan(text: str) -> list[Finding]:
    """Every suspected identifier in text, in order of position."""
    if not text:
        return []
    scan = Scan(text, lexicon())
    shields = sorted(contact.references(scan))
    found: list[Finding] = []
    for rule in _RULES:
        found += rule(scan)
    if not found:
        return found
    if shields:
        found = [f for f in found if not _shielded(f, shields)]
    return _resolve(found)


def _shielded(item: Finding, shields: list[tuple[int, int]]) -> bool:
    """Whether a finding overlaps a citation or code that must pass (shields sorted by start)."""
    index = bisect_right(shields, (item.end, -1))
    return any(start < item.end and item.start < end for start, end in shields[:index][-8:])


def _resolve(found: list[Finding]) -> list[Finding]:
    """Keep one finding per stretch of text: block over review, then the more specific kind,
    then the longer span."""
    if len(found) == 1:  # the usual case: nothing to weigh
        return found if found[0].end > found[0].start else []
    ranked = sorted(
        found,
        key=lambda f: (f.action is not Action.BLOCK, _PRIORITY[f.kind], f.start - f.end, f.start),
    )
    kept: list[Finding] = []
    for candidate in ranked:
        if candidate.end <= candidate.start:
            continue
        if any(candidate.start < k.end and k.start < candidate.end for k in kept):
            continue
        kept.append(candidate)
    return sorted(kept, key=lambda f: (f.start, f.end))

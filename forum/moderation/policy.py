"""What the write path asks moderation: the allow-list, watched words, locks and suspensions.

The cases services call these inside their own transaction; nothing here commits.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from forum import phi
from forum.accounts.models import User
from forum.cases import mentions
from forum.cases.models import Post, Thread
from forum.extensions import db, utcnow
from forum.moderation.models import (
    AllowedTerm,
    PostingSuspension,
    ReviewItem,
    ReviewReason,
    ReviewStatus,
    ThreadLock,
    WatchAction,
    WatchedWord,
)

PATTERN_MAX = 100
# At most this many unbounded repeats (*, +, {n,}) in a moderator's expression, and bounded
# repeats up to this count: with no nesting, matching stays polynomial and small.
UNBOUNDED_MAX = 1
REPEAT_MAX = 50
_parser: Any = importlib.import_module("re._parser")
_FORBIDDEN_OPS = {"GROUPREF", "GROUPREF_EXISTS", "ASSERT", "ASSERT_NOT", "ATOMIC_GROUP"}
_REPEATS = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}
WATCHED_REASON = {
    WatchAction.BLOCK: "The moderators do not allow this word or phrase here.",
    WatchAction.HOLD: "A moderator looks at posts with this word or phrase before others see them.",
}


class PatternError(ValueError):
    """A watched pattern that is not allowed; the message says why."""


# --- Watched words ------------------------------------------------------------------------------


def _check_tree(tree: Iterable[Any], inside_repeat: bool, counts: dict[str, int]) -> None:
    for op, value in tree:
        name = str(op)
        if name in _FORBIDDEN_OPS:
            raise PatternError("Back-references and look-arounds are not allowed.")
        if name in _REPEATS:
            _low, high, sub = value
            if inside_repeat:
                raise PatternError("A repeat inside a repeat can take forever; simplify it.")
            if high == _parser.MAXREPEAT:
                counts["unbounded"] += 1
            elif high > REPEAT_MAX:
                raise PatternError(f"Repeat counts go up to {REPEAT_MAX}.")
            _check_tree(sub, True, counts)
        elif name == "BRANCH":
            if inside_repeat:
                raise PatternError("Alternatives inside a repeat can take forever; simplify it.")
            for branch in value[1]:
                _check_tree(branch, inside_repeat, counts)
        elif name == "SUBPATTERN":
            _check_tree(value[-1], inside_repeat, counts)
    if counts["unbounded"] > UNBOUNDED_MAX:
        raise PatternError("Use at most one open-ended repeat (*, + or {n,}).")


def compile_pattern(pattern: str, is_regex: bool) -> re.Pattern[str]:
    """The compiled, case-insensitive matcher, or PatternError saying what to change.

    Plain words match whole words, with * standing for any letters ("tox*" finds "toxic").
    Regular expressions are restricted so that no text can make them run away: no nested
    repeats, no alternatives inside repeats, no back-references or look-arounds, one
    open-ended repeat at most, and a length limit.
    """
    pattern = pattern.strip()
    if not pattern:
        raise PatternError("Type a word, phrase or pattern.")
    if len(pattern) > PATTERN_MAX:
        raise PatternError(f"Keep patterns to {PATTERN_MAX} characters.")
    if not is_regex:
        words = [re.escape(piece) for piece in pattern.split("*")]
        return re.compile(r"\b" + r"\w*".join(words) + r"\b", re.IGNORECASE)
    try:
        tree = _parser.parse(pattern, re.IGNORECASE)
        _check_tree(tree, False, {"unbounded": 0})
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as error:
        raise PatternError(f"This is not a valid regular expression ({error.msg}).") from None
    if compiled.search("") is not None:
        raise PatternError("This pattern matches empty text, so it would match every post.")
    return compiled


@dataclass(frozen=True)
class WatchedHit:
    """A watched word found in a field."""

    field: str
    start: int
    end: int
    word_id: int
    action: str


def watched_hits(
    fields: Mapping[str, str], words: Iterable[WatchedWord] | None = None
) -> list[WatchedHit]:
    """Every match of every watched word in the fields (bad stored patterns are skipped)."""
    chosen = list(words) if words is not None else list(db.session.scalars(sa.select(WatchedWord)))
    hits: list[WatchedHit] = []
    for word in chosen:
        try:
            matcher = compile_pattern(word.pattern, word.is_regex)
        except PatternError:
            continue
        for name, source in fields.items():
            for match in matcher.finditer(source):
                if match.end() > match.start():
                    hits.append(WatchedHit(name, match.start(), match.end(), word.id, word.action))
    return hits


@dataclass(frozen=True)
class Screened(phi.GateResult):
    """The PHI gate's result with the watched words' findings merged in."""

    watched_hold: bool = False
    flagged_by: tuple[int, ...] = ()  # ids of watched words whose action is flag

    @property
    def phi_held(self) -> bool:
        """Some review finding came from the detector rather than a watched word."""
        return any(
            f.reason not in _OURS
            for found in self.findings.values()
            for f in found
            if f.action == phi.Action.REVIEW
        )

    def review_reasons(self) -> list[ReviewReason]:
        """Why this should sit in the queue, if it should."""
        reasons: list[ReviewReason] = []
        if self.held and self.phi_held:
            reasons.append(ReviewReason.PHI)
        if (self.held and self.watched_hold) or self.flagged_by:
            reasons.append(ReviewReason.WATCHED)
        return reasons


_OURS = frozenset(WATCHED_REASON.values())


def allowed_terms() -> list[str]:
    """The site allow-list, case-folded."""
    return list(db.session.scalars(sa.select(AllowedTerm.term)))


def screen(fields: Mapping[str, str]) -> Screened:
    """PHI gate (respecting the allow-list) plus watched words: block, hold or flag."""
    result = phi.gate(fields, allowed_terms=allowed_terms())
    findings = {
        name: kept
        for name, found in result.findings.items()
        if (kept := _beside_mentions(fields[name], found))
    }
    hold = False
    flagged: list[int] = []
    for hit in watched_hits(fields):
        if hit.action == WatchAction.FLAG:
            if hit.word_id not in flagged:
                flagged.append(hit.word_id)
            continue
        action = phi.Action.BLOCK if hit.action == WatchAction.BLOCK else phi.Action.REVIEW
        hold = hold or hit.action == WatchAction.HOLD
        reason = WATCHED_REASON[WatchAction(hit.action)]
        findings.setdefault(hit.field, []).append(
            phi.Finding(hit.start, hit.end, phi.Kind.OTHER_ID, action, reason, "Rephrase it.")
        )
    return Screened(findings=findings, watched_hold=hold, flagged_by=tuple(flagged))


def _beside_mentions(text: str, found: Sequence[phi.Finding]) -> list[phi.Finding]:
    """The findings, less names inside an @mention of a verified member: members post under
    their own names, and naming a colleague is how a post asks them in."""
    names = [finding for finding in found if finding.kind == phi.Kind.NAME]
    spans = mentions.colleague_spans(text) if names else []
    return [
        finding
        for finding in found
        if finding.kind != phi.Kind.NAME
        or not any(start <= finding.start and finding.end <= end for start, end in spans)
    ]


# --- Locks and suspensions ----------------------------------------------------------------------


def is_locked(thread: Thread) -> bool:
    """The thread takes no new replies or edits."""
    return db.session.get(ThreadLock, thread.id) is not None


def posting_suspension(member: User, now: datetime | None = None) -> PostingSuspension | None:
    """The member's current posting suspension, if one is running."""
    found = db.session.get(PostingSuspension, member.id)
    if found is None or found.until <= (now or utcnow()):
        return None
    return found


# --- The queue ----------------------------------------------------------------------------------


def _finding_rows(result: phi.GateResult | None) -> list[dict[str, Any]]:
    if result is None:
        return []
    return [
        {
            "field": name,
            "start": f.start,
            "end": f.end,
            "kind": str(f.kind),
            "action": str(f.action),
            "reason": f.reason,
        }
        for name, found in result.findings.items()
        for f in found
    ]


def open_item(thread: Thread, post: Post | None) -> ReviewItem | None:
    """The open review item for a post (or, with post None, the thread's outcome)."""
    query = sa.select(ReviewItem).where(
        ReviewItem.thread_id == thread.id, ReviewItem.status == ReviewStatus.OPEN
    )
    if post is None:
        query = query.where(ReviewItem.post_id.is_(None))
    else:
        query = query.where(ReviewItem.post_id == post.id)
    return db.session.scalars(query.limit(1)).first()


def enqueue(
    thread: Thread,
    post: Post | None,
    reasons: Iterable[ReviewReason],
    result: phi.GateResult | None = None,
) -> ReviewItem | None:
    """Add (or update) the open review item; its findings are replaced by the latest text's."""
    wanted = [str(reason) for reason in reasons]
    if not wanted:
        return None
    item = open_item(thread, post)
    if item is None:
        item = ReviewItem(
            thread_id=thread.id,
            post_id=post.id if post is not None else None,
            reasons="",
            status=ReviewStatus.OPEN,
            findings=[],
            created_at=utcnow(),
        )
        db.session.add(item)
    merged = item.reason_list + [reason for reason in wanted if reason not in item.reason_list]
    item.reasons = ",".join(merged)
    if result is not None:
        item.findings = _finding_rows(result)
    db.session.flush()
    return item


def queue_after_write(
    thread: Thread,
    post: Post | None,
    result: phi.GateResult,
    *,
    held: bool,
    image: bool = False,
    resubmitted: bool = False,
) -> None:
    """After the write path stored something: queue it if held, flagged or resubmitted.

    An edit of something already waiting refreshes its findings.
    """
    reasons: list[ReviewReason] = []
    if isinstance(result, Screened):
        reasons.extend(result.review_reasons())
    elif result.held:
        reasons.append(ReviewReason.PHI)
    if image:
        reasons.append(ReviewReason.IMAGE)
    if resubmitted:
        reasons.append(ReviewReason.RESUBMITTED)
    if not reasons and held:
        existing = open_item(thread, post)
        if existing is not None:
            existing.findings = _finding_rows(result)
        return
    enqueue(thread, post, reasons, result)

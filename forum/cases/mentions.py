"""@mentions: members named by display name in a post written under the author's own name."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa

from forum.accounts.models import User
from forum.accounts.services import display_name_key
from forum.cases.models import Mention, Post
from forum.extensions import db

MAX_MENTIONS = 20
_MAX_WORDS = 6  # display names are at most 40 characters: a handful of words
_AT = re.compile(r"(?<![\w@])@(?=\w)")
_TRAILING = ".,;:!?)]}'\""


_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class _Candidate:
    """One @ in a text: where it starts, and the names it might stand for, longest first, each
    as (name key, where that name ends in the text)."""

    start: int
    names: tuple[tuple[str, int], ...]


def _candidates(source: str) -> list[_Candidate]:
    """For each @ in the text, the names it might stand for."""
    found: list[_Candidate] = []
    for match in _AT.finditer(source):
        if len(found) >= MAX_MENTIONS:
            break
        line = source[match.end() : match.end() + 60].split("\n", 1)[0]
        words = list(_WORD.finditer(line))[:_MAX_WORDS]
        names: list[tuple[str, int]] = []
        for count in range(len(words), 0, -1):
            name = " ".join(word[0] for word in words[:count])
            end = match.end() + words[count - 1].end()
            for variant in (name, name.rstrip(_TRAILING)):
                key = display_name_key(variant)
                if 3 <= len(key) <= 40 and key not in (known for known, _ in names):
                    names.append((key, end - (len(name) - len(variant))))
        if names:
            found.append(_Candidate(match.start(), tuple(names)))
    return found


def candidate_keys(source: str) -> list[list[str]]:
    """For each @ in the text, the name keys it might stand for, longest first."""
    return [[key for key, _ in candidate.names] for candidate in _candidates(source)]


def _named(candidates: list[_Candidate]) -> list[tuple[_Candidate, int, int]]:
    """(candidate, member id, end of the name) for each @ that names a verified member."""
    every_key = {key for candidate in candidates for key, _ in candidate.names}
    if not every_key:
        return []
    rows = db.session.execute(
        sa.select(User.display_name_key, User.id).where(
            User.display_name_key.in_(every_key),
            User.verified_at.is_not(None),
            User.suspended_at.is_(None),
        )
    )
    by_key: dict[str, int] = dict(rows.all())
    named = []
    for candidate in candidates:
        match = next(((by_key[key], end) for key, end in candidate.names if key in by_key), None)
        if match is not None:
            named.append((candidate, *match))
    return named


def mentioned_members(source: str, author_id: int) -> list[int]:
    """The verified members the text names with @display name (not the author), in order."""
    chosen: list[int] = []
    for _, member, _ in _named(_candidates(source)):
        if member != author_id and member not in chosen:
            chosen.append(member)
    return chosen


def colleague_spans(source: str) -> list[tuple[int, int]]:
    """Where the text names verified members with @display name ("@" to the name's end): a
    colleague's name there is not a patient's, so the PHI gate lets it through."""
    return [(candidate.start, end) for candidate, _, end in _named(_candidates(source))]


def record_mentions(post: Post) -> list[int]:
    """Store the post's mentions (replacing earlier ones); none when it is anonymous.

    An anonymous post names nobody: a mention would tell the member named who wrote it.
    """
    db.session.execute(sa.delete(Mention).where(Mention.post_id == post.id))
    if post.anonymous:
        return []
    members = mentioned_members(post.source, post.author_id)
    db.session.add_all(Mention(post_id=post.id, user_id=member) for member in members)
    return members

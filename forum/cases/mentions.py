"""@mentions: members named by display name in a post written under the author's own name."""

from __future__ import annotations

import re

import sqlalchemy as sa

from forum.accounts.models import User
from forum.accounts.services import display_name_key
from forum.cases.models import Mention, Post
from forum.extensions import db

MAX_MENTIONS = 20
_MAX_WORDS = 6  # display names are at most 40 characters: a handful of words
_AT = re.compile(r"(?<![\w@])@(?=\w)")
_TRAILING = ".,;:!?)]}'\""


def candidate_keys(source: str) -> list[list[str]]:
    """For each @ in the text, the name keys it might stand for, longest first."""
    found: list[list[str]] = []
    for match in _AT.finditer(source):
        if len(found) >= MAX_MENTIONS:
            break
        line = source[match.end() : match.end() + 60].split("\n", 1)[0]
        words = line.split()[:_MAX_WORDS]
        keys: list[str] = []
        for count in range(len(words), 0, -1):
            name = " ".join(words[:count])
            for variant in (name, name.rstrip(_TRAILING)):
                key = display_name_key(variant)
                if 3 <= len(key) <= 40 and key not in keys:
                    keys.append(key)
        if keys:
            found.append(keys)
    return found


def mentioned_members(source: str, author_id: int) -> list[int]:
    """The verified members the text names with @display name (not the author), in order."""
    candidates = candidate_keys(source)
    every_key = {key for keys in candidates for key in keys}
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
    chosen: list[int] = []
    for keys in candidates:
        member = next((by_key[key] for key in keys if key in by_key), None)
        if member is not None and member != author_id and member not in chosen:
            chosen.append(member)
    return chosen


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

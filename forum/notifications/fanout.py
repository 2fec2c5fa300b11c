"""Who hears of what: notification rows (and queued e-mail) written in the event's transaction.

The services that own each event call these after their changes and before their one commit;
nothing here commits. Only published content notifies: a held post is announced when a
moderator approves it, and rejected or hidden content never is. Each event notifies a member at
most once (a post approved after being hidden by flags does not announce itself twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from forum import mail, text
from forum.accounts.models import User
from forum.cases.models import Ballot, Follow, Mention, Post, Thread, ThreadKind
from forum.extensions import db, utcnow
from forum.notifications import mailing
from forum.notifications.models import (
    KIND_RULES,
    Channel,
    Decision,
    Kind,
    Notification,
    NotificationPreference,
)
from forum.notifications.texts import SUBJECTS, describe

# New-case alerts a member receives in any 24 hours; later cases that day are not announced.
SPECIALTY_ALERTS_PER_DAY = 10
SNIPPET_CHARS = 140
# Kinds whose e-mail is sent by their own service (before notifications existed), not here.
_MAILED_ELSEWHERE = frozenset({Kind.OUTCOME_REMINDER, Kind.VERIFICATION, Kind.MODERATION})

UserIds = Sequence[int] | sa.Select[Any] | sa.CompoundSelect


@dataclass(frozen=True)
class Recipient:
    """A member to notify, with the address and channel the fan-out needs."""

    id: int
    email: str
    name: str
    channel: Channel


@dataclass(frozen=True)
class Event:
    """What happened, as stored on each notification row."""

    kind: Kind
    thread_id: int | None = None
    post_id: int | None = None
    actor_label: str | None = None
    decision: Decision | None = None
    reason: str | None = None


def channel_for(stored: str | None, kind: Kind) -> Channel:
    """The channel a stored choice means for a kind (its default when none, or not offered)."""
    rule = KIND_RULES[kind]
    chosen = Channel(stored) if stored in {str(c) for c in Channel} else rule.default
    return chosen if chosen in rule.channels else rule.default


def _not_told_yet(event: Event) -> sa.ColumnElement[bool]:
    """No notification of this kind about this post (or thread) reached the member yet."""
    same = [Notification.user_id == User.id, Notification.kind == event.kind]
    if event.post_id is not None:
        same.append(Notification.post_id == event.post_id)
    else:
        same.append(Notification.thread_id == event.thread_id)
    return ~sa.exists().where(*same)


def recipients(user_ids: UserIds, event: Event, *, exclude: int | None = None) -> list[Recipient]:
    """The members among user_ids who want this kind, may receive it and were not told yet."""
    if isinstance(user_ids, Sequence) and not user_ids:
        return []
    preference = sa.and_(
        NotificationPreference.user_id == User.id, NotificationPreference.kind == event.kind
    )
    query = (
        sa.select(User.id, User.email, User.display_name, NotificationPreference.channel)
        .outerjoin(NotificationPreference, preference)
        .where(User.id.in_(user_ids), User.suspended_at.is_(None))
        .order_by(User.id)
    )
    if KIND_RULES[event.kind].clinical:
        query = query.where(User.verified_at.is_not(None))
    if exclude is not None:
        query = query.where(User.id != exclude)
    query = query.where(_not_told_yet(event))
    found = [
        Recipient(row.id, row.email, row.display_name, channel_for(row.channel, event.kind))
        for row in db.session.execute(query)
    ]
    return [member for member in found if member.channel is not Channel.OFF]


def deliver(people: Sequence[Recipient], event: Event, mail_about: Thread | None = None) -> None:
    """Write one row per member; queue e-mail for those who chose it (sent after the commit)."""
    if not people:
        return
    now = utcnow()
    db.session.execute(
        sa.insert(Notification),
        [
            {
                "user_id": member.id,
                "kind": str(event.kind),
                "thread_id": event.thread_id,
                "post_id": event.post_id,
                "actor_label": event.actor_label,
                "decision": str(event.decision) if event.decision else None,
                "reason": event.reason,
                "created_at": now,
            }
            for member in people
        ],
    )
    if mail_about is None or event.kind in _MAILED_ELSEWHERE:
        return
    snippet = _snippet(event) if event.kind in (Kind.REPLY, Kind.MENTION) else ""
    link = _link(event)
    for member in people:
        if member.channel is Channel.EMAIL:
            mailing.queue(db.session(), _mail(member, event, mail_about, snippet, link))


def _mail(
    member: Recipient, event: Event, thread: Thread, snippet: str, link: str
) -> mailing.QueuedMail:
    title = thread.title if thread.is_published else "a thread"
    return mailing.QueuedMail(
        to=member.email,
        name=member.name,
        kind=str(event.kind),
        subject=SUBJECTS.get(event.kind, "News on Curbside"),
        title=describe(event.kind, title, event.actor_label, event.decision),
        actor_label=event.actor_label or "",
        snippet=snippet,
        link=link,
    )


def _snippet(event: Event) -> str:
    """A short plain-text opening of the post, which is published (the fan-out checked)."""
    post = db.session.get(Post, event.post_id) if event.post_id else None
    if post is None or not post.is_live:
        return ""
    return text.plain_text(post.html, SNIPPET_CHARS)


def _link(event: Event) -> str:
    if event.post_id is not None and event.kind != Kind.SPECIALTY_ALERT:
        return mail.absolute_url("cases.jump", post_id=event.post_id)
    return mail.absolute_url("cases.thread", thread_id=event.thread_id)


# --- Publishing ----------------------------------------------------------------------------------


def published(post: Post) -> None:
    """A post is now published: tell those it mentions, and followers or the specialty.

    Called when a post is written published, and when a moderator approves a held one.
    """
    thread = post.thread
    if not (post.is_live and thread.is_published):
        return
    mentioned(post)
    if post.is_opening:
        if thread.kind == ThreadKind.CASE:
            _specialty_alert(thread, post)
        return
    event = Event(Kind.REPLY, thread.id, post.id, post.author_label)
    followers = sa.select(Follow.user_id).where(Follow.thread_id == thread.id)
    told_of_mention = sa.select(Mention.user_id).where(Mention.post_id == post.id)
    followers = followers.where(Follow.user_id.not_in(told_of_mention))
    deliver(recipients(followers, event, exclude=post.author_id), event, thread)


def mentioned(post: Post) -> None:
    """Tell the members a published post mentions (an edit may add some)."""
    thread = post.thread
    if not (post.is_live and thread.is_published) or post.anonymous:
        return
    event = Event(Kind.MENTION, thread.id, post.id, post.author_label)
    named = sa.select(Mention.user_id).where(Mention.post_id == post.id)
    deliver(recipients(named, event, exclude=post.author_id), event, thread)


def _specialty_alert(thread: Thread, opening: Post) -> None:
    """Members of the case's specialty who opted in, under their daily cap; not the author."""
    event = Event(Kind.SPECIALTY_ALERT, thread.id, opening.id, thread.author_label)
    since = utcnow() - timedelta(days=1)
    alerts_today = (
        sa.select(sa.func.count(Notification.id))
        .where(
            Notification.user_id == User.id,
            Notification.kind == Kind.SPECIALTY_ALERT,
            Notification.created_at > since,
        )
        .scalar_subquery()
    )
    opted_in = sa.select(NotificationPreference.user_id).where(
        NotificationPreference.kind == Kind.SPECIALTY_ALERT,
        NotificationPreference.channel.in_([Channel.APP, Channel.EMAIL]),
    )
    members = sa.select(User.id).where(
        User.specialty == thread.community.slug,
        User.id.in_(opted_in),
        alerts_today < SPECIALTY_ALERTS_PER_DAY,
    )
    deliver(recipients(members, event, exclude=thread.author_id), event, thread)


# --- Case life -----------------------------------------------------------------------------------


def answer_accepted(thread: Thread, post: Post) -> None:
    """The case's author accepted a reply: its author hears (once per post)."""
    event = Event(Kind.ACCEPTED, thread.id, post.id, thread.author_label)
    deliver(recipients([post.author_id], event, exclude=thread.author_id), event, thread)


def poll_closed(thread: Thread) -> None:
    """A thread's poll closed: its voters and the thread's author hear."""
    if not thread.is_published or thread.poll is None:
        return
    event = Event(Kind.POLL_CLOSED, thread.id)
    voters = sa.select(Ballot.user_id).where(Ballot.poll_id == thread.poll.id)
    people = sa.union(voters, sa.select(sa.literal(thread.author_id)))
    deliver(recipients(people, event), event, thread)


def outcome_reminder(thread: Thread) -> Channel:
    """Remind the case's author in the list; returns their channel (EMAIL: send the mail too)."""
    event = Event(Kind.OUTCOME_REMINDER, thread.id)
    preference = db.session.get(NotificationPreference, (thread.author_id, str(event.kind)))
    channel = channel_for(preference.channel if preference else None, event.kind)
    deliver(recipients([thread.author_id], event), event)
    return channel


# --- Decisions -----------------------------------------------------------------------------------


def moderation_decided(
    thread: Thread, post: Post | None, decision: Decision, reason: str = ""
) -> None:
    """Tell the author what a moderator decided about their post (or case outcome)."""
    author_id = post.author_id if post is not None else thread.author_id
    event = Event(
        Kind.MODERATION,
        thread.id,
        post.id if post is not None else None,
        decision=decision,
        reason=reason or None,
    )
    # Decisions may repeat (approved, hidden, approved again): each is news, so no dedupe.
    deliver(_decision_recipient(author_id, event), event)


def verification_decided(user_id: int, approved: bool, reason: str) -> None:
    """Tell the applicant what the verifier decided (the reason is written for them)."""
    decision = Decision.APPROVED if approved else Decision.REJECTED
    event = Event(Kind.VERIFICATION, decision=decision, reason=reason or None)
    # The grant's unique NPI may clash at the flush: leave that to the caller's commit, which
    # knows what the clash means, rather than raising it from here.
    with db.session.no_autoflush:
        deliver(_decision_recipient(user_id, event), event)


def _decision_recipient(user_id: int, event: Event) -> list[Recipient]:
    row = db.session.execute(
        sa.select(User.id, User.email, User.display_name, NotificationPreference.channel)
        .outerjoin(
            NotificationPreference,
            sa.and_(
                NotificationPreference.user_id == User.id,
                NotificationPreference.kind == event.kind,
            ),
        )
        .where(User.id == user_id)
    ).first()
    if row is None:
        return []
    channel = channel_for(row.channel, event.kind)
    if channel is Channel.OFF:
        return []
    return [Recipient(row.id, row.email, row.display_name, channel)]

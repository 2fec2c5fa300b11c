"""Communities, threads (cases and discussions), posts and everything members do to them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum.accounts.models import Role, User
from forum.extensions import Model, UTCDateTime, utcnow


class ThreadKind(StrEnum):
    """A structured case presentation, or an open discussion."""

    CASE = "case"
    DISCUSSION = "discussion"


class CaseStatus(StrEnum):
    """Open until someone replies, answered once they have, solved when the author accepts."""

    OPEN = "open"
    ANSWERED = "answered"
    SOLVED = "solved"


class Visibility(StrEnum):
    """Who may see a post: everyone (published), or only its author and moderators."""

    PUBLISHED = "published"
    PENDING = "pending"  # held for a moderator (the PHI gate was unsure, or an image)
    REJECTED = "rejected"  # a moderator refused it; its text is purged
    REMOVED = "removed"  # hidden by a moderator after publication


class AgeBand(StrEnum):
    """Age bands: never an exact age (over 89 is one band, as Safe Harbor requires)."""

    UNDER_1 = "under 1"
    Y1_4 = "1-4"
    Y5_12 = "5-12"
    Y13_17 = "13-17"
    Y18_29 = "18-29"
    Y30S = "30s"
    Y40S = "40s"
    Y50S = "50s"
    Y60S = "60s"
    Y70S = "70s"
    Y80S = "80s"
    Y90_PLUS = "90 or older"


class Sex(StrEnum):
    """The patient's sex as relevant clinically."""

    FEMALE = "female"
    MALE = "male"
    INTERSEX = "intersex"
    UNSTATED = "not stated"


class Setting(StrEnum):
    """Where the patient is seen: a kind of setting, never a facility."""

    OUTPATIENT = "outpatient"
    EMERGENCY = "emergency"
    INPATIENT = "inpatient"
    INTENSIVE_CARE = "intensive care"
    OTHER = "other"


class Community(Model):
    """A specialty community; its slug is one of forum.verification.taxonomy.SPECIALTIES."""

    __tablename__ = "community"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    # "cardiologist": the noun in anonymous aliases ("Anonymous cardiologist 2").
    practitioner: Mapped[str] = mapped_column(sa.String(60))
    thread_count: Mapped[int] = mapped_column(default=0)


class AcceptCandidate(Protocol):
    """What deciding on an accepted answer reads of a post (an ORM post or a page row)."""

    @property
    def thread_id(self) -> int: ...
    @property
    def author_id(self) -> int: ...
    @property
    def is_opening(self) -> bool: ...
    @property
    def is_live(self) -> bool: ...


class Thread(Model):
    """A case or discussion in a community; its first post holds the body."""

    __tablename__ = "thread"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("community.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    title: Mapped[str] = mapped_column(sa.String(150))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    anonymous: Mapped[bool] = mapped_column(default=False)
    visibility: Mapped[str] = mapped_column(sa.String(16), default=Visibility.PUBLISHED)
    status: Mapped[str] = mapped_column(sa.String(16), default=CaseStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reply_count: Mapped[int] = mapped_column(default=0)
    accepted_post_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("post.id", use_alter=True, ondelete="SET NULL")
    )
    solved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome_source: Mapped[str | None] = mapped_column(sa.Text)
    outcome_html: Mapped[str | None] = mapped_column(sa.Text)
    # Published, or pending when the PHI gate held the outcome for a moderator.
    outcome_visibility: Mapped[str | None] = mapped_column(sa.String(16))
    outcome_added_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Case fields (None for discussions): bands and kinds, never exact values.
    age_band: Mapped[str | None] = mapped_column(sa.String(16))
    sex: Mapped[str | None] = mapped_column(sa.String(16))
    setting: Mapped[str | None] = mapped_column(sa.String(16))

    community: Mapped[Community] = relationship()
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    tags: Mapped[list[ThreadTag]] = relationship(
        order_by="ThreadTag.tag", cascade="all, delete-orphan"
    )
    sections: Mapped[list[CaseSection]] = relationship(cascade="all, delete-orphan")
    # The opening post (its alias labels an anonymous thread in lists).
    opening: Mapped[Post | None] = relationship(
        primaryjoin="and_(Post.thread_id == Thread.id, Post.is_opening.is_(True))",
        viewonly=True,
        uselist=False,
    )
    poll: Mapped[Poll | None] = relationship(viewonly=True)

    __table_args__ = (
        # The community page: visible threads by latest activity.
        sa.Index("ix_thread_community_activity", "community_id", "visibility", "last_activity_at"),
        sa.Index("ix_thread_activity", "visibility", "last_activity_at"),
    )

    @property
    def is_case(self) -> bool:
        """A structured case rather than a discussion."""
        return self.kind == ThreadKind.CASE

    @property
    def is_published(self) -> bool:
        """Everyone may see it (not held, rejected or removed)."""
        return self.visibility == Visibility.PUBLISHED

    @property
    def author_label(self) -> str:
        """How members see the author: the alias when anonymous (needs `opening` loaded)."""
        if self.anonymous:
            opening = self.opening
            if opening is not None and opening.alias_number is not None:
                return opening.author_label
            return "Anonymous physician"
        return self.author.display_name

    def section_map(self) -> dict[str, CaseSection]:
        """The case sections by name."""
        return {section.name: section for section in self.sections}

    def can_accept(self, member: User, post: AcceptCandidate) -> bool:
        """The case's author may accept a published reply by someone else."""
        return (
            self.is_case
            and member.id == self.author_id
            and post.thread_id == self.id
            and not post.is_opening
            and post.author_id != self.author_id
            and post.is_live
        )

    def can_add_outcome(self, member: User) -> bool:
        """The case's author adds (or rewrites) how the patient did."""
        return self.is_case and member.id == self.author_id

    @property
    def outcome_published(self) -> bool:
        """The outcome is there for every member to read."""
        return self.outcome_html is not None and self.outcome_visibility == Visibility.PUBLISHED


class CaseSection(Model):
    """One structured section of a case (presenting problem, history, ...), source and HTML."""

    __tablename__ = "case_section"

    thread_id: Mapped[int] = mapped_column(
        sa.ForeignKey("thread.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    source: Mapped[str] = mapped_column(sa.Text)
    html: Mapped[str] = mapped_column(sa.Text)


class ThreadTag(Model):
    """A free tag on a thread, lower-cased."""

    __tablename__ = "thread_tag"

    thread_id: Mapped[int] = mapped_column(
        sa.ForeignKey("thread.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(sa.String(40), primary_key=True, index=True)


class Post(Model):
    """A reply (or a thread's opening post): Markdown source and its cooked HTML."""

    __tablename__ = "post"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("thread.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    is_opening: Mapped[bool] = mapped_column(default=False)
    anonymous: Mapped[bool] = mapped_column(default=False)
    # The per-thread alias number when anonymous ("Anonymous cardiologist 2").
    alias_number: Mapped[int | None] = mapped_column()
    alias_specialty: Mapped[str | None] = mapped_column(sa.String(60))
    source: Mapped[str] = mapped_column(sa.Text)
    html: Mapped[str] = mapped_column(sa.Text)
    visibility: Mapped[str] = mapped_column(sa.String(16), default=Visibility.PUBLISHED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    helpful_count: Mapped[int] = mapped_column(default=0)
    quoted_post_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("post.id", ondelete="SET NULL")
    )

    thread: Mapped[Thread] = relationship(foreign_keys=[thread_id])
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    images: Mapped[list[PostImage]] = relationship(
        back_populates="post", order_by="PostImage.id", cascade="all, delete-orphan"
    )

    __table_args__ = (sa.Index("ix_post_thread_created", "thread_id", "created_at"),)

    @property
    def is_deleted(self) -> bool:
        """Soft-deleted: the thread shows a tombstone in its place."""
        return self.deleted_at is not None

    @property
    def is_live(self) -> bool:
        """Published and not deleted: what every member sees and counts."""
        return self.visibility == Visibility.PUBLISHED and self.deleted_at is None

    @property
    def is_held(self) -> bool:
        """Waiting for a moderator, or refused: only its author and moderators see it."""
        return self.visibility in (Visibility.PENDING, Visibility.REJECTED)

    @property
    def author_label(self) -> str:
        """How members see the author: "Anonymous cardiologist 2", or the display name."""
        if self.anonymous:
            return alias_label(self.alias_specialty, self.alias_number)
        return self.author.display_name

    def can_edit(self, member: User) -> bool:
        """Its author may edit it while it stands, or resubmit it once rejected (not removed)."""
        return member.id == self.author_id and is_editable(self.visibility, self.deleted_at)

    def can_delete(self, member: User) -> bool:
        """Its author or a moderator may delete it, once."""
        if self.deleted_at is not None:
            return False
        return member.id == self.author_id or member.has_role(Role.MODERATOR)

    def can_see_history(self, member: User) -> bool:
        """Earlier texts are for the author and moderators only."""
        return member.id == self.author_id or member.has_role(Role.MODERATOR)

    def can_vote(self, member: User) -> bool:
        """Members mark others' live posts helpful, never their own."""
        return self.is_live and member.id != self.author_id


def alias_label(specialty: str | None, number: int | None) -> str:
    """An anonymous author as members see them: "Anonymous cardiologist 2"."""
    label = f"Anonymous {specialty or 'physician'}"
    return f"{label} {number}" if number else label


def is_editable(visibility: str, deleted_at: datetime | None) -> bool:
    """A post its author may still edit: standing, or rejected and so open to resubmission."""
    editable = (Visibility.PUBLISHED, Visibility.PENDING, Visibility.REJECTED)
    return deleted_at is None and visibility in editable


class PostRevision(Model):
    """An earlier text of an edited post; seen by its author and moderators."""

    __tablename__ = "post_revision"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(sa.ForeignKey("post.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    editor_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))


class ThreadAlias(Model):
    """A member's stable anonymous number within one thread."""

    __tablename__ = "thread_alias"

    thread_id: Mapped[int] = mapped_column(
        sa.ForeignKey("thread.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), primary_key=True)
    number: Mapped[int] = mapped_column()

    __table_args__ = (sa.UniqueConstraint("thread_id", "number"),)


class HelpfulVote(Model):
    """One helpful vote per member per post, enforced by the primary key."""

    __tablename__ = "helpful_vote"

    post_id: Mapped[int] = mapped_column(
        sa.ForeignKey("post.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Follow(Model):
    """A member follows a thread: it shows in their feed and they hear of replies."""

    __tablename__ = "follow"

    thread_id: Mapped[int] = mapped_column(
        sa.ForeignKey("thread.id", ondelete="CASCADE"), primary_key=True
    )
    # The feed looks these up by member; the primary key starts with the thread.
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Bookmark(Model):
    """A post a member saved for later."""

    __tablename__ = "bookmark"

    post_id: Mapped[int] = mapped_column(
        sa.ForeignKey("post.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ThreadRead(Model):
    """When a member last read a thread, for unread markers."""

    __tablename__ = "thread_read"

    thread_id: Mapped[int] = mapped_column(
        sa.ForeignKey("thread.id", ondelete="CASCADE"), primary_key=True
    )
    # The feed looks these up by member; the primary key starts with the thread.
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id"), primary_key=True, index=True
    )
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Mention(Model):
    """A member named with @display_name in a post (only authors under their own name)."""

    __tablename__ = "mention"

    post_id: Mapped[int] = mapped_column(
        sa.ForeignKey("post.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), primary_key=True)


class Poll(Model):
    """A poll on a thread; ballots are secret: counts on options, voters without choices."""

    __tablename__ = "poll"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(
        sa.ForeignKey("thread.id", ondelete="CASCADE"), unique=True
    )
    question: Mapped[str] = mapped_column(sa.String(200))
    multiple: Mapped[bool] = mapped_column(default=False)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voter_count: Mapped[int] = mapped_column(default=0)
    closed_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    options: Mapped[list[PollOption]] = relationship(
        order_by="PollOption.position", cascade="all, delete-orphan"
    )

    def is_closed(self, now: datetime) -> bool:
        """Past its closing time."""
        return self.closes_at is not None and self.closes_at <= now


class PollOption(Model):
    """One answer in a poll, with its running count."""

    __tablename__ = "poll_option"

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(sa.ForeignKey("poll.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column()
    label: Mapped[str] = mapped_column(sa.String(120))
    votes: Mapped[int] = mapped_column(default=0)


class Ballot(Model):
    """That a member voted in a poll (not what): one per member, by the primary key."""

    __tablename__ = "ballot"

    poll_id: Mapped[int] = mapped_column(
        sa.ForeignKey("poll.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), primary_key=True)
    cast_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PostImage(Model):
    """An image on a post, re-encoded without metadata, stored under a random name."""

    __tablename__ = "post_image"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(sa.ForeignKey("post.id", ondelete="CASCADE"), index=True)
    storage_name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    media_type: Mapped[str] = mapped_column(sa.String(20))
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    size: Mapped[int] = mapped_column()
    # The member's file name after the PHI gate (names of files often carry patient names).
    label: Mapped[str] = mapped_column(sa.String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    post: Mapped[Post] = relationship(back_populates="images")

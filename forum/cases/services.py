"""Case and discussion use cases: the write path (validate, gate, store, cook, audit, commit).

Every text a member writes here passes phi.gate() before anything is stored: a block stores
nothing and sends the text back with the findings; a review stores it pending, for a moderator.
Each public function that changes something commits once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from forum import audit, mail, phi, text
from forum.accounts.models import Role, User
from forum.cases import attachments, mentions, polls
from forum.cases.communities import practitioner_for
from forum.cases.models import (
    AgeBand,
    Bookmark,
    CaseSection,
    CaseStatus,
    Community,
    Follow,
    HelpfulVote,
    Post,
    PostRevision,
    Setting,
    Sex,
    Thread,
    ThreadAlias,
    ThreadKind,
    ThreadRead,
    ThreadTag,
    Visibility,
)
from forum.cases.visibility import can_see_post, can_see_thread, listed_threads_filter
from forum.cases.visibility import live_posts_filter as _live
from forum.extensions import db, utcnow
from forum.moderation import policy
from forum.notifications import fanout as notify
from forum.notifications.models import Channel

log = logging.getLogger(__name__)

TITLE_MAX = 150
SECTION_MAX = 5_000
BODY_MAX = 20_000
OUTCOME_MAX = 5_000
TAG_MAX = 30
TAGS_MAX = 5
TAGS_FIELD_MAX = 200
REASON_MAX = 500
OUTCOME_REMINDER_AFTER = timedelta(days=14)
_ALIAS_ATTEMPTS = 5
_TAG = re.compile(r"^[a-z0-9-]{1,30}$")

# The structured sections of a case, in the order they are shown and assembled.
CASE_SECTIONS: tuple[tuple[str, str], ...] = (
    ("presenting", "Presenting problem"),
    ("history", "History"),
    ("examination", "Examination and investigations"),
    ("management", "Current management"),
    ("question", "The question for colleagues"),
)
SECTION_TITLES = dict(CASE_SECTIONS)
REQUIRED_SECTIONS = frozenset({"presenting", "question"})


# --- Errors ------------------------------------------------------------------------------------


class CaseError(Exception):
    """A request that cannot be granted; the message is for the member."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotAllowed(CaseError):
    """The member may not do this to this thread or post (views answer 403)."""


class InvalidSubmission(Exception):
    """Problems with what the member typed, by form field name."""

    def __init__(self, errors: Mapping[str, Sequence[str]]) -> None:
        super().__init__("invalid submission")
        self.errors = {name: list(messages) for name, messages in errors.items()}


class Blocked(Exception):
    """The PHI gate blocked the submission: nothing was stored; findings by field."""

    def __init__(self, result: phi.GateResult, texts: Mapping[str, str]) -> None:
        super().__init__("blocked by the PHI gate")
        self.result = result
        self.texts = dict(texts)


# --- Drafts: what members submit ---------------------------------------------------------------


@dataclass(frozen=True)
class CaseDraft:
    """A structured case as submitted (sections by name, tags as typed)."""

    title: str
    age_band: str
    sex: str
    setting: str
    sections: Mapping[str, str]
    tags: str = ""
    anonymous: bool = False


@dataclass(frozen=True)
class DiscussionDraft:
    """A discussion as submitted."""

    title: str
    body: str
    tags: str = ""
    anonymous: bool = False


@dataclass(frozen=True)
class Extras:
    """A new thread's poll and (cases only) images, read and checked."""

    poll: polls.PollDraft | None = None
    images: Sequence[attachments.PreparedImage] = field(default_factory=tuple)


# --- Checks ------------------------------------------------------------------------------------


def parse_tags(raw: str) -> list[str]:
    """Tags as typed ("chest-pain, ECG") in stored form, or ValueError saying what to change."""
    if len(raw) > TAGS_FIELD_MAX:
        raise ValueError(f"Keep the tags to {TAGS_FIELD_MAX} characters in all.")
    tags: list[str] = []
    for piece in raw.split(","):
        tag = piece.strip().lstrip("#").lower()
        if not tag:
            continue
        if not _TAG.match(tag):
            raise ValueError(
                f"Tags use lower-case letters, digits and hyphens, at most {TAG_MAX} characters "
                "each (write chest-pain, not chest pain)."
            )
        if tag not in tags:
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        raise ValueError(f"Use at most {TAGS_MAX} tags.")
    return tags


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _check_title(title: str, errors: dict[str, list[str]]) -> str:
    title = _one_line(title)
    if not title:
        errors.setdefault("title", []).append("Give the thread a title.")
    elif len(title) > TITLE_MAX:
        errors.setdefault("title", []).append(f"Keep the title to {TITLE_MAX} characters.")
    return title


def _check_text(
    name: str, value: str, limit: int, errors: dict[str, list[str]], *, required: bool
) -> str:
    value = value.replace("\r\n", "\n").strip()
    if required and not value:
        errors.setdefault(name, []).append("This cannot be empty.")
    elif len(value) > limit:
        errors.setdefault(name, []).append(f"Keep this to {limit:,} characters.")
    return value


def _check_choice(name: str, value: str, allowed: type[Any], errors: dict[str, list[str]]) -> None:
    if value not in {str(member) for member in allowed}:
        errors.setdefault(name, []).append("Choose one of the options.")


def _check_tags(raw: str, errors: dict[str, list[str]]) -> list[str]:
    try:
        return parse_tags(raw)
    except ValueError as problem:
        errors.setdefault("tags", []).append(str(problem))
        return []


def read_extras(
    form_data: Mapping[str, Any], uploads: Sequence[Any], *, images_allowed: bool
) -> tuple[Extras, dict[str, str], list[str]]:
    """The poll and images of a new-thread form: the extras, poll errors and image errors."""
    poll = polls.poll_from_form(form_data)
    poll_errors = polls.poll_errors(poll) if poll is not None else {}
    images: list[attachments.PreparedImage] = []
    image_errors: list[str] = []
    if images_allowed and uploads:
        images, image_errors = attachments.prepare(uploads)
    return Extras(poll, tuple(images)), poll_errors, image_errors


def _gate(fields: Mapping[str, str]) -> policy.Screened:
    """Every text field through the PHI gate and the watched words; a block raises.

    The gate respects the site allow-list; watched words may block, hold or flag.
    """
    texts = {name: value for name, value in fields.items() if value}
    result = policy.screen(texts)
    if result.blocked:
        raise Blocked(result, texts)
    return result


def _may_write(member: User, thread: Thread | None, field: str) -> None:
    """Suspended members read but do not post; locked threads take no replies or edits."""
    suspension = policy.posting_suspension(member)
    if suspension is not None:
        until = f"{suspension.until:%d %B %Y %H:%M} UTC"
        raise InvalidSubmission({field: [f"You cannot post until {until}: {suspension.reason}"]})
    if thread is not None and policy.is_locked(thread):
        raise InvalidSubmission({field: ["This thread is locked: it takes no new posts or edits."]})


def _author_audit(member: User, content: Post | Thread, action: str, **details: Any) -> None:
    """An audit row for an author's own act. For anonymous content it names nobody and keeps no
    address or browser (the moderators' log and the audit page list actors, and an address
    would match the author's sign-in rows): only an audited reveal says who wrote it."""
    if content.anonymous:
        audit.record(None, action, content, keep_origin=False, **details)
    else:
        audit.record(member, action, content, **details)


def _held_audit(actor: User, target: Post | Thread, result: phi.GateResult, reason: str) -> None:
    """Record why content was held (field names and kinds of finding, never the text)."""
    kinds = sorted({str(f.kind) for found in result.findings.values() for f in found})
    fields = sorted(result.findings)
    _author_audit(actor, target, "post.held_for_review", reason=reason, fields=fields, kinds=kinds)


# --- Helpers shared by the write path ----------------------------------------------------------


def assemble_case(draft: CaseDraft) -> str:
    """The opening post's Markdown, built from the case's facts and sections."""
    facts = f"**Age band:** {draft.age_band} · **Sex:** {draft.sex} · **Setting:** {draft.setting}"
    parts = [facts]
    for name, title in CASE_SECTIONS:
        source = draft.sections.get(name, "")
        if source:
            parts.append(f"## {title}\n\n{source}")
    return "\n\n".join(parts)


def _next_alias_number(thread_id: int) -> int:
    highest = db.session.scalar(
        sa.select(sa.func.max(ThreadAlias.number)).where(ThreadAlias.thread_id == thread_id)
    )
    return (highest or 0) + 1


def alias_number(thread: Thread, member: User) -> int:
    """The member's anonymous number in the thread: stable, allocated in order 1, 2, ...

    Two members posting at once may pick the same number; the unique constraint refuses the
    second, which retries with the next one.
    """
    for _ in range(_ALIAS_ATTEMPTS):
        existing = db.session.scalar(
            sa.select(ThreadAlias.number).where(
                ThreadAlias.thread_id == thread.id, ThreadAlias.user_id == member.id
            )
        )
        if existing is not None:
            return existing
        number = _next_alias_number(thread.id)
        try:
            with db.session.begin_nested():
                db.session.add(ThreadAlias(thread_id=thread.id, user_id=member.id, number=number))
        except IntegrityError:
            continue
        return number
    raise RuntimeError("could not allocate an anonymous alias")


def _set_alias(post: Post, thread: Thread, member: User) -> None:
    if post.anonymous:
        post.alias_number = alias_number(thread, member)
        post.alias_specialty = practitioner_for(member.specialty)


def _upsert(model: type[Any], values: dict[str, Any], update: dict[str, Any]) -> Any:
    """INSERT ... ON CONFLICT (primary key) DO UPDATE, on SQLite and PostgreSQL alike."""
    table = model.__table__
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    keys = [column.name for column in table.primary_key.columns]
    statement = insert(table).values(**values)
    return statement.on_conflict_do_update(index_elements=keys, set_=update)


def _mark_read_now(member_id: int, thread_id: int, when: datetime) -> None:
    values = {"thread_id": thread_id, "user_id": member_id, "read_at": when}
    db.session.execute(_upsert(ThreadRead, values, {"read_at": when}))


def mark_read(member: User, thread: Thread) -> None:
    """Note that the member has read the thread, for unread markers; commits on its own.

    Runs on its own connection and transaction, first statement a write, so a page view never
    turns its own read transaction into a writer (SQLite would refuse that under load).
    """
    when = utcnow()
    values = {"thread_id": thread.id, "user_id": member.id, "read_at": when}
    try:
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # A lost read marker costs a "new" badge after a crash, not data: this commit
                # need not wait for the disk (PostgreSQL's per-transaction setting).
                connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
            connection.execute(_upsert(ThreadRead, values, {"read_at": when}))
    except sa.exc.SQLAlchemyError as error:
        # An unread marker is not worth failing the page for (a busy database, say).
        log.warning("Read marker for thread %s not saved: %s", thread.id, type(error).__name__)


def _insert_ignore(model: type[Any], values: dict[str, Any]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING: a double click adds one row, never an error."""
    table = model.__table__
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    extra = {"created_at": utcnow()} if "created_at" in table.c else {}
    return insert(table).values(**values, **extra).on_conflict_do_nothing()


def _lock_for_recount(model: type[Thread] | type[Community], row_id: int) -> None:
    """Take the row before counting what hangs off it, so two writers at once count one after
    the other: on PostgreSQL (READ COMMITTED) each would otherwise miss the other's new row and
    the last to commit would store a short count. SQLite writers are serialised already.
    FOR NO KEY UPDATE does not wait on the key-share lock an insert's foreign key check holds."""
    db.session.execute(
        sa.select(model.id).where(model.id == row_id).with_for_update(key_share=True)
    )


def refresh_thread(thread: Thread) -> None:
    """Recount replies, latest activity and status from live posts (moderation calls this too)."""
    db.session.flush()
    _lock_for_recount(Thread, thread.id)
    live_replies = sa.select(sa.func.count(Post.id)).where(
        Post.thread_id == thread.id, Post.is_opening.is_(False), _live()
    )
    thread.reply_count = db.session.scalar(live_replies) or 0
    latest = db.session.scalar(
        sa.select(sa.func.max(Post.created_at)).where(Post.thread_id == thread.id, _live())
    )
    thread.last_activity_at = max(latest or thread.created_at, thread.created_at)
    if thread.is_case and thread.status != CaseStatus.SOLVED:
        thread.status = CaseStatus.ANSWERED if _others_replied(thread) else CaseStatus.OPEN


def _others_replied(thread: Thread) -> bool:
    found = db.session.scalar(
        sa.select(Post.id)
        .where(
            Post.thread_id == thread.id,
            Post.is_opening.is_(False),
            Post.author_id != thread.author_id,
            _live(),
        )
        .limit(1)
    )
    return found is not None


def refresh_community(community_id: int) -> None:
    """Recount a community's listed threads."""
    db.session.flush()
    _lock_for_recount(Community, community_id)
    count = db.session.scalar(
        sa.select(sa.func.count(Thread.id)).where(
            Thread.community_id == community_id, listed_threads_filter()
        )
    )
    db.session.execute(
        sa.update(Community).where(Community.id == community_id).values(thread_count=count or 0)
    )


# --- New threads -------------------------------------------------------------------------------


def _check_case(draft: CaseDraft, errors: dict[str, list[str]]) -> tuple[str, dict[str, str]]:
    title = _check_title(draft.title, errors)
    _check_choice("age_band", draft.age_band, AgeBand, errors)
    _check_choice("sex", draft.sex, Sex, errors)
    _check_choice("setting", draft.setting, Setting, errors)
    sections = {
        name: _check_text(
            name,
            draft.sections.get(name, ""),
            SECTION_MAX,
            errors,
            required=name in REQUIRED_SECTIONS,
        )
        for name, _ in CASE_SECTIONS
    }
    return title, sections


def _extras_texts(extras: Extras) -> dict[str, str]:
    fields: dict[str, str] = {}
    if extras.poll is not None:
        fields.update(polls.poll_text_fields(extras.poll))
    fields.update(attachments.label_fields(extras.images))
    return fields


def _check_extras(extras: Extras, errors: dict[str, list[str]]) -> None:
    if extras.poll is not None:
        for name, message in polls.poll_errors(extras.poll).items():
            errors.setdefault(name, []).append(message)


def _new_thread(
    author: User,
    community: Community,
    kind: ThreadKind,
    title: str,
    tags: list[str],
    anonymous: bool,
    source: str,
    extras: Extras,
    result: phi.GateResult,
) -> tuple[Thread, Post]:
    now = utcnow()
    held = result.held or bool(extras.images)
    visibility = Visibility.PENDING if held else Visibility.PUBLISHED
    thread = Thread(
        community_id=community.id,
        kind=kind,
        title=title,
        author_id=author.id,
        anonymous=anonymous,
        visibility=visibility,
        status=CaseStatus.OPEN,
        created_at=now,
        last_activity_at=now,
        reply_count=0,
    )
    thread.tags = [ThreadTag(tag=tag) for tag in tags]
    db.session.add(thread)
    db.session.flush()
    post = Post(
        thread_id=thread.id,
        author_id=author.id,
        is_opening=True,
        anonymous=anonymous,
        source=source,
        html=text.cook(source),
        visibility=visibility,
        created_at=now,
        helpful_count=0,
    )
    _set_alias(post, thread, author)
    db.session.add(post)
    db.session.flush()
    if extras.poll is not None:
        polls.create_poll(thread, extras.poll)
    attachments.attach(post, extras.images)
    mentions.record_mentions(post)
    db.session.execute(_insert_ignore(Follow, {"thread_id": thread.id, "user_id": author.id}))
    _mark_read_now(author.id, thread.id, now)
    if result.held:
        _held_audit(author, post, result, "phi")
    elif extras.images:
        _author_audit(author, post, "post.held_for_review", reason="image")
    policy.queue_after_write(thread, post, result, held=held, image=bool(extras.images))
    refresh_community(community.id)
    notify.published(post)
    return thread, post


def open_case(author: User, community: Community, draft: CaseDraft, extras: Extras) -> Thread:
    """Start a structured case in a community; commits. Raises InvalidSubmission or Blocked."""
    _may_write(author, None, "title")
    errors: dict[str, list[str]] = {}
    title, sections = _check_case(draft, errors)
    tags = _check_tags(draft.tags, errors)
    _check_extras(extras, errors)
    if errors:
        raise InvalidSubmission(errors)
    result = _gate({"title": title, "tags": ", ".join(tags), **sections, **_extras_texts(extras)})
    shaped = CaseDraft(title, draft.age_band, draft.sex, draft.setting, sections)
    thread, _ = _new_thread(
        author,
        community,
        ThreadKind.CASE,
        title,
        tags,
        draft.anonymous,
        assemble_case(shaped),
        extras,
        result,
    )
    thread.age_band, thread.sex, thread.setting = draft.age_band, draft.sex, draft.setting
    thread.sections = [
        CaseSection(name=name, source=source, html=text.cook(source))
        for name, source in sections.items()
        if source
    ]
    db.session.commit()
    log.info("Case %s opened in %s (%s)", thread.id, community.slug, thread.visibility)
    return thread


def open_discussion(
    author: User, community: Community, draft: DiscussionDraft, extras: Extras
) -> Thread:
    """Start a discussion in a community; commits. Raises InvalidSubmission or Blocked."""
    _may_write(author, None, "title")
    errors: dict[str, list[str]] = {}
    title = _check_title(draft.title, errors)
    body = _check_text("body", draft.body, BODY_MAX, errors, required=True)
    tags = _check_tags(draft.tags, errors)
    _check_extras(extras, errors)
    if extras.images:
        errors.setdefault("images", []).append("Images go on cases only.")
    if errors:
        raise InvalidSubmission(errors)
    result = _gate({"title": title, "tags": ", ".join(tags), "body": body, **_extras_texts(extras)})
    thread, _ = _new_thread(
        author, community, ThreadKind.DISCUSSION, title, tags, draft.anonymous, body, extras, result
    )
    db.session.commit()
    log.info("Discussion %s opened in %s (%s)", thread.id, community.slug, thread.visibility)
    return thread


# --- Replies -----------------------------------------------------------------------------------

QUOTE_MAX = 1_500


def quote_source(post: Post, link: str) -> str:
    """Markdown that quotes a post ("> ..."), attributed by its public label, with a link."""
    source = post.source.strip()
    if len(source) > QUOTE_MAX:
        source = source[:QUOTE_MAX].rsplit("\n", 1)[0].rstrip() + " …"
    quoted = "\n".join(f"> {line}".rstrip() for line in source.splitlines())
    return f"> [{post.author_label} wrote]({link}):\n>\n{quoted}\n\n"


def quotable_post(viewer: User, thread: Thread, post_id: int | None) -> Post | None:
    """The live post the viewer may quote in this thread, or None (held text stays held)."""
    if post_id is None or not 0 < post_id < 2**31:
        return None
    post = db.session.get(Post, post_id)
    if post is None or post.thread_id != thread.id or not post.is_live:
        return None
    return post if can_see_post(viewer, post) else None


def reply(
    author: User,
    thread: Thread,
    body: str,
    *,
    anonymous: bool = False,
    quoted_post_id: int | None = None,
) -> Post:
    """Add a reply to a thread; commits. Raises InvalidSubmission, Blocked or NotAllowed."""
    if not can_see_thread(author, thread):
        raise NotAllowed("You cannot reply to this thread.")
    _may_write(author, thread, "body")
    errors: dict[str, list[str]] = {}
    body = _check_text("body", body, BODY_MAX, errors, required=True)
    if errors:
        raise InvalidSubmission(errors)
    result = _gate({"body": body})
    quoted = quotable_post(author, thread, quoted_post_id)
    now = utcnow()
    post = Post(
        thread_id=thread.id,
        author_id=author.id,
        is_opening=False,
        anonymous=anonymous,
        source=body,
        html=text.cook(body),
        visibility=Visibility.PENDING if result.held else Visibility.PUBLISHED,
        created_at=now,
        helpful_count=0,
        quoted_post_id=quoted.id if quoted is not None else None,
    )
    _set_alias(post, thread, author)
    db.session.add(post)
    db.session.flush()
    mentions.record_mentions(post)
    refresh_thread(thread)
    _mark_read_now(author.id, thread.id, now)
    if result.held:
        _held_audit(author, post, result, "phi")
    policy.queue_after_write(thread, post, result, held=result.held)
    notify.published(post)
    db.session.commit()
    log.info("Reply %s in thread %s (%s)", post.id, thread.id, post.visibility)
    return post


# --- Edits -------------------------------------------------------------------------------------


def opening_post(thread: Thread) -> Post | None:
    """The thread's opening post."""
    return db.session.scalar(
        sa.select(Post).where(Post.thread_id == thread.id, Post.is_opening.is_(True)).limit(1)
    )


def _revise(editor: User, post: Post, source: str, result: phi.GateResult) -> None:
    """Keep the previous text as a revision and store the new one (held if the gate says so)."""
    now = utcnow()
    resubmitted = post.visibility == Visibility.REJECTED
    if source != post.source:
        if post.source:  # a rejected post's text was purged: nothing to keep
            db.session.add(
                PostRevision(
                    post_id=post.id, source=post.source, editor_id=editor.id, created_at=now
                )
            )
        post.source = source
        post.html = text.cook(source)
        post.edited_at = now
    if result.held or resubmitted:
        post.visibility = Visibility.PENDING
        if post.is_opening:
            post.thread.visibility = Visibility.PENDING
    if result.held:
        _held_audit(editor, post, result, "phi")
    if resubmitted:
        _author_audit(editor, post, "post.resubmitted", thread_id=post.thread_id)
    held = post.visibility == Visibility.PENDING
    policy.queue_after_write(post.thread, post, result, held=held, resubmitted=resubmitted)
    db.session.flush()
    mentions.record_mentions(post)
    notify.mentioned(post)
    refresh_thread(post.thread)
    refresh_community(post.thread.community_id)


def _replace_tags(thread: Thread, tags: list[str]) -> None:
    keep = [existing for existing in thread.tags if existing.tag in tags]
    have = {existing.tag for existing in keep}
    thread.tags = keep + [ThreadTag(tag=tag) for tag in tags if tag not in have]


def _replace_sections(thread: Thread, sections: Mapping[str, str]) -> None:
    existing = thread.section_map()
    kept: list[CaseSection] = []
    for name, source in sections.items():
        if not source:
            continue
        section = existing.get(name) or CaseSection(name=name)
        if section.source != source:
            section.source, section.html = source, text.cook(source)
        kept.append(section)
    thread.sections = kept


def edit_post(editor: User, post: Post, body: str) -> Post:
    """The author rewrites a reply; the old text becomes a revision; commits."""
    if post.is_opening or not post.can_edit(editor):
        raise NotAllowed("You cannot edit this post.")
    _may_write(editor, post.thread, "body")
    errors: dict[str, list[str]] = {}
    body = _check_text("body", body, BODY_MAX, errors, required=True)
    if errors:
        raise InvalidSubmission(errors)
    result = _gate({"body": body})
    _revise(editor, post, body, result)
    db.session.commit()
    return post


def edit_discussion(editor: User, thread: Thread, draft: DiscussionDraft) -> Thread:
    """The author rewrites a discussion's title, body and tags; commits."""
    opening = opening_post(thread)
    if thread.is_case or opening is None or not opening.can_edit(editor):
        raise NotAllowed("You cannot edit this discussion.")
    _may_write(editor, thread, "body")
    errors: dict[str, list[str]] = {}
    title = _check_title(draft.title, errors)
    body = _check_text("body", draft.body, BODY_MAX, errors, required=True)
    tags = _check_tags(draft.tags, errors)
    if errors:
        raise InvalidSubmission(errors)
    result = _gate({"title": title, "tags": ", ".join(tags), "body": body})
    thread.title = title
    _replace_tags(thread, tags)
    _revise(editor, opening, body, result)
    db.session.commit()
    return thread


def edit_case(editor: User, thread: Thread, draft: CaseDraft) -> Thread:
    """The author rewrites a case (facts, sections, title, tags); commits."""
    opening = opening_post(thread)
    if not thread.is_case or opening is None or not opening.can_edit(editor):
        raise NotAllowed("You cannot edit this case.")
    _may_write(editor, thread, "title")
    errors: dict[str, list[str]] = {}
    title, sections = _check_case(draft, errors)
    tags = _check_tags(draft.tags, errors)
    if errors:
        raise InvalidSubmission(errors)
    result = _gate({"title": title, "tags": ", ".join(tags), **sections})
    thread.title = title
    thread.age_band, thread.sex, thread.setting = draft.age_band, draft.sex, draft.setting
    _replace_tags(thread, tags)
    _replace_sections(thread, sections)
    shaped = CaseDraft(title, draft.age_band, draft.sex, draft.setting, sections)
    _revise(editor, opening, assemble_case(shaped), result)
    db.session.commit()
    return thread


def delete_post(actor: User, post: Post) -> None:
    """Soft-delete a post (its author or a moderator); a tombstone stays; commits."""
    if not post.can_delete(actor):
        raise NotAllowed("You cannot delete this post.")
    thread = post.thread
    post.deleted_at = utcnow()
    if thread.accepted_post_id == post.id:
        _unaccept(thread)
    if actor.id != post.author_id:
        audit.record(actor, "post.deleted", post, thread_id=thread.id, by="moderator")
    refresh_thread(thread)
    db.session.commit()


# --- Votes, follows, bookmarks -----------------------------------------------------------------


def set_helpful(member: User, post: Post, helpful: bool) -> None:
    """Mark a post helpful, or take the mark back; one per member, counter in step; commits."""
    if not can_see_post(member, post):
        raise NotAllowed("You cannot vote on this post.")
    if helpful:
        if not post.can_vote(member):
            raise CaseError("You cannot mark your own post, or a post not yet published, helpful.")
        try:
            with db.session.begin_nested():
                db.session.add(HelpfulVote(post_id=post.id, user_id=member.id, created_at=utcnow()))
        except IntegrityError:
            db.session.commit()  # a double click: the first vote stands, nothing else changes
            return
        post.helpful_count = Post.helpful_count + 1
    else:
        removed = db.session.execute(
            sa.delete(HelpfulVote).where(
                HelpfulVote.post_id == post.id, HelpfulVote.user_id == member.id
            )
        )
        if getattr(removed, "rowcount", 0):
            post.helpful_count = Post.helpful_count - 1
    db.session.commit()


def set_follow(member: User, thread: Thread, following: bool) -> None:
    """Follow a thread (it shows in the feed) or stop following; commits."""
    if not can_see_thread(member, thread):
        raise NotAllowed("You cannot follow this thread.")
    if following:
        db.session.execute(_insert_ignore(Follow, {"thread_id": thread.id, "user_id": member.id}))
    else:
        db.session.execute(
            sa.delete(Follow).where(Follow.thread_id == thread.id, Follow.user_id == member.id)
        )
    db.session.commit()


def set_bookmark(member: User, post: Post, saved: bool) -> None:
    """Save a post to the member's bookmarks, or remove it (always allowed); commits."""
    if saved:
        if not can_see_post(member, post):
            raise NotAllowed("You cannot bookmark this post.")
        db.session.execute(_insert_ignore(Bookmark, {"post_id": post.id, "user_id": member.id}))
    else:
        db.session.execute(
            sa.delete(Bookmark).where(Bookmark.post_id == post.id, Bookmark.user_id == member.id)
        )
    db.session.commit()


# --- Case life ---------------------------------------------------------------------------------


def _unaccept(thread: Thread) -> None:
    thread.accepted_post_id = None
    thread.solved_at = None
    thread.status = CaseStatus.ANSWERED if _others_replied(thread) else CaseStatus.OPEN


def accept(member: User, post: Post) -> None:
    """The case's author accepts a reply: the case is solved (another reply may replace it)."""
    thread = post.thread
    if not thread.can_accept(member, post):
        raise NotAllowed("Only the case's author can accept a published reply by a colleague.")
    thread.accepted_post_id = post.id
    thread.status = CaseStatus.SOLVED
    if thread.solved_at is None:
        thread.solved_at = utcnow()
    notify.answer_accepted(thread, post)
    db.session.commit()


def unaccept(member: User, thread: Thread) -> None:
    """The case's author withdraws the accepted answer; the case is open or answered again."""
    if not thread.is_case or member.id != thread.author_id:
        raise NotAllowed("Only the case's author can change the accepted answer.")
    _unaccept(thread)
    db.session.commit()


def set_outcome(member: User, thread: Thread, source: str) -> Thread:
    """The case's author writes how the patient did; gated and cooked; commits."""
    if not thread.can_add_outcome(member):
        raise NotAllowed("Only the case's author can add its outcome.")
    _may_write(member, thread, "outcome")
    errors: dict[str, list[str]] = {}
    source = _check_text("outcome", source, OUTCOME_MAX, errors, required=True)
    if errors:
        raise InvalidSubmission(errors)
    result = _gate({"outcome": source})
    thread.outcome_source = source
    thread.outcome_html = text.cook(source)
    thread.outcome_added_at = utcnow()
    thread.outcome_visibility = Visibility.PENDING if result.held else Visibility.PUBLISHED
    if result.held:
        _held_audit(member, thread, result, "phi")
    policy.queue_after_write(thread, None, result, held=result.held)
    db.session.commit()
    return thread


@dataclass(frozen=True)
class _Due:
    thread_id: int
    title: str
    email: str
    display_name: str


def remind_outcomes(now: datetime | None = None) -> int:
    """Remind the authors of cases solved 14+ days ago without an outcome, once each.

    The reminder is a notification, and a mail unless the author chose otherwise. Each thread
    is claimed (outcome_reminded_at set and committed, with the notification) before its mail
    goes out, so two runs never both send; a failed send releases the claim for the next run.
    Returns how many mails were sent.
    """
    now = now or utcnow()
    due_query = (
        sa.select(Thread.id, Thread.title, User.email, User.display_name)
        .join(User, User.id == Thread.author_id)
        .where(
            Thread.kind == ThreadKind.CASE,
            Thread.status == CaseStatus.SOLVED,
            Thread.solved_at <= now - OUTCOME_REMINDER_AFTER,
            Thread.outcome_source.is_(None),
            Thread.outcome_reminded_at.is_(None),
            listed_threads_filter(),
            User.suspended_at.is_(None),
        )
        .order_by(Thread.id)
    )
    due = [_Due(*row) for row in db.session.execute(due_query)]
    db.session.commit()
    sent = 0
    with mail.transport() as transport:
        for item in due:
            if _claim_reminder(item.thread_id, now) is not Channel.EMAIL:
                continue  # claimed by another run, or the author hears in the list only
            message = mail.compose(
                item.email,
                "How did your case turn out?",
                "case_outcome_reminder",
                name=item.display_name,
                title=item.title,
                link=mail.absolute_url("cases.outcome", thread_id=item.thread_id),
            )
            try:
                transport.send(message)
            except mail.MailError as error:
                log.warning("Outcome reminder for thread %s not sent: %s", item.thread_id, error)
                _release_reminder(item.thread_id)
                continue
            sent += 1
    return sent


def _claim_reminder(thread_id: int, now: datetime) -> Channel | None:
    """Claim the thread's reminder and notify its author; their channel, or None if not claimed."""
    claimed = db.session.execute(
        sa.update(Thread)
        .where(Thread.id == thread_id, Thread.outcome_reminded_at.is_(None))
        .values(outcome_reminded_at=now)
        .execution_options(synchronize_session=False)
    )
    thread = db.session.get(Thread, thread_id)
    channel = None
    if getattr(claimed, "rowcount", 0) and thread is not None:
        channel = notify.outcome_reminder(thread)
    db.session.commit()
    return channel


def _release_reminder(thread_id: int) -> None:
    db.session.execute(
        sa.update(Thread)
        .where(Thread.id == thread_id)
        .values(outcome_reminded_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


# --- Moderators --------------------------------------------------------------------------------


def reveal_author(moderator: User, post: Post, reason: str) -> User:
    """Show a moderator who wrote an anonymous post, with a reason that is audited; commits."""
    if not moderator.has_role(Role.MODERATOR):
        raise NotAllowed("Only moderators can reveal an author.")
    reason = _one_line(reason)
    if not reason:
        raise InvalidSubmission({"reason": ["Say why you need to know who wrote this."]})
    if len(reason) > REASON_MAX:
        raise InvalidSubmission({"reason": [f"Keep the reason to {REASON_MAX} characters."]})
    if not post.anonymous:
        raise CaseError("This post is not anonymous.")
    audit.record(moderator, "post.author_revealed", post, thread_id=post.thread_id, reason=reason)
    author = post.author
    db.session.commit()
    return author

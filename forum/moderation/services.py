"""Moderator use cases: the review queue, flags, watched words and actions on threads and members.

Each public function that changes something writes its audit row and commits once. Mail to
authors goes after the commit and carries the thread's title and the reason, never post text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from forum import audit, mail, phi, text
from forum.accounts.models import Role, User
from forum.audit import AuditEvent
from forum.cases import attachments
from forum.cases import services as cases
from forum.cases.models import (
    CaseSection,
    Community,
    Mention,
    Poll,
    Post,
    PostImage,
    PostRevision,
    Thread,
    ThreadTag,
    Visibility,
)
from forum.cases.visibility import can_see_post
from forum.extensions import db, utcnow
from forum.moderation import policy
from forum.moderation.models import (
    AllowedTerm,
    Flag,
    FlagReason,
    PostingSuspension,
    ReviewItem,
    ReviewReason,
    ReviewStatus,
    ThreadLock,
    WatchAction,
    WatchedWord,
)
from forum.notifications import fanout as notify
from forum.notifications.models import Decision

log = logging.getLogger(__name__)

REASON_MAX = 500
NOTE_MAX = 500
TERM_MAX = 120
SAMPLE_MAX = 5_000
SUSPENSION_DAYS_MAX = 365
FLAGS_TO_HIDE = 3
QUEUE_LIMIT = 50
LOG_PAGE = 50
TOMBSTONE = "Removed by a moderator."


class ModerationError(Exception):
    """A request that cannot be granted; the message is for the moderator or member."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


# --- Small helpers -----------------------------------------------------------------------------


def _reason(value: str, field: str = "reason", *, required: bool = True) -> str:
    value = " ".join(value.split())
    if required and not value:
        raise ModerationError("Give a reason.", field)
    if len(value) > REASON_MAX:
        raise ModerationError(f"Keep the reason to {REASON_MAX} characters.", field)
    return value


def _require_moderator(actor: User) -> None:
    if not actor.has_role(Role.MODERATOR):
        raise ModerationError("Only moderators can do this.")


def _set_post_visibility(post: Post, visibility: Visibility) -> None:
    """A post's visibility; an opening post carries its thread with it."""
    post.visibility = visibility
    if post.is_opening:
        post.thread.visibility = visibility


def _refresh(thread: Thread) -> None:
    cases.refresh_thread(thread)
    cases.refresh_community(thread.community_id)


@dataclass(frozen=True)
class Notice:
    """What to tell an author after the commit (their address, the title, the outcome)."""

    email: str
    name: str
    title: str
    outcome: str
    reason: str
    link: str


def _notice(item: ReviewItem, outcome: str, reason: str) -> Notice:
    thread = item.thread
    author = item.post.author if item.post is not None else thread.author
    # The title only when everyone may read it: a held or purged title is never mailed.
    title = thread.title if thread.visibility == Visibility.PUBLISHED else "your thread"
    if item.post is not None:
        link = mail.absolute_url("cases.jump", post_id=item.post.id)
    else:
        link = mail.absolute_url("cases.thread", thread_id=thread.id)
    return Notice(author.email, author.display_name, title, outcome, reason, link)


def _tell(notice: Notice) -> None:
    template = f"moderation_{notice.outcome}"
    subject = {"approved": "Your post is published", "rejected": "Your post was not published"}
    message = mail.compose(
        notice.email,
        subject[notice.outcome],
        template,
        name=notice.name,
        title=notice.title,
        reason=notice.reason,
        link=notice.link,
    )
    mail.send_quietly(message)


# --- The queue ---------------------------------------------------------------------------------


def open_count() -> int:
    """How many items wait for a moderator."""
    count = db.session.scalar(
        sa.select(sa.func.count(ReviewItem.id)).where(ReviewItem.status == ReviewStatus.OPEN)
    )
    return int(count or 0)


def queue(limit: int = QUEUE_LIMIT) -> list[ReviewItem]:
    """Open items, oldest first, with what the page shows about them."""
    return list(
        db.session.scalars(
            sa.select(ReviewItem)
            .where(ReviewItem.status == ReviewStatus.OPEN)
            .order_by(ReviewItem.created_at, ReviewItem.id)
            .limit(limit)
            .options(
                joinedload(ReviewItem.thread).selectinload(Thread.sections),
                joinedload(ReviewItem.post).selectinload(Post.images),
            )
        )
    )


def get_item(item_id: int) -> ReviewItem | None:
    """A review item by id."""
    if not 0 < item_id < 2**31:
        return None
    return db.session.get(ReviewItem, item_id)


def flags_for(item: ReviewItem) -> list[Flag]:
    """The unresolved flags on the item's post."""
    if item.post_id is None:
        return []
    return list(
        db.session.scalars(
            sa.select(Flag)
            .where(Flag.post_id == item.post_id, Flag.resolved_at.is_(None))
            .order_by(Flag.created_at)
            .options(joinedload(Flag.user))
        )
    )


def field_texts(item: ReviewItem) -> dict[str, str]:
    """The texts the item's findings point into, by field name."""
    thread = item.thread
    if item.post is None:
        return {"outcome": thread.outcome_source or ""}
    post = item.post
    texts: dict[str, str] = {}
    if post.is_opening:
        texts["title"] = thread.title
        texts["tags"] = ", ".join(tag.tag for tag in thread.tags)
        if thread.is_case:
            texts.update({name: s.source for name, s in thread.section_map().items()})
        else:
            texts["body"] = post.source
    else:
        texts["body"] = post.source
    for number, image in enumerate(post.images, start=1):
        texts[f"image_label_{number}"] = image.label
    return texts


def item_findings(item: ReviewItem) -> dict[str, list[phi.Finding]]:
    """The stored findings as Finding objects, by field (stale offsets are dropped)."""
    texts = field_texts(item)
    found: dict[str, list[phi.Finding]] = {}
    for row in item.findings or []:
        source = texts.get(str(row.get("field")))
        start, end = int(row.get("start", 0)), int(row.get("end", 0))
        if source is None or not 0 <= start < end <= len(source):
            continue
        finding = phi.Finding(
            start,
            end,
            phi.Kind(row.get("kind", "OTHER_ID")),
            phi.Action(row.get("action", "review")),
            str(row.get("reason", "")),
        )
        found.setdefault(str(row["field"]), []).append(finding)
    return found


def editable_fields(item: ReviewItem) -> dict[str, str]:
    """What a moderator may redact in place: the title and the texts of the post or outcome."""
    texts = field_texts(item)
    return {name: value for name, value in texts.items() if not name.startswith("image_label_")}


def _close(item: ReviewItem, moderator: User, status: ReviewStatus, reason: str) -> None:
    item.status = status
    item.resolved_at = utcnow()
    item.resolved_by_id = moderator.id
    item.decision_reason = reason or None
    if item.post_id is not None:
        db.session.execute(
            sa.update(Flag)
            .where(Flag.post_id == item.post_id, Flag.resolved_at.is_(None))
            .values(resolved_at=utcnow())
        )


def _publish(item: ReviewItem, reason: str = "") -> None:
    """Publish the item's content; its author hears, and its readers as publishing tells them."""
    thread = item.thread
    notify.moderation_decided(thread, item.post, Decision.APPROVED, reason)
    if item.post is None:
        if thread.outcome_html is not None:
            thread.outcome_visibility = Visibility.PUBLISHED
        return
    post = item.post
    if post.visibility in (Visibility.PENDING, Visibility.PUBLISHED):
        _set_post_visibility(post, Visibility.PUBLISHED)
    _refresh(thread)
    notify.published(post)


def approve(moderator: User, item: ReviewItem) -> None:
    """Publish the held content and close the item; the author hears; commits."""
    _require_moderator(moderator)
    if not item.is_open:
        raise ModerationError("This item was already decided.")
    _publish(item)
    _close(item, moderator, ReviewStatus.APPROVED, "")
    audit.record(
        moderator, "moderation.approved", item, thread_id=item.thread_id, post_id=item.post_id
    )
    notice = _notice(item, "approved", "")
    db.session.commit()
    _tell(notice)


def _limits(item: ReviewItem) -> dict[str, int]:
    limits = {"title": cases.TITLE_MAX, "tags": cases.TAGS_FIELD_MAX, "body": cases.BODY_MAX}
    limits["outcome"] = cases.OUTCOME_MAX
    for name, _ in cases.CASE_SECTIONS:
        limits[name] = cases.SECTION_MAX
    return limits


def _check_edit(item: ReviewItem, values: Mapping[str, str]) -> dict[str, str]:
    current = editable_fields(item)
    limits = _limits(item)
    cleaned: dict[str, str] = {}
    for name, old in current.items():
        value = values.get(name, old).replace("\r\n", "\n").strip()
        if len(value) > limits.get(name, cases.BODY_MAX):
            raise ModerationError(
                f"Keep this to {limits.get(name, cases.BODY_MAX):,} characters.", name
            )
        if name == "title":
            value = " ".join(value.split())
            if not value:
                raise ModerationError("The thread needs a title.", name)
        cleaned[name] = value
    if item.post is not None and not item.post.is_opening and not cleaned.get("body"):
        raise ModerationError("The post cannot be empty.", "body")
    return cleaned


def _apply_edit(item: ReviewItem, values: dict[str, str]) -> None:
    thread = item.thread
    if item.post is None:
        source = values.get("outcome") or ""
        thread.outcome_source, thread.outcome_html = source, text.cook(source)
        return
    post = item.post
    if post.is_opening:
        thread.title = values["title"]
        tags = cases.parse_tags(values.get("tags", ""))
        thread.tags = [ThreadTag(tag=tag) for tag in tags]
    if post.is_opening and thread.is_case:
        sections = {name: values.get(name, "") for name, _ in cases.CASE_SECTIONS}
        thread.sections = [
            CaseSection(name=name, source=source, html=text.cook(source))
            for name, source in sections.items()
            if source
        ]
        draft = cases.CaseDraft(
            thread.title, thread.age_band or "", thread.sex or "", thread.setting or "", sections
        )
        source = cases.assemble_case(draft)
    else:
        source = values["body"]
    if source != post.source:
        db.session.execute(sa.delete(PostRevision).where(PostRevision.post_id == post.id))
        post.source, post.html, post.edited_at = source, text.cook(source), utcnow()


def _rescreen(values: Mapping[str, str]) -> None:
    """Refuse a redaction that still holds a clear identifier (the site allow-list applies)."""
    result = phi.gate(values, allowed_terms=policy.allowed_terms())
    for name, found in result.findings.items():
        for finding in found:
            if finding.action is phi.Action.BLOCK:
                quoted = values[name][finding.start : finding.end]
                raise ModerationError(
                    f"This still looks like a patient identifier: “{quoted}”. "
                    f"{finding.reason} Redact it, or mark the finding as a false positive.",
                    name,
                )


def edit_and_approve(moderator: User, item: ReviewItem, values: Mapping[str, str]) -> None:
    """Redact in place, then publish; commits. The redacted text goes through the PHI gate
    again (a missed identifier is refused, the moderator's text kept), and the held text is
    not kept as a revision: it is what was held. Earlier revisions go too, since they may
    carry the same identifier."""
    _require_moderator(moderator)
    if not item.is_open:
        raise ModerationError("This item was already decided.")
    try:
        cleaned = _check_edit(item, values)
        _rescreen(cleaned)
        _apply_edit(item, cleaned)
    except ValueError as problem:
        raise ModerationError(str(problem), "tags") from None
    _publish(item, "A moderator edited it before publishing it.")
    _close(item, moderator, ReviewStatus.APPROVED, "")
    fields = sorted(cleaned)
    audit.record(
        moderator,
        "moderation.edited_and_approved",
        item,
        thread_id=item.thread_id,
        post_id=item.post_id,
        fields=fields,
    )
    notice = _notice(item, "approved", "A moderator edited it before publishing it.")
    db.session.commit()
    _tell(notice)


def _purge_post(post: Post) -> list[Path]:
    """Purge the text, revisions, flag notes, queue findings and images; a tombstone stays."""
    thread = post.thread
    post.source = ""
    post.html = text.cook(f"*{TOMBSTONE}*")
    db.session.execute(sa.delete(PostRevision).where(PostRevision.post_id == post.id))
    db.session.execute(sa.delete(Mention).where(Mention.post_id == post.id))
    db.session.execute(sa.update(Flag).where(Flag.post_id == post.id).values(note=None))
    db.session.execute(
        sa.update(ReviewItem).where(ReviewItem.post_id == post.id).values(findings=[])
    )
    files = [attachments.path_of(image) for image in post.images]
    db.session.execute(sa.delete(PostImage).where(PostImage.post_id == post.id))
    db.session.expire(post, ["images"])
    if post.is_opening:
        thread.title = TOMBSTONE
        thread.tags = []
        thread.sections = []
        thread.outcome_source = thread.outcome_html = None
        db.session.execute(sa.delete(Poll).where(Poll.thread_id == thread.id))
        db.session.execute(
            sa.update(ReviewItem)
            .where(ReviewItem.thread_id == thread.id, ReviewItem.post_id.is_(None))
            .values(findings=[])
        )
    return files


def _remove_files(files: list[Path]) -> None:
    for path in files:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            log.warning("Could not remove the image file %s of a rejected post", path.name)


def reject(moderator: User, item: ReviewItem, reason: str) -> None:
    """Refuse the content and purge its text everywhere (a tombstone stays); commits.

    Image files are deleted once the purge is committed, so a failed commit keeps them.
    """
    _require_moderator(moderator)
    if not item.is_open:
        raise ModerationError("This item was already decided.")
    reason = _reason(reason)
    thread = item.thread
    files: list[Path] = []
    if item.post is None:
        thread.outcome_source = thread.outcome_html = None
        thread.outcome_visibility = Visibility.REJECTED
        db.session.execute(
            sa.update(ReviewItem)
            .where(ReviewItem.thread_id == thread.id, ReviewItem.post_id.is_(None))
            .values(findings=[])
        )
    else:
        post = item.post
        _set_post_visibility(post, Visibility.REJECTED)
        files = _purge_post(post)
        _refresh(thread)
    _close(item, moderator, ReviewStatus.REJECTED, reason)
    notify.moderation_decided(thread, item.post, Decision.REJECTED, reason)
    audit.record(
        moderator,
        "moderation.rejected",
        item,
        thread_id=item.thread_id,
        post_id=item.post_id,
        reason=reason,
    )
    notice = _notice(item, "rejected", reason)
    db.session.commit()
    _remove_files(files)
    _tell(notice)


def allow_term(moderator: User, item: ReviewItem, field: str, start: int, end: int) -> str:
    """Mark a finding a false positive: its text joins the site allow-list; commits.

    Returns the term. The item's findings for that term are dropped; the item stays open.
    """
    _require_moderator(moderator)
    source = field_texts(item).get(field)
    if source is None or not 0 <= start < end <= len(source):
        raise ModerationError("That finding is no longer in the text.")
    term = " ".join(source[start:end].split()).casefold()
    if not term or len(term) > TERM_MAX:
        raise ModerationError(f"Allowed terms are 1 to {TERM_MAX} characters.")
    exists = db.session.scalar(sa.select(AllowedTerm.id).where(AllowedTerm.term == term))
    if exists is None:
        db.session.add(AllowedTerm(term=term, added_by_id=moderator.id, created_at=utcnow()))
    texts = field_texts(item)
    item.findings = [
        row
        for row in item.findings or []
        if " ".join(
            texts.get(str(row.get("field")), "")[int(row["start"]) : int(row["end"])].split()
        ).casefold()
        != term
    ]
    audit.record(moderator, "moderation.false_positive", item, post_id=item.post_id)
    db.session.commit()
    return term


def allowed_terms() -> list[AllowedTerm]:
    """The site allow-list, alphabetical."""
    return list(db.session.scalars(sa.select(AllowedTerm).order_by(AllowedTerm.term)))


def remove_allowed_term(moderator: User, term: AllowedTerm) -> None:
    """Take a term off the allow-list; commits."""
    _require_moderator(moderator)
    audit.record(moderator, "moderation.allowed_term_removed", term)
    db.session.delete(term)
    db.session.commit()


# --- Flags -------------------------------------------------------------------------------------


def flag_post(member: User, post: Post, reason: str, note: str) -> Flag:
    """A member flags a post; enough flags hide it until a moderator decides; commits."""
    if not can_see_post(member, post) or post.is_deleted:
        raise ModerationError("You cannot flag this post.")
    if member.id == post.author_id:
        raise ModerationError("You cannot flag your own post.")
    if reason not in {str(choice) for choice in FlagReason}:
        raise ModerationError("Choose a reason.", "reason")
    note = note.replace("\r\n", "\n").strip()
    if len(note) > NOTE_MAX:
        raise ModerationError(f"Keep the note to {NOTE_MAX} characters.", "note")
    if note and policy.screen({"note": note}).findings:
        raise ModerationError(
            "Your note may identify a patient: describe the problem without quoting it.", "note"
        )
    flag = Flag(
        post_id=post.id, user_id=member.id, reason=reason, note=note or None, created_at=utcnow()
    )
    try:
        with db.session.begin_nested():
            db.session.add(flag)
    except IntegrityError:
        raise ModerationError("You have already flagged this post.") from None
    audit.record(member, "post.flagged", post, thread_id=post.thread_id, reason=reason)
    policy.enqueue(post.thread, post, [ReviewReason.FLAGS])
    if post.visibility == Visibility.PUBLISHED and _flags_hide(post, member, reason):
        _set_post_visibility(post, Visibility.PENDING)
        audit.record(None, "moderation.hidden_by_flags", post, thread_id=post.thread_id)
        _refresh(post.thread)
    db.session.commit()
    return flag


def _flags_hide(post: Post, flagger: User, reason: str) -> bool:
    if reason == FlagReason.PATIENT_IDENTIFIERS and flagger.has_role(Role.MODERATOR):
        return True
    count = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(Flag.user_id))).where(
            Flag.post_id == post.id, Flag.resolved_at.is_(None)
        )
    )
    return int(count or 0) >= FLAGS_TO_HIDE


# --- Watched words -----------------------------------------------------------------------------


def watched_words() -> list[WatchedWord]:
    """Every watched word, by action then pattern."""
    return list(
        db.session.scalars(sa.select(WatchedWord).order_by(WatchedWord.action, WatchedWord.pattern))
    )


def add_watched_word(moderator: User, pattern: str, is_regex: bool, action: str) -> WatchedWord:
    """Watch for a word or pattern (validated, and refused if it could run away); commits."""
    _require_moderator(moderator)
    pattern = pattern.strip()
    try:
        policy.compile_pattern(pattern, is_regex)
    except policy.PatternError as problem:
        raise ModerationError(str(problem), "pattern") from None
    if action not in {str(choice) for choice in WatchAction}:
        raise ModerationError("Choose an action.", "action")
    word = WatchedWord(
        pattern=pattern,
        is_regex=is_regex,
        action=action,
        created_by_id=moderator.id,
        created_at=utcnow(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(word)
    except IntegrityError:
        raise ModerationError("That pattern is already watched.", "pattern") from None
    audit.record(moderator, "moderation.watched_word_added", word, effect=action, regex=is_regex)
    db.session.commit()
    return word


def remove_watched_word(moderator: User, word: WatchedWord) -> None:
    """Stop watching for a word; commits."""
    _require_moderator(moderator)
    audit.record(moderator, "moderation.watched_word_removed", word, effect=word.action)
    db.session.delete(word)
    db.session.commit()


def try_pattern(pattern: str, is_regex: bool, sample: str) -> list[tuple[int, int]]:
    """Where a pattern matches a sample text (the test box); nothing is stored."""
    if len(sample) > SAMPLE_MAX:
        raise ModerationError(f"Keep the sample to {SAMPLE_MAX:,} characters.", "sample")
    try:
        matcher = policy.compile_pattern(pattern, is_regex)
    except policy.PatternError as problem:
        raise ModerationError(str(problem), "pattern") from None
    return [(m.start(), m.end()) for m in matcher.finditer(sample) if m.end() > m.start()]


# --- Actions on threads, posts and members -----------------------------------------------------


def lock_thread(moderator: User, thread: Thread, reason: str) -> None:
    """Lock a thread: no new replies or edits; commits."""
    _require_moderator(moderator)
    reason = _reason(reason, required=False)
    if policy.is_locked(thread):
        raise ModerationError("This thread is already locked.")
    db.session.add(
        ThreadLock(
            thread_id=thread.id, locked_by_id=moderator.id, locked_at=utcnow(), reason=reason
        )
    )
    audit.record(moderator, "moderation.thread_locked", thread, reason=reason)
    db.session.commit()


def unlock_thread(moderator: User, thread: Thread) -> None:
    """Unlock a thread; commits."""
    _require_moderator(moderator)
    lock = db.session.get(ThreadLock, thread.id)
    if lock is None:
        raise ModerationError("This thread is not locked.")
    db.session.delete(lock)
    audit.record(moderator, "moderation.thread_unlocked", thread)
    db.session.commit()


def move_thread(moderator: User, thread: Thread, community: Community) -> None:
    """Move a thread to another community; both counts are refreshed; commits."""
    _require_moderator(moderator)
    if community.id == thread.community_id:
        raise ModerationError("The thread is already in that community.", "community")
    source = thread.community_id
    thread.community_id = community.id
    cases.refresh_community(source)
    cases.refresh_community(community.id)
    audit.record(moderator, "moderation.thread_moved", thread, source=source, to=community.id)
    db.session.commit()


def hide_post(moderator: User, post: Post, reason: str) -> None:
    """Hide a published post (its author still sees it, marked); commits."""
    _require_moderator(moderator)
    reason = _reason(reason)
    if post.visibility != Visibility.PUBLISHED:
        raise ModerationError("Only a published post can be hidden.")
    _set_post_visibility(post, Visibility.REMOVED)
    _refresh(post.thread)
    notify.moderation_decided(post.thread, post, Decision.HIDDEN, reason)
    audit.record(moderator, "moderation.post_hidden", post, thread_id=post.thread_id, reason=reason)
    db.session.commit()


def restore_post(moderator: User, post: Post) -> None:
    """Publish a hidden post again; commits."""
    _require_moderator(moderator)
    if post.visibility != Visibility.REMOVED:
        raise ModerationError("Only a hidden post can be restored.")
    _set_post_visibility(post, Visibility.PUBLISHED)
    _refresh(post.thread)
    audit.record(moderator, "moderation.post_restored", post, thread_id=post.thread_id)
    db.session.commit()


def suspend_member(moderator: User, member: User, days: int, reason: str) -> PostingSuspension:
    """Stop a member posting for some days (they still read); commits."""
    _require_moderator(moderator)
    reason = _reason(reason)
    if member.id == moderator.id:
        raise ModerationError("You cannot suspend yourself.")
    if not 1 <= days <= SUSPENSION_DAYS_MAX:
        raise ModerationError(f"Choose 1 to {SUSPENSION_DAYS_MAX} days.", "days")
    now = utcnow()
    suspension = db.session.get(PostingSuspension, member.id)
    if suspension is None:
        suspension = PostingSuspension(user_id=member.id)
        db.session.add(suspension)
    suspension.until = now + timedelta(days=days)
    suspension.reason = reason
    suspension.suspended_by_id = moderator.id
    suspension.created_at = now
    audit.record(moderator, "moderation.member_suspended", member, days=days, reason=reason)
    db.session.commit()
    return suspension


def lift_suspension(moderator: User, member: User) -> None:
    """Let a suspended member post again; commits."""
    _require_moderator(moderator)
    suspension = db.session.get(PostingSuspension, member.id)
    if suspension is None:
        raise ModerationError("This member is not suspended.")
    db.session.delete(suspension)
    audit.record(moderator, "moderation.member_unsuspended", member)
    db.session.commit()


# --- The log -----------------------------------------------------------------------------------


def moderation_log(before_id: int | None = None) -> list[AuditEvent]:
    """Moderation and post events, newest first, one page and one more (to know of a next)."""
    query = (
        sa.select(AuditEvent)
        .where(sa.or_(AuditEvent.action.like("moderation.%"), AuditEvent.action.like("post.%")))
        .order_by(AuditEvent.id.desc())
        .limit(LOG_PAGE + 1)
        .options(joinedload(AuditEvent.actor))
    )
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return list(db.session.scalars(query))


def communities() -> list[Community]:
    """Every community, by name (for the move form)."""
    return list(db.session.scalars(sa.select(Community).order_by(Community.name)))


def member_by_id(user_id: int) -> User | None:
    """A member by id."""
    if not 0 < user_id < 2**31:
        return None
    return db.session.get(User, user_id)

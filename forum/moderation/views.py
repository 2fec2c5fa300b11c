"""Moderator pages: the review queue, watched words, actions on threads, posts and members, the log.

Every endpoint here is for moderators (admins included); members get 403.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms.fields import SelectChoice

from forum import phi
from forum.access import role_required
from forum.accounts.models import Role, User
from forum.cases import forms as case_forms
from forum.cases import queries
from forum.cases.models import Post, Thread
from forum.extensions import db
from forum.moderation import forms, policy, services
from forum.moderation.models import AllowedTerm, ReviewItem, WatchedWord

bp = Blueprint("moderation", __name__, url_prefix="/moderation")

View = str | Response | tuple[str, int]
INVALID = 422
moderator = role_required(Role.MODERATOR)


def _item(item_id: int) -> ReviewItem:
    item = services.get_item(item_id)
    if item is None:
        abort(404)
    return item


def _thread(thread_id: int) -> Thread:
    thread = queries.load_thread(thread_id)
    if thread is None:
        abort(404)
    return thread


def _post(post_id: int) -> Post:
    post = queries.load_post(post_id)
    if post is None:
        abort(404)
    return post


def _member(user_id: int) -> User:
    member = services.member_by_id(user_id)
    if member is None:
        abort(404)
    return member


def _shown(item: ReviewItem) -> list[case_forms.FieldFindings]:
    """The item's findings per field, in segments for highlighting."""
    texts = services.field_texts(item)
    found = services.item_findings(item)
    return [
        case_forms.FieldFindings(
            name, name.replace("_", " ").capitalize(), case_forms.segments(texts[name], f), f
        )
        for name, f in sorted(found.items())
    ]


def _item_context(item: ReviewItem, **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "item": item,
        "shown": _shown(item),
        "flags": services.flags_for(item),
        "fields": services.editable_fields(item),
        "reject_form": forms.ReasonForm(formdata=None),
        "action_form": forms.ActionForm(),
        "field_errors": {},
    }
    context.update(extra)
    return context


# --- The queue ---------------------------------------------------------------------------------


@bp.route("/queue")
@moderator
def queue() -> str:
    """Held, flagged and watched-word items, oldest first."""
    items = services.queue()
    return render_template(
        "moderation/queue.html",
        items=[_item_context(item) for item in items],
        count=services.open_count(),
    )


@bp.route("/items/<int:item_id>")
@moderator
def item(item_id: int) -> str:
    """One item with its findings, flags, and the edit-and-approve form."""
    return render_template("moderation/item.html", **_item_context(_item(item_id)))


@bp.route("/items/<int:item_id>/approve", methods=["POST"])
@moderator
def approve(item_id: int) -> Response:
    """Publish the held content."""
    found = _item(item_id)
    try:
        services.approve(current_user, found)
    except services.ModerationError as error:
        flash(error.message, "error")
    else:
        flash("Approved and published; the author was told.", "success")
    return redirect(url_for("moderation.queue"))


@bp.route("/items/<int:item_id>/edit", methods=["POST"])
@moderator
def edit_approve(item_id: int) -> View:
    """Redact in place, then publish; a redaction that still holds an identifier comes back."""
    found, form = _item(item_id), forms.ActionForm()
    if not form.validate():
        abort(400)
    values = {name: request.form.get(name, "") for name in services.editable_fields(found)}
    try:
        services.edit_and_approve(current_user, found, values)
    except services.ModerationError as error:
        errors = {error.field or "body": [error.message]}
        context = _item_context(found, fields=values, field_errors=errors)
        return render_template("moderation/item.html", **context), INVALID
    flash("Edited, approved and published; the author was told.", "success")
    return redirect(url_for("moderation.queue"))


@bp.route("/items/<int:item_id>/reject", methods=["POST"])
@moderator
def reject(item_id: int) -> View:
    """Refuse the content with a reason; its text is purged and a tombstone stays."""
    found, form = _item(item_id), forms.ReasonForm()
    if form.validate():
        try:
            services.reject(current_user, found, form.reason.data or "")
        except services.ModerationError as error:
            flash(error.message, "error")
        else:
            flash("Rejected: the text was purged and the author was told.", "success")
        return redirect(url_for("moderation.queue"))
    context = _item_context(found, reject_form=form)
    return render_template("moderation/item.html", **context), INVALID


@bp.route("/items/<int:item_id>/allow", methods=["POST"])
@moderator
def allow_term(item_id: int) -> Response:
    """Mark a finding a false positive: its text joins the site allow-list."""
    found, form = _item(item_id), forms.AllowForm()
    if form.validate():
        try:
            term = services.allow_term(
                current_user, found, form.field.data or "", form.start.data or 0, form.end.data or 0
            )
        except services.ModerationError as error:
            flash(error.message, "error")
        else:
            flash(f"“{term}” is on the allow-list; the gate lets it through.", "success")
    return redirect(url_for("moderation.item", item_id=found.id))


# --- Watched words and the allow-list ----------------------------------------------------------


def _words_page(
    form: forms.WatchedWordForm | None = None,
    try_form: forms.TryPatternForm | None = None,
    matches: list[case_forms.Segment] | None = None,
) -> str:
    return render_template(
        "moderation/watched_words.html",
        words=services.watched_words(),
        terms=services.allowed_terms(),
        form=form or forms.WatchedWordForm(formdata=None),
        try_form=try_form or forms.TryPatternForm(formdata=None),
        matches=matches,
        action_form=forms.ActionForm(),
    )


@bp.route("/watched-words", methods=["GET", "POST"])
@moderator
def watched_words() -> View:
    """The watched words, a form to add one, and the test box."""
    if request.method == "GET":
        return _words_page()
    form = forms.WatchedWordForm()
    if form.validate():
        try:
            services.add_watched_word(
                current_user, form.pattern.data or "", bool(form.is_regex.data), form.action.data
            )
        except services.ModerationError as error:
            form.pattern.errors = [*form.pattern.errors, error.message]
        else:
            flash("The gate now watches for it.", "success")
            return redirect(url_for("moderation.watched_words"))
    return _words_page(form=form), INVALID


@bp.route("/watched-words/try", methods=["POST"])
@moderator
def try_pattern() -> View:
    """Show where a pattern matches a sample; nothing is stored."""
    form = forms.TryPatternForm()
    if form.validate():
        sample = form.sample.data or ""
        try:
            spans = services.try_pattern(form.pattern.data or "", bool(form.is_regex.data), sample)
        except services.ModerationError as error:
            form.pattern.errors = [*form.pattern.errors, error.message]
        else:
            findings = [policy_finding(start, end) for start, end in spans]
            return _words_page(try_form=form, matches=case_forms.segments(sample, findings))
    return _words_page(try_form=form), INVALID


def policy_finding(start: int, end: int) -> phi.Finding:
    """A stand-in finding for highlighting a test-box match."""
    return phi.Finding(start, end, phi.Kind.OTHER_ID, phi.Action.REVIEW, "Matches the pattern.")


@bp.route("/watched-words/<int:word_id>/delete", methods=["POST"])
@moderator
def delete_watched_word(word_id: int) -> Response:
    """Stop watching for a word."""
    word = db.session.get(WatchedWord, word_id) if 0 < word_id < 2**31 else None
    if word is None:
        abort(404)
    services.remove_watched_word(current_user, word)
    flash("No longer watched.", "success")
    return redirect(url_for("moderation.watched_words"))


@bp.route("/allowed-terms/<int:term_id>/delete", methods=["POST"])
@moderator
def delete_allowed_term(term_id: int) -> Response:
    """Take a term off the allow-list."""
    term = db.session.get(AllowedTerm, term_id) if 0 < term_id < 2**31 else None
    if term is None:
        abort(404)
    services.remove_allowed_term(current_user, term)
    flash("Removed from the allow-list.", "success")
    return redirect(url_for("moderation.watched_words"))


# --- Threads and posts -------------------------------------------------------------------------


def _thread_back(thread: Thread) -> Response:
    return redirect(url_for("cases.thread", thread_id=thread.id))


@bp.route("/threads/<int:thread_id>/lock", methods=["POST"])
@moderator
def lock(thread_id: int) -> Response:
    """Lock a thread: no new replies."""
    found, form = _thread(thread_id), forms.LockForm()
    if form.validate():
        try:
            services.lock_thread(current_user, found, form.reason.data or "")
        except services.ModerationError as error:
            flash(error.message, "error")
        else:
            flash("The thread is locked.", "success")
    return _thread_back(found)


@bp.route("/threads/<int:thread_id>/unlock", methods=["POST"])
@moderator
def unlock(thread_id: int) -> Response:
    """Unlock a thread."""
    found = _thread(thread_id)
    try:
        services.unlock_thread(current_user, found)
    except services.ModerationError as error:
        flash(error.message, "error")
    else:
        flash("The thread is unlocked.", "success")
    return _thread_back(found)


@bp.route("/threads/<int:thread_id>/move", methods=["POST"])
@moderator
def move(thread_id: int) -> Response:
    """Move a thread to another community."""
    found, form = _thread(thread_id), forms.MoveForm()
    targets = {community.id: community for community in services.communities()}
    form.community.choices = [SelectChoice(cid, c.name) for cid, c in targets.items()]
    if form.validate():
        try:
            services.move_thread(current_user, found, targets[form.community.data])
        except services.ModerationError as error:
            flash(error.message, "error")
        else:
            flash(f"Moved to {targets[form.community.data].name}.", "success")
    else:
        flash("Choose a community.", "error")
    return _thread_back(found)


@bp.route("/posts/<int:post_id>/hide", methods=["POST"])
@moderator
def hide(post_id: int) -> Response:
    """Hide a published post."""
    found, form = _post(post_id), forms.ReasonForm()
    if form.validate():
        try:
            services.hide_post(current_user, found, form.reason.data or "")
        except services.ModerationError as error:
            flash(error.message, "error")
        else:
            flash("The post is hidden.", "success")
    else:
        flash("Give a reason to hide the post.", "error")
    return redirect(url_for("cases.jump", post_id=found.id))


@bp.route("/posts/<int:post_id>/restore", methods=["POST"])
@moderator
def restore(post_id: int) -> Response:
    """Publish a hidden post again."""
    found = _post(post_id)
    try:
        services.restore_post(current_user, found)
    except services.ModerationError as error:
        flash(error.message, "error")
    else:
        flash("The post is published again.", "success")
    return redirect(url_for("cases.jump", post_id=found.id))


# --- Members -----------------------------------------------------------------------------------


@bp.route("/posts/<int:post_id>/author")
@moderator
def post_author(post_id: int) -> Response:
    """The suspension page of a named post's author (anonymous authors need a reveal first)."""
    found = _post(post_id)
    if found.anonymous:
        flash("This post is anonymous: reveal its author, with a reason, first.", "error")
        return redirect(url_for("cases.jump", post_id=found.id))
    return redirect(url_for("moderation.member", user_id=found.author_id))


@bp.route("/members/<int:user_id>", methods=["GET", "POST"])
@moderator
def member(user_id: int) -> View:
    """A member's posting suspension: see it, set it, or lift it."""
    found = _member(user_id)
    form = forms.SuspendForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                services.suspend_member(
                    current_user, found, form.days.data or 0, form.reason.data or ""
                )
            except services.ModerationError as error:
                flash(error.message, "error")
            else:
                flash("The member can read but not post until the suspension ends.", "success")
                return redirect(url_for("moderation.member", user_id=found.id))
        status = INVALID
    page = render_template(
        "moderation/member.html",
        member=found,
        form=form,
        suspension=policy.posting_suspension(found),
        action_form=forms.ActionForm(),
    )
    return (page, status) if status != 200 else page


@bp.route("/members/<int:user_id>/unsuspend", methods=["POST"])
@moderator
def unsuspend(user_id: int) -> Response:
    """Let a member post again."""
    found = _member(user_id)
    try:
        services.lift_suspension(current_user, found)
    except services.ModerationError as error:
        flash(error.message, "error")
    else:
        flash("The member can post again.", "success")
    return redirect(url_for("moderation.member", user_id=found.id))


# --- The log -----------------------------------------------------------------------------------


@bp.route("/log")
@moderator
def log() -> str:
    """Moderation and post events, newest first."""
    before = request.args.get("before", type=int)
    events = services.moderation_log(before if before and 0 < before < 2**62 else None)
    more = len(events) > services.LOG_PAGE
    return render_template("moderation/log.html", events=events[: services.LOG_PAGE], more=more)


@bp.app_context_processor
def _moderation_helpers() -> dict[str, Any]:
    # Functions, so their queries run only where a template asks.
    return {
        "moderation_queue_count": services.open_count,
        "moderation_communities": services.communities,
    }

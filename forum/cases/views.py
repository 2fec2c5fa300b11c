"""Case pages: communities, new cases and discussions, threads, replies and what members do to them.

Every page is for verified physicians; revealing an anonymous author is for moderators.
Mutations are POSTs and go back to the post's anchor on its thread page.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from forum.access import physician, role_required
from forum.accounts.models import Role
from forum.cases import cards, forms, queries, services
from forum.cases.communities import community_by_slug
from forum.cases.models import Community, Post, Thread
from forum.cases.visibility import can_see_post
from forum.moderation.forms import FlagForm
from forum.moderation.services import ModerationError, flag_post

bp = Blueprint("cases", __name__)

View = str | Response | tuple[str, int]
INVALID = 422
BLOCKED_HINT = "This may identify a patient: see the highlighted text above."


# --- Small helpers -----------------------------------------------------------------------------


def _page() -> int:
    page = request.args.get("page", 1, type=int)
    if page < 1 or page > queries.MAX_PAGE:
        abort(404)
    return page


def _community(slug: str) -> Community:
    community = community_by_slug(slug)
    if community is None:
        abort(404)
    return community


def _thread(thread_id: int) -> Thread:
    thread = queries.visible_thread(current_user, thread_id)
    if thread is None:
        abort(404)
    return thread


def _post(post_id: int) -> Post:
    post = queries.load_post(post_id)
    if post is None or not can_see_post(current_user, post):
        abort(404)
    return post


def post_url(post: Post) -> str:
    """The post's place on its thread page, as the viewer sees it."""
    page = queries.page_of_post(current_user, post)
    values: dict[str, Any] = {"page": page} if page > 1 else {}
    return url_for("cases.thread", thread_id=post.thread_id, _anchor=f"p{post.id}", **values)


def _failed(
    form: FlaskForm, problem: services.InvalidSubmission | services.Blocked
) -> dict[str, Any]:
    """Errors beside their fields, and the PHI findings for the partial; the text stays."""
    if isinstance(problem, services.Blocked):
        hints = {name: [BLOCKED_HINT] for name in problem.result.findings}
        rest = forms.mark_fields(form, hints)
        return {"phi": forms.findings_for(problem, form), "extra_errors": rest}
    return {"extra_errors": forms.mark_fields(form, problem.errors)}


def _extras_context(extras_errors: dict[str, list[str]], poll: dict[str, str]) -> dict[str, Any]:
    poll_errors = dict(poll)
    for name, messages in extras_errors.items():
        if name.startswith("poll_"):
            poll_errors.setdefault(name, messages[0])
    image_errors = extras_errors.get("images", [])
    return {"poll_errors": poll_errors, "image_errors": image_errors}


# --- Communities -------------------------------------------------------------------------------


@bp.route("/communities")
@physician
def communities() -> str:
    """Every specialty community, with its number of threads."""
    return render_template("cases/communities.html", communities=queries.community_counts())


@bp.route("/c/<slug>")
@physician
def community(slug: str) -> str:
    """A community's threads by latest activity."""
    found = _community(slug)
    listing = queries.community_threads(current_user, found, _page())
    return render_template("cases/community.html", community=found, listing=listing)


def _open(
    community: Community, form: forms.CaseForm | forms.DiscussionForm, extras: services.Extras
) -> Thread:
    anonymous = bool(form.anonymous.data)
    if isinstance(form, forms.CaseForm):
        return services.open_case(current_user, community, form.draft(anonymous=anonymous), extras)
    draft = form.draft(anonymous=anonymous)
    return services.open_discussion(current_user, community, draft, extras)


def _new_thread(slug: str, form: forms.CaseForm | forms.DiscussionForm, template: str) -> View:
    found = _community(slug)
    is_case = isinstance(form, forms.CaseForm)
    context: dict[str, Any] = {"community": found, "form": form}
    if not form.is_submitted():
        return render_template(template, **context)
    uploads = request.files.getlist("images") if is_case else []
    valid = form.validate()
    extras, poll_errors, image_errors = services.read_extras(
        request.form, uploads if valid else [], images_allowed=is_case
    )
    context.update(poll_errors=poll_errors, image_errors=image_errors)
    if valid and not poll_errors and not image_errors:
        try:
            thread = _open(found, form, extras)
        except (services.InvalidSubmission, services.Blocked) as problem:
            failed = _failed(form, problem)
            context.update(failed, **_extras_context(failed.pop("extra_errors"), poll_errors))
        else:
            if thread.is_published:
                flash("Your thread is published.", "success")
            else:
                flash("Your thread is waiting for a moderator; until then only you see it.", "info")
            return redirect(url_for("cases.thread", thread_id=thread.id))
    return render_template(template, **context), INVALID


@bp.route("/c/<slug>/new-case", methods=["GET", "POST"])
@physician
def new_case(slug: str) -> View:
    """Present a structured, de-identified case to a community."""
    return _new_thread(slug, forms.CaseForm(), "cases/new_case.html")


@bp.route("/c/<slug>/new-discussion", methods=["GET", "POST"])
@physician
def new_discussion(slug: str) -> View:
    """Start a discussion in a community."""
    return _new_thread(slug, forms.DiscussionForm(), "cases/new_discussion.html")


# --- The thread page ---------------------------------------------------------------------------


def post_paths() -> cards.PostPaths:
    """Post and image path prefixes, built once a page from the routes themselves."""
    post_path, image_path = url_for("cases.jump", post_id=0), url_for("media.image", image_id=0)
    return cards.PostPaths(post_path.removesuffix("0"), image_path.removesuffix("0"))


@bp.app_template_global("image_cards")
def image_cards(post: Post) -> tuple[cards.ImageCard, ...]:
    """A post's images as pages link them (pages other than the thread page)."""
    return cards.image_cards(post.images, post_paths())


def _render_thread(thread: Thread, page: int, reply_form: forms.ReplyForm, **extra: Any) -> str:
    view = queries.thread_page(current_user, thread, page)
    if view is None:
        abort(404)
    if view.unread:
        services.mark_read(current_user, thread)
    marks = cards.PageMarks(view.voted, view.bookmarked, view.moderator)
    paths = post_paths()
    return render_template(
        "cases/thread.html", view=view, thread=thread, reply_form=reply_form,
        cards=[cards.post_card(post, thread, current_user, marks, paths) for post in view.posts],
        thread_path=url_for("cases.thread", thread_id=thread.id),
        case_sections=services.CASE_SECTIONS, **extra,
    )  # fmt: skip


@bp.route("/t/<int:thread_id>")
@physician
def thread(thread_id: int) -> str:
    """A thread, 20 posts a page, with the reply form (prefilled when quoting)."""
    found = _thread(thread_id)
    reply_form = forms.ReplyForm(formdata=None)
    quoted = services.quotable_post(current_user, found, request.args.get("quote", type=int))
    if quoted is not None:
        link = url_for("cases.jump", post_id=quoted.id)
        reply_form.body.data = services.quote_source(quoted, link)
        reply_form.quoted_post_id.data = str(quoted.id)
    return _render_thread(found, _page(), reply_form)


@bp.route("/t/<int:thread_id>/reply", methods=["POST"])
@physician
def reply(thread_id: int) -> View:
    """Reply to a thread; problems come back on the reply page with the text kept."""
    found = _thread(thread_id)
    form = forms.ReplyForm()
    context: dict[str, Any] = {"thread": found, "form": form}
    if form.validate():
        try:
            post = services.reply(
                current_user,
                found,
                form.body.data or "",
                anonymous=bool(form.anonymous.data),
                quoted_post_id=form.quoted_id(),
            )
        except (services.InvalidSubmission, services.Blocked) as problem:
            context.update(_failed(form, problem))
        else:
            if not post.is_live:
                flash("Your reply is waiting for a moderator; until then only you see it.", "info")
            return redirect(post_url(post))
    return render_template("cases/reply.html", **context), INVALID


@bp.route("/p/<int:post_id>")
@physician
def jump(post_id: int) -> Response:
    """A post's permanent link: its place on its thread page."""
    return redirect(post_url(_post(post_id)))


@bp.route("/t/<int:thread_id>/follow", methods=["POST"])
@physician
def follow(thread_id: int) -> Response:
    """Follow a thread, or stop following it."""
    found, form = _thread(thread_id), forms.ToggleForm()
    if form.validate():
        services.set_follow(current_user, found, form.on)
        done = "You follow this thread." if form.on else "You no longer follow this thread."
        flash(done, "success")
    return redirect(url_for("cases.thread", thread_id=found.id))


# --- Posts -------------------------------------------------------------------------------------


def _toggle(post_id: int, action: Any, done: tuple[str, str]) -> Response:
    post, form = _post(post_id), forms.ToggleForm()
    if form.validate():
        try:
            action(current_user, post, form.on)
        except services.NotAllowed:
            abort(403)  # not the member's to change; the page offers them no such button
        except services.CaseError as error:
            flash(error.message, "error")
        else:
            flash(done[0] if form.on else done[1], "success")
    return redirect(post_url(post))


@bp.route("/p/<int:post_id>/helpful", methods=["POST"])
@physician
def helpful(post_id: int) -> Response:
    """Mark a post helpful, or take the mark back."""
    return _toggle(post_id, services.set_helpful, ("Marked as helpful.", "Helpful mark removed."))


@bp.route("/p/<int:post_id>/bookmark", methods=["POST"])
@physician
def bookmark(post_id: int) -> Response:
    """Save a post to your bookmarks, or remove it (even once it was deleted)."""
    post, form = queries.load_post(post_id), forms.ToggleForm()
    if post is None or (form.on and not can_see_post(current_user, post)):
        abort(404)
    if form.validate():
        services.set_bookmark(current_user, post, form.on)
        flash("Bookmarked." if form.on else "Bookmark removed.", "success")
    back = request.form.get("next")
    if back == url_for("cases.bookmarks") or not can_see_post(current_user, post):
        return redirect(url_for("cases.bookmarks"))
    return redirect(post_url(post))


def _accept(member: Any, post: Post, on: bool) -> None:
    if on:
        services.accept(member, post)
    else:
        services.unaccept(member, post.thread)


@bp.route("/p/<int:post_id>/accept", methods=["POST"])
@physician
def accept(post_id: int) -> Response:
    """The case's author accepts this reply as the answer, or withdraws the acceptance."""
    done = ("Answer accepted: the case is solved.", "Acceptance withdrawn.")
    return _toggle(post_id, _accept, done)


@bp.route("/p/<int:post_id>/delete", methods=["POST"])
@physician
def delete(post_id: int) -> Response:
    """Delete a post (its author or a moderator); a tombstone stays in the thread."""
    post = _post(post_id)
    if not post.can_delete(current_user):
        abort(403)
    services.delete_post(current_user, post)  # CSRFProtect has checked the token
    flash("The post was deleted.", "success")
    return redirect(post_url(post))


@bp.route("/p/<int:post_id>/edit", methods=["GET", "POST"])
@physician
def edit(post_id: int) -> View:
    """Edit a post: a reply's text, or a thread's opening (case fields or discussion)."""
    post = _post(post_id)
    if not post.can_edit(current_user):
        abort(403)
    thread = post.thread
    form = _edit_form(post, thread)
    if not form.is_submitted():
        return render_template("cases/edit.html", form=form, post=post, thread=thread)
    context: dict[str, Any] = {"form": form, "post": post, "thread": thread}
    if form.validate():
        try:
            _save_edit(post, thread, form)
        except (services.InvalidSubmission, services.Blocked) as problem:
            context.update(_failed(form, problem))
        else:
            flash("Your changes are saved.", "success")
            return redirect(post_url(post))
    return render_template("cases/edit.html", **context), INVALID


def _edit_form(post: Post, thread: Thread) -> FlaskForm:
    if not post.is_opening:
        return forms.EditPostForm(data={"body": post.source})
    tags = ", ".join(tag.tag for tag in thread.tags)
    if thread.is_case:
        data: dict[str, Any] = {
            "title": thread.title, "age_band": thread.age_band, "sex": thread.sex,
            "setting": thread.setting, "tags": tags,
        }  # fmt: skip
        data.update({name: s.source for name, s in thread.section_map().items()})
        return forms.CaseFields(data=data)
    return forms.DiscussionFields(data={"title": thread.title, "body": post.source, "tags": tags})


def _save_edit(post: Post, thread: Thread, form: FlaskForm) -> None:
    if isinstance(form, forms.CaseFields):
        services.edit_case(current_user, thread, form.draft())
    elif isinstance(form, forms.DiscussionFields):
        services.edit_discussion(current_user, thread, form.draft())
    else:
        services.edit_post(current_user, post, form.body.data or "")


@bp.route("/p/<int:post_id>/history")
@physician
def history(post_id: int) -> str:
    """A post's earlier texts: for its author and moderators only."""
    post = _post(post_id)
    if not post.can_see_history(current_user):
        abort(403)
    return render_template(
        "cases/history.html", post=post, thread=post.thread, revisions=queries.revisions(post)
    )


@bp.route("/p/<int:post_id>/flag", methods=["GET", "POST"])
@physician
def flag(post_id: int) -> View:
    """Flag a post for the moderators, with a reason and an optional note."""
    post, form = _post(post_id), FlagForm()
    context = {"post": post, "thread": post.thread, "form": form}
    if not form.is_submitted():
        return render_template("cases/flag.html", **context)
    if form.validate():
        try:
            flag_post(current_user, post, form.reason.data or "", form.note.data or "")
        except ModerationError as error:
            form.form_errors.append(error.message)
        else:
            flash("Thank you: the moderators will look at this post.", "success")
            return redirect(
                post_url(post)
                if can_see_post(current_user, post)
                else url_for("cases.thread", thread_id=post.thread_id)
            )
    return render_template("cases/flag.html", **context), INVALID


@bp.route("/p/<int:post_id>/reveal", methods=["POST"])
@role_required(Role.MODERATOR)
def reveal(post_id: int) -> View:
    """Show a moderator who wrote an anonymous post; the reason goes to the audit log."""
    post, form = _post(post_id), forms.RevealForm()
    if form.validate():
        try:
            author = services.reveal_author(current_user, post, form.reason.data or "")
        except services.InvalidSubmission as problem:
            forms.mark_fields(form, problem.errors)
        except services.CaseError as error:
            flash(error.message, "error")
            return redirect(post_url(post))
        else:
            return render_template("cases/reveal.html", post=post, author=author, form=form)
    return render_template("cases/reveal.html", post=post, author=None, form=form), INVALID


# --- Case life ---------------------------------------------------------------------------------


@bp.route("/t/<int:thread_id>/outcome", methods=["GET", "POST"])
@physician
def outcome(thread_id: int) -> View:
    """The case's author adds (or rewrites) how the patient did."""
    found = _thread(thread_id)
    if not found.can_add_outcome(current_user):
        abort(403)
    form = forms.OutcomeForm(data={"outcome": found.outcome_source or ""})
    context: dict[str, Any] = {"thread": found, "form": form}
    if not form.is_submitted():
        return render_template("cases/outcome.html", **context)
    if form.validate():
        try:
            services.set_outcome(current_user, found, form.outcome.data or "")
        except (services.InvalidSubmission, services.Blocked) as problem:
            context.update(_failed(form, problem))
        else:
            flash("The outcome is saved.", "success")
            return redirect(url_for("cases.thread", thread_id=found.id, _anchor="outcome"))
    return render_template("cases/outcome.html", **context), INVALID


@bp.route("/bookmarks")
@physician
def bookmarks() -> str:
    """The posts you saved."""
    return render_template("cases/bookmarks.html", listing=queries.bookmarks(current_user, _page()))

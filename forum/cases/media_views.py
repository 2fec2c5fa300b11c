"""Voting in polls and serving case images, only to members who may see the post."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, send_file, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from forum.access import physician
from forum.cases import attachments, polls
from forum.cases.models import Poll, PostImage, Thread
from forum.cases.visibility import can_see_post, can_see_thread
from forum.extensions import db, utcnow

bp = Blueprint("media", __name__)

IMAGE_CACHE_CONTROL = "private, no-store"


def _chosen_options() -> list[int] | None:
    """The option ids ticked on the ballot, or None when the form was tampered with."""
    values = request.form.getlist("option")[: polls.MAX_OPTIONS + 1]
    if not all(value.isdigit() and len(value) < 12 for value in values):
        return None
    return [int(value) for value in values]


@bp.post("/polls/<int:poll_id>/vote")
@physician
def vote(poll_id: int) -> Response:
    """Cast the member's ballot, then back to the poll on the thread page."""
    poll = db.session.get(Poll, poll_id)
    thread = db.session.get(Thread, poll.thread_id) if poll is not None else None
    if poll is None or thread is None or not can_see_thread(current_user, thread):
        abort(404)
    thread_id = poll.thread_id
    chosen = _chosen_options()
    try:
        if chosen is None:
            raise polls.PollError("Choose one of the poll's options.")
        polls.cast_ballot(current_user, poll, chosen, utcnow())
    except polls.PollError as error:
        flash(error.message, "error")
    else:
        flash("Your vote is counted. Ballots are secret: nobody can see what you chose.", "success")
    return redirect(url_for("cases.thread", thread_id=thread_id, _anchor="poll"))


@bp.get("/images/<int:image_id>")
@physician
def image(image_id: int) -> Response:
    """An image on a post; 404 to anyone who may not see the post, so its existence stays hidden."""
    found = db.session.get(PostImage, image_id)
    if found is None or not can_see_post(current_user, found.post):
        abort(404)
    path = attachments.path_of(found)
    if not path.is_file():
        abort(404)
    extension = found.storage_name.rsplit(".", 1)[-1]
    response = send_file(path, mimetype=found.media_type, conditional=False, etag=False, max_age=0)
    # Never the member's own name for the file: it may carry the patient's.
    response.headers["Content-Disposition"] = f'inline; filename="image.{extension}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers["Cache-Control"] = IMAGE_CACHE_CONTROL
    response.headers["Pragma"] = "no-cache"
    return response

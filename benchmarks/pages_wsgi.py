"""The app as benchmarks/pages.py serves it with gunicorn, plus two routes to measure it by.

- `/bench/ceiling`: a one-line route, the ceiling for the real pages (issue 4's yardstick).
- `/bench/floor/<thread_id>`: what a thread page would cost if its whole HTML were cached. It
  does only the work no cache can spare a signed-in page: load the member, check that the
  thread exists and they may see it, read their marks on it (votes, bookmarks, follow, read,
  lock) and their unread notifications for the header, make the CSRF token, and send a body
  the size of a real thread page. Beside the ceiling it shows how much of the ceiling's rate
  any thread page, however it were built, could reach on this stack.

Configured from FORUM_* environment variables like any deployment (pages.py sets them).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from forum import create_app
from forum.access import physician, public
from forum.cases import queries
from forum.cases.models import Thread
from forum.cases.visibility import can_see_thread
from forum.extensions import db
from forum.notifications.services import unread_count

app = create_app()

# A seeded thread page of 20 posts is 30 to 35 KB of HTML.
CACHED_PAGE = "<p>" + "x" * 32_000 + "</p>"
_THREAD_ACCESS = sa.select(
    Thread.id, Thread.visibility, Thread.author_id, Thread.last_activity_at
).where(Thread.id == sa.bindparam("thread_id"))


@app.route("/bench/ceiling")
@public
def ceiling() -> str:
    """The least a request to this app can cost: the ceiling for the real pages."""
    return "ok"


@app.route("/bench/floor/<int:thread_id>")
@physician
def floor(thread_id: int) -> str:
    """A thread page served whole from a cache: the least a real one could cost."""
    thread = db.session.execute(_THREAD_ACCESS, {"thread_id": thread_id}).one_or_none()
    if thread is None or not can_see_thread(current_user, thread):
        abort(404)
    # Twenty ids stand in for the page's posts: the query costs the same, and a cached page
    # would know its posts' ids without asking the database.
    marks = queries.viewer_marks(current_user, thread, list(range(thread_id, thread_id + 20)))
    unread = unread_count(current_user, clinical=True)
    return f"{CACHED_PAGE}{generate_csrf()}{len(marks)}{unread}"

"""The app as benchmarks/pages.py serves it with gunicorn, plus a one-line route: the ceiling.

Configured from FORUM_* environment variables like any deployment (pages.py sets them).
"""

from __future__ import annotations

from forum import create_app
from forum.access import public

app = create_app()


@app.route("/bench/ceiling")
@public
def ceiling() -> str:
    """The least a request to this app can cost: the ceiling for the real pages."""
    return "ok"

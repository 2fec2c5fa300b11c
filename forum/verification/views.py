"""Where a member stands on the way to being a verified physician."""

from __future__ import annotations

from flask import Blueprint, render_template

from forum.access import signed_in

bp = Blueprint("verification", __name__, url_prefix="/verification")


@bp.route("/")
@signed_in
def status() -> str:
    """The member's verification status and what is still needed."""
    return render_template("verification/status.html")

"""Pages that are not a feature of their own: the front door and the legal texts."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from forum.access import Level, next_step_for, public, visitor_level

bp = Blueprint("pages", __name__)


@bp.route("/")
@public
def index() -> str | Response:
    """Strangers see what Curbside is; members go to the next step of their journey."""
    level = visitor_level()
    if level == Level.PUBLIC:
        return render_template("pages/landing.html")
    if level == Level.PASSWORD:
        return redirect(next_step_for(current_user))
    if level == Level.MEMBER:
        return redirect(url_for("verification.status"))
    return render_template("pages/home.html")


@bp.route("/about")
@public
def about() -> str:
    """What Curbside is, who may join, and how verification works."""
    return render_template("pages/about.html")


@bp.route("/privacy")
@public
def privacy() -> str:
    """What we keep about members, and what we never accept about patients."""
    return render_template("pages/privacy.html")


@bp.route("/terms")
@public
def terms() -> str:
    """The rules every member agrees to."""
    return render_template("pages/terms.html")

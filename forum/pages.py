"""Pages that are not a feature of their own: the front door and the legal texts."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from forum.access import Level, next_step_for, public, visitor_level
from forum.cases import queries
from forum.cases.communities import home_community

bp = Blueprint("pages", __name__)


@bp.route("/")
@public
def index() -> str | Response:
    """Strangers see what Curbside is; members go to the next step; physicians see their feed."""
    level = visitor_level()
    if level == Level.PUBLIC:
        return render_template("pages/landing.html")
    if level == Level.PASSWORD:
        return redirect(next_step_for(current_user))
    if level == Level.MEMBER:
        return redirect(url_for("verification.status"))
    page = request.args.get("page", 1, type=int)
    if page < 1 or page > queries.MAX_PAGE:
        abort(404)
    return render_template(
        "cases/feed.html",
        listing=queries.feed(current_user, page),
        home=home_community(current_user),
    )


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

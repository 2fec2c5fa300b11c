"""Digest pages: settings with a preview, and unsubscribing from a link without signing in."""

from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from forum.access import physician, public
from forum.accounts.tokens import Purpose, TokenError, read_token
from forum.digest import services
from forum.digest.forms import DigestSettingsForm, UnsubscribeForm
from forum.digest.message import Links, render
from forum.extensions import csrf, utcnow

bp = Blueprint("digest", __name__)

View = str | Response | tuple[str, int]

# The preview is the e-mail's own HTML: inline styles, no scripts, no remote anything.
# The e-mail's own HTML needs its inline CSS (mail clients ignore style sheets); shown on the
# site it runs sandboxed, with no script, form, plugin or framing allowed at all.
PREVIEW_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'; object-src 'none'; script-src 'none'; sandbox"
)


def is_one_click() -> bool:
    """An RFC 8058 one-click unsubscribe: what mail clients POST to the List-Unsubscribe link."""
    return request.method == "POST" and request.form.get("List-Unsubscribe") == "One-Click"


@bp.before_app_request
def _csrf_unless_one_click() -> None:
    """The unsubscribe view is exempt from CSRFProtect so that only the one-click POST skips it.

    Mail clients cannot fetch a CSRF token; the signed token in the link is what authorises
    that POST. Every other POST to the page (its own form) is checked here as anywhere else.
    """
    if request.endpoint == "digest.unsubscribe" and request.method == "POST" and not is_one_click():
        csrf.protect()


def _member_of(token: str) -> int | None:
    try:
        payload = read_token(Purpose.DIGEST_UNSUBSCRIBE, token)
    except TokenError:
        return None
    user_id = payload.get("user")
    return user_id if isinstance(user_id, int) else None


@bp.route("/digest/unsubscribe/<token>", methods=["GET", "POST"])
@public
@csrf.exempt
def unsubscribe(token: str) -> View:
    """Ask before unsubscribing (GET); unsubscribe on the button or a one-click POST."""
    user_id = _member_of(token)
    if user_id is None:
        return render_template("digest/unsubscribe.html", state="invalid"), 400
    if request.method == "POST":
        if not services.unsubscribe(user_id):
            return render_template("digest/unsubscribe.html", state="invalid"), 400
        return render_template("digest/unsubscribe.html", state="done")
    return render_template("digest/unsubscribe.html", state="ask", form=UnsubscribeForm())


@bp.route("/settings/digest", methods=["GET", "POST"])
@physician
def settings() -> View:
    """Choose when the digest arrives, or stop it; see what this week's would say."""
    schedule = services.member_schedule(current_user)
    preference = services.preference_of(current_user.id)
    form = DigestSettingsForm(
        subscribed=preference is None or preference.unsubscribed_at is None,
        weekday=schedule.weekday,
        hour=schedule.hour,
        time_zone=schedule.time_zone,
    )
    if form.validate_on_submit():
        try:
            services.save_schedule(
                current_user,
                form.weekday.data,
                form.hour.data,
                form.time_zone.data or "",
                bool(form.subscribed.data),
            )
        except services.DigestError as error:
            flash(str(error), "error")
        else:
            flash("Your digest settings are saved.", "success")
            return redirect(url_for("digest.settings"))
    digest = services.preview(current_user, utcnow())
    return render_template("digest/settings.html", form=form, digest=digest)


@bp.route("/settings/digest/preview")
@physician
def preview() -> Response:
    """This week's digest so far, exactly as the e-mail's HTML part shows it."""
    digest = services.preview(current_user, utcnow())
    _, html = render(digest, Links())
    response = make_response(html)
    response.headers["Content-Security-Policy"] = PREVIEW_POLICY
    return response

"""Notification pages: the list with its mark-read forms, and the member's preferences.

Signed-in members reach them; the clinical kinds (anything naming a thread) are listed and
counted for verified physicians only, so an applicant still sees their verification decision.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from forum.access import Level, signed_in, visitor_level
from forum.notifications import fanout, mailing, services
from forum.notifications.forms import MarkReadForm, PreferencesForm

bp = Blueprint("notifications", __name__)
bp.record_once(lambda _state: mailing.install())


def _clinical() -> bool:
    return visitor_level() >= Level.PHYSICIAN


def _page() -> int:
    page = request.args.get("page", 1, type=int)
    if page < 1 or page > services.MAX_PAGE:
        abort(404)
    return page


@bp.route("/notifications")
@signed_in
def index() -> str:
    """Your notifications, newest first, unread ones marked."""
    listing = services.page(current_user, _page(), clinical=_clinical())
    return render_template("notifications/index.html", listing=listing, form=MarkReadForm())


@bp.route("/notifications/<int:notification_id>/read", methods=["POST"])
@signed_in
def mark_read(notification_id: int) -> Response:
    """Mark one notification read."""
    if MarkReadForm().validate() and not services.mark_read(current_user, notification_id):
        abort(404)
    page = request.form.get("page", 1, type=int)
    return redirect(url_for("notifications.index", page=min(max(page, 1), services.MAX_PAGE)))


@bp.route("/notifications/read-all", methods=["POST"])
@signed_in
def mark_all_read() -> Response:
    """Mark every notification read."""
    if MarkReadForm().validate():
        services.mark_all_read(current_user, clinical=_clinical())
        flash("All notifications marked read.", "success")
    return redirect(url_for("notifications.index"))


@bp.route("/settings/notifications", methods=["GET", "POST"])
@signed_in
def preferences() -> str | Response | tuple[str, int]:
    """Choose, for each kind, whether you hear in the list, also by e-mail, or not at all."""
    form = PreferencesForm()
    if form.validate_on_submit():
        services.set_preferences(current_user, form.choices())
        flash("Notification settings saved.", "success")
        return redirect(url_for("notifications.preferences"))
    if request.method == "POST":
        return _preferences_page(form), 422
    form.fill(services.preferences(current_user))
    return _preferences_page(form)


def _preferences_page(form: PreferencesForm) -> str:
    cap = fanout.SPECIALTY_ALERTS_PER_DAY
    return render_template("notifications/preferences.html", form=form, alerts_per_day=cap)


@bp.app_context_processor
def _notification_helpers() -> dict[str, Any]:
    # A function, so the count's one query runs only where the header asks for it.
    def unread() -> int:
        return services.unread_count(current_user, clinical=_clinical())

    return {"notification_unread_count": unread}

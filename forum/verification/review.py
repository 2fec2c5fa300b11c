"""The verifiers' queue: open claims, one claim beside its registry record, decisions, documents."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import RadioField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from forum.access import role_required
from forum.accounts.models import Role
from forum.extensions import db, writes_on_get
from forum.verification import review_services as services
from forum.verification.documents import download_name
from forum.verification.models import ClaimStatus, VerificationClaim
from forum.verification.review_services import AlreadyDecided, Decision, ReviewError
from forum.verification.taxonomy import SPECIALTY_NAMES

bp = Blueprint("review", __name__, url_prefix="/verification/queue")

View = str | Response | tuple[str, int]
INVALID = 422
_DONE = {
    Decision.APPROVE: "approved",
    Decision.REJECT: "rejected",
    Decision.MORE_INFO: "sent back to the member with your question",
}


class DecisionForm(FlaskForm):
    """A verifier's decision on a claim, with the reason the member will read."""

    decision = RadioField(
        "Decision",
        choices={
            Decision.APPROVE.value: "Approve: the member is the physician behind this NPI",
            Decision.REJECT.value: "Reject",
            Decision.MORE_INFO.value: "Ask the member for more",
        },
        validators=[InputRequired(message="Choose approve, reject or ask for more.")],
        invalid_choice_message="Choose approve, reject or ask for more.",
    )
    reason = TextAreaField(
        "Reason",
        description=(
            "The member reads this in an e-mail and on their verification page. "
            "Leave out the NPI and licence number."
        ),
        validators=[
            DataRequired(message="Give a reason; the member reads it."),
            Length(max=services.REASON_MAX_LENGTH, message="Keep it to 2,000 characters."),
        ],
        render_kw={"rows": 4, "maxlength": services.REASON_MAX_LENGTH},
    )


@bp.app_context_processor
def _queue_badge() -> dict[str, Any]:
    # A function, so the count query runs only where the header shows the link.
    return {"verification_queue_count": services.waiting_count}


def _claim(claim_id: int) -> VerificationClaim:
    found = db.session.get(VerificationClaim, claim_id)
    if found is None:
        abort(404)
    return found


def _page(name: str) -> int:
    return request.args.get(name, 1, type=int) or 1


def _render_claim(claim: VerificationClaim, form: DecisionForm) -> str:
    return render_template(
        "verification/review_claim.html",
        review=services.claim_review(claim),
        form=form,
        specialty_names=SPECIALTY_NAMES,
    )


@bp.route("/")
@role_required(Role.VERIFIER)
def queue() -> str:
    """Claims waiting for a verifier, oldest first, then those waiting for the member."""
    return render_template(
        "verification/queue.html",
        pending=services.queue_page(ClaimStatus.PENDING, _page("page")),
        asked=services.queue_page(ClaimStatus.MORE_INFO, _page("asked_page")),
    )


@bp.route("/<int:claim_id>")
@role_required(Role.VERIFIER)
def claim(claim_id: int) -> str:
    """One claim beside the registry's record, with the rules, documents and decision form."""
    return _render_claim(_claim(claim_id), DecisionForm())


@bp.route("/<int:claim_id>/decision", methods=["POST"])
@role_required(Role.VERIFIER)
def decide(claim_id: int) -> View:
    """Approve, reject or ask for more; the member is e-mailed."""
    found, form = _claim(claim_id), DecisionForm()
    if not form.validate_on_submit():
        if not found.is_open:  # an old page: the claim's page shows no form to correct
            flash("This claim was already decided; nothing was changed.", "error")
            return redirect(url_for("review.claim", claim_id=claim_id))
        return _render_claim(found, form), INVALID
    decision = Decision(form.decision.data)
    try:
        mailed = services.decide(current_user, found, decision, form.reason.data or "")
    except AlreadyDecided as error:
        flash(error.message, "error")
        return redirect(url_for("review.claim", claim_id=claim_id))
    except ReviewError as error:
        if error.field == "reason":
            form.reason.errors = [*form.reason.errors, error.message]
        else:
            flash(error.message, "error")
        return _render_claim(found, form), INVALID
    told = "the member was e-mailed" if mailed else "the e-mail to the member could not be sent"
    flash(f"Claim #{claim_id} {_DONE[decision]}; {told}.", "success")
    return redirect(url_for("review.queue"))


@bp.route("/documents/<int:document_id>")
@role_required(Role.VERIFIER)
@writes_on_get
def document(document_id: int) -> Response:
    """A member's document, as a download that is never cached; each viewing is audited."""
    found = services.open_document(current_user, document_id)
    if found is None:
        abort(404)
    document, path = found
    response = send_file(
        path,
        mimetype=document.content_type,
        as_attachment=True,
        download_name=download_name(document.original_name, document.content_type),
        conditional=False,
        etag=False,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response

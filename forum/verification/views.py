"""Where a member stands on the way to being a verified physician, and how they get there."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from forum.access import role_required, signed_in
from forum.accounts.forms import ActionForm
from forum.accounts.models import Role
from forum.extensions import limiter
from forum.verification import services
from forum.verification.documents import MAX_PER_CLAIM, Upload
from forum.verification.forms import CredentialForm, DocumentForm, HospitalDomainForm, MoreInfoForm
from forum.verification.models import ClaimStatus, VerificationClaim
from forum.verification.services import VerificationError
from forum.verification.states import STATE_NAMES
from forum.verification.taxonomy import SPECIALTY_NAMES

bp = Blueprint("verification", __name__, url_prefix="/verification")

View = str | Response | tuple[str, int]
INVALID = 422
CLAIM_LIMIT = "10 per hour"
UPLOAD_LIMIT = "30 per hour"

_SUBMITTED = {
    ClaimStatus.APPROVED: (
        "Your hospital e-mail address confirms it: you are verified.",
        "success",
    ),
    ClaimStatus.PENDING: ("We received your claim.", "success"),
}


def _per_member() -> str:
    """Rate-limit key: the member, whatever address they come from."""
    return f"member:{current_user.id}"


def _show_error(form: FlaskForm, error: VerificationError) -> None:
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        flash(error.message, "error")


def _uploads(files: Any) -> list[Upload]:
    chosen = files if isinstance(files, list) else [files]
    return [Upload(f.filename or "", f.stream) for f in chosen if isinstance(f, FileStorage) and f]


def _own_claim(claim_id: int) -> VerificationClaim:
    claim = services.own_claim(current_user, claim_id)
    if claim is None:
        abort(404)
    return claim


def _credential_form() -> CredentialForm:
    return CredentialForm(first_name=current_user.first_name, last_name=current_user.last_name)


def _status_page(
    code: int = 200,
    document_form: DocumentForm | None = None,
    answer_form: MoreInfoForm | None = None,
) -> tuple[str, int]:
    claim = services.latest_claim(current_user)
    return render_template(
        "verification/status.html",
        claim=claim,
        organisation=claim is not None and services.is_organisation(claim),
        credential_form=_credential_form(),
        document_form=document_form if document_form is not None else DocumentForm(),
        answer_form=answer_form if answer_form is not None else MoreInfoForm(),
        max_documents=MAX_PER_CLAIM,
        specialty_names=SPECIALTY_NAMES,
        state_names=STATE_NAMES,
    ), code


@bp.route("/")
@signed_in
def status() -> View:
    """The member's verification status, what happens next, and the form when it is needed."""
    return _status_page()


@bp.route("/claim", methods=["GET", "POST"])
@signed_in
@limiter.limit(CLAIM_LIMIT, key_func=_per_member, methods=["POST"])
def claim() -> View:
    """The credential form: NPI, legal name, state, licence, specialty and optional proof."""
    if current_user.verified_at is not None:
        return redirect(url_for("verification.status"))
    form = _credential_form()
    if form.validate_on_submit():
        details = services.ClaimDetails(
            npi=form.npi.data or "",
            first_name=form.first_name.data or "",
            last_name=form.last_name.data or "",
            practice_state=form.practice_state.data or "",
            specialty=form.specialty.data or "",
            licence_number=form.licence_number.data or "",
            licence_state=form.licence_state.data or "",
        )
        try:
            made = services.submit_claim(current_user, details, _uploads(form.documents.data))
        except VerificationError as error:
            _show_error(form, error)
        else:
            flash(*_SUBMITTED.get(ClaimStatus(made.status), _SUBMITTED[ClaimStatus.PENDING]))
            return redirect(url_for("verification.status"))
    code = INVALID if form.is_submitted() else 200
    open_claim = services.latest_claim(current_user)
    return render_template(
        "verification/claim_form.html",
        form=form,
        open_claim=open_claim if open_claim is not None and open_claim.is_open else None,
    ), code


@bp.route("/claim/<int:claim_id>/documents", methods=["POST"])
@signed_in
@limiter.limit(UPLOAD_LIMIT, key_func=_per_member)
def upload_document(claim_id: int) -> View:
    """Add a licence certificate or badge to one of the member's open claims."""
    claim, form = _own_claim(claim_id), DocumentForm()
    if not claim.is_open:  # an old page: the status page shows this claim no upload field
        flash("This claim is closed; documents go with an open claim.", "error")
        return _status_page(INVALID)
    if form.validate_on_submit():
        try:
            services.attach_document(current_user, claim, _uploads(form.document.data)[0])
        except VerificationError as error:
            _show_error(form, error)
        else:
            flash("Document received. A verifier will look at it with your claim.", "success")
            return redirect(url_for("verification.status"))
    return _status_page(INVALID, document_form=form)


@bp.route("/claim/<int:claim_id>/answer", methods=["POST"])
@signed_in
@limiter.limit(UPLOAD_LIMIT, key_func=_per_member)
def answer(claim_id: int) -> View:
    """Answer a verifier's request for more information."""
    claim, form = _own_claim(claim_id), MoreInfoForm()
    if claim.status != ClaimStatus.MORE_INFO:  # an old page: this one shows no answer form
        flash("This claim is not waiting for an answer from you.", "error")
        return _status_page(INVALID)
    if form.validate_on_submit():
        uploads = _uploads(form.documents.data or [])
        try:
            services.answer_more_info(current_user, claim, form.answer.data or "", uploads)
        except VerificationError as error:
            _show_error(form, error)
        else:
            flash("Thank you. Your claim is back with a verifier.", "success")
            return redirect(url_for("verification.status"))
    return _status_page(INVALID, answer_form=form)


@bp.route("/hospital-domains", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def hospital_domains() -> View:
    """The hospital and health-system e-mail domains whose confirmed addresses prove identity."""
    form = HospitalDomainForm()
    if form.validate_on_submit():
        try:
            entry = services.add_hospital_domain(
                current_user, form.domain.data or "", form.organisation.data or ""
            )
        except VerificationError as error:
            _show_error(form, error)
        else:
            flash(f"{entry.domain} added.", "success")
            return redirect(url_for("verification.hospital_domains"))
    code = INVALID if form.is_submitted() else 200
    return render_template(
        "verification/hospital_domains.html",
        form=form,
        domains=services.hospital_domains(),
        action_form=ActionForm(),
    ), code


@bp.route("/hospital-domains/<int:domain_id>/remove", methods=["POST"])
@role_required(Role.ADMIN)
def remove_hospital_domain(domain_id: int) -> Response:
    """Take a domain off the hospital list."""
    if ActionForm().validate_on_submit():
        removed = services.remove_hospital_domain(current_user, domain_id)
        if removed is None:
            abort(404)
        flash(f"{removed.domain} removed.", "success")
    return redirect(url_for("verification.hospital_domains"))

"""The verifiers' side of verification: the queue, one claim with its evidence, and decisions."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email.message import EmailMessage
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from forum import audit, mail
from forum.accounts.models import User
from forum.extensions import db, utcnow
from forum.notifications import fanout as notify
from forum.verification.models import (
    ClaimDocument,
    ClaimStatus,
    HospitalDomain,
    RegistryImport,
    RegistryProvider,
    VerificationClaim,
)
from forum.verification.services import hospital_for
from forum.verification.taxonomy import REVIEW_CODES, SPECIALTY_NAMES, community_for

log = logging.getLogger(__name__)

PAGE_SIZE = 25
REASON_MAX_LENGTH = 2000
OPEN_STATUSES = (ClaimStatus.PENDING, ClaimStatus.MORE_INFO)
NPI_TAKEN = (
    "Another account is already verified with this NPI. Deal with that account first "
    "(an admin can look into it), then approve this claim."
)
# A storage name is one random path segment; anything else would point outside the folder.
_STORAGE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$")


class ReviewError(Exception):
    """A decision that cannot be recorded; the message is for the verifier."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class AlreadyDecided(ReviewError):
    """Someone (perhaps this verifier, a moment ago) has decided the claim already."""


class Decision(StrEnum):
    """What a verifier can do with an open claim."""

    APPROVE = "approve"
    REJECT = "reject"
    MORE_INFO = "more_info"


_RESULT = {
    Decision.APPROVE: ClaimStatus.APPROVED,
    Decision.REJECT: ClaimStatus.REJECTED,
    Decision.MORE_INFO: ClaimStatus.MORE_INFO,
}
_AUDIT_ACTION = {
    Decision.APPROVE: "verification.approved",
    Decision.REJECT: "verification.rejected",
    Decision.MORE_INFO: "verification.more_info_requested",
}
# Asking again while the member has not answered would only repeat the question.
_DECIDABLE_FROM = {
    Decision.APPROVE: OPEN_STATUSES,
    Decision.REJECT: OPEN_STATUSES,
    Decision.MORE_INFO: (ClaimStatus.PENDING,),
}
_SUBJECT = {
    ClaimStatus.APPROVED: "You are verified on Curbside",
    ClaimStatus.REJECTED: "Your Curbside verification was not approved",
    ClaimStatus.MORE_INFO: "Curbside verification: we need a little more from you",
}


# --- The queue ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    """One claim in the queue with the number of documents still on file."""

    claim: VerificationClaim
    documents: int


@dataclass(frozen=True)
class QueuePage:
    """One page of claims in one status, oldest first."""

    rows: list[QueueRow]
    page: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages the claims fill (at least one, even when empty)."""
        return max(1, -(-self.total // PAGE_SIZE))

    @property
    def has_previous(self) -> bool:
        """Whether an older page comes before this one."""
        return self.page > 1

    @property
    def has_next(self) -> bool:
        """Whether newer claims follow on another page."""
        return self.page < self.pages


def _documents_on_file() -> sa.ScalarSelect[int]:
    return (
        sa.select(sa.func.count(ClaimDocument.id))
        .where(ClaimDocument.claim_id == VerificationClaim.id, ClaimDocument.purged_at.is_(None))
        .correlate(VerificationClaim)
        .scalar_subquery()
    )


def count_in(status: ClaimStatus) -> int:
    """How many claims are in a status."""
    query = sa.select(sa.func.count()).select_from(VerificationClaim)
    return db.session.scalar(query.where(VerificationClaim.status == status)) or 0


def queue_page(status: ClaimStatus, page: int) -> QueuePage:
    """One page of claims in a status, oldest first, with their members, in one query."""
    total = count_in(status)
    page = min(max(page, 1), max(1, -(-total // PAGE_SIZE)))
    query = (
        sa.select(VerificationClaim, _documents_on_file())
        .options(joinedload(VerificationClaim.user))
        .where(VerificationClaim.status == status)
        .order_by(VerificationClaim.created_at, VerificationClaim.id)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    )
    rows = [QueueRow(claim, int(count)) for claim, count in db.session.execute(query)]
    return QueuePage(rows, page, total)


def waiting_count() -> int:
    """Claims waiting for a verifier (the header's badge)."""
    return count_in(ClaimStatus.PENDING)


# --- One claim ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleOutcome:
    """One matching rule as the verifier reads it."""

    rule: str
    outcome: str  # "pass", "fail" or "not applicable"
    detail: str


@dataclass(frozen=True)
class TaxonomySlot:
    """One taxonomy slot of a registry record, with what the site makes of its code."""

    slot: int | None
    code: str
    primary: bool
    licence: str
    state: str
    meaning: str


@dataclass(frozen=True)
class ClaimReview:
    """Everything a verifier weighs for one claim."""

    claim: VerificationClaim
    provider: RegistryProvider | None
    provider_import: RegistryImport | None
    taxonomies: list[TaxonomySlot]
    rules: list[RuleOutcome]
    other_evidence: dict[str, str]
    email_domain: str
    hospital: HospitalDomain | None
    other_claims: list[VerificationClaim]
    holders: list[User]  # other accounts verified with the claimed NPI


def _outcome(passed: Any) -> str:
    if passed is True:
        return "pass"
    if passed is False:
        return "fail"
    return "not applicable"


def rule_outcomes(evidence: dict[str, Any]) -> list[RuleOutcome]:
    """The matcher's rules in the order it ran them, whatever rules it has."""
    rules = evidence.get("rules") if isinstance(evidence, dict) else None
    return [
        RuleOutcome(
            rule=str(rule.get("rule", "")),
            outcome=_outcome(rule.get("passed")),
            detail=str(rule.get("detail") or ""),
        )
        for rule in rules or []
        if isinstance(rule, dict)
    ]


def other_evidence(evidence: dict[str, Any]) -> dict[str, str]:
    """Evidence beyond the usual keys (an online lookup that failed, say), as text."""
    usual = {"outcome", "source", "import_id", "rules", "checked_at"}
    if not isinstance(evidence, dict):
        return {}
    return {str(key): str(value) for key, value in evidence.items() if key not in usual}


def _meaning(code: str) -> str:
    if code in REVIEW_CODES:
        return f"needs judgement: {REVIEW_CODES[code]}"
    community = community_for(code)
    if community is None:
        return "not a physician code"
    return f"physician ({SPECIALTY_NAMES.get(community, community)})"


def taxonomy_slots(provider: RegistryProvider | None) -> list[TaxonomySlot]:
    """The record's taxonomy slots as published, each explained."""
    if provider is None:
        return []
    return [
        TaxonomySlot(
            slot=slot.get("slot"),
            code=str(slot.get("code") or ""),
            primary=bool(slot.get("primary")),
            licence=str(slot.get("licence") or ""),
            state=str(slot.get("state") or ""),
            meaning=_meaning(str(slot.get("code") or "").upper()),
        )
        for slot in provider.taxonomies or []
    ]


def email_domain(address: str) -> str:
    """The part of an address after the @."""
    return address.rpartition("@")[2].lower()


def _other_claims(claim: VerificationClaim) -> list[VerificationClaim]:
    query = (
        sa.select(VerificationClaim)
        .where(VerificationClaim.user_id == claim.user_id, VerificationClaim.id != claim.id)
        .order_by(VerificationClaim.created_at.desc(), VerificationClaim.id.desc())
    )
    return list(db.session.scalars(query))


def holders_of(npi: str, besides: int) -> list[User]:
    """Accounts other than `besides` verified with this NPI (the unique index allows one)."""
    query = sa.select(User).where(User.npi == npi, User.id != besides).order_by(User.id)
    return list(db.session.scalars(query))


def claim_review(claim: VerificationClaim) -> ClaimReview:
    """The claim, the registry's record beside it, the rules, documents and the member's past."""
    provider = db.session.get(RegistryProvider, claim.npi)
    provider_import = None
    if provider is not None and provider.import_id is not None:
        provider_import = db.session.get(RegistryImport, provider.import_id)
    domain = email_domain(claim.user.email)
    return ClaimReview(
        claim=claim,
        provider=provider,
        provider_import=provider_import,
        taxonomies=taxonomy_slots(provider),
        rules=rule_outcomes(claim.evidence),
        other_evidence=other_evidence(claim.evidence),
        email_domain=domain,
        hospital=hospital_for(claim.user.email),
        other_claims=_other_claims(claim),
        holders=holders_of(claim.npi, claim.user_id),
    )


# --- Decisions ----------------------------------------------------------------------------------


def _squashed(text: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", text.upper())


def check_reason(claim: VerificationClaim, reason: str) -> str:
    """The reason, trimmed, or ReviewError: the member reads it in an e-mail."""
    reason = reason.strip()
    if not reason:
        raise ReviewError("Give a reason; the member reads it.", "reason")
    if len(reason) > REASON_MAX_LENGTH:
        raise ReviewError("Keep the reason to 2,000 characters or fewer.", "reason")
    squashed = _squashed(reason)
    licence = _squashed(claim.licence_number or "")
    if claim.npi in squashed or (len(licence) >= 4 and licence in squashed):
        raise ReviewError(
            "Leave the NPI and licence number out of the reason: it is sent by e-mail.", "reason"
        )
    return reason


def _close(verifier: User, claim: VerificationClaim, decision: Decision, reason: str) -> None:
    """Record the decision only if the claim is still open: a second click changes nothing."""
    changed = db.session.execute(
        sa.update(VerificationClaim)
        .where(
            VerificationClaim.id == claim.id,
            VerificationClaim.status.in_([str(s) for s in _DECIDABLE_FROM[decision]]),
        )
        .values(
            status=str(_RESULT[decision]),
            decided_at=utcnow(),
            decided_by_id=verifier.id,
            decision_reason=reason,
        )
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        if decision is Decision.MORE_INFO and claim.status == ClaimStatus.MORE_INFO:
            raise AlreadyDecided("The member was already asked for more; wait for the answer.")
        if claim.status == ClaimStatus.SUPERSEDED:
            raise AlreadyDecided("The member has since sent a newer claim; nothing was changed.")
        raise AlreadyDecided("This claim was already decided; nothing was changed.")
    db.session.refresh(claim)


def _grant(claim: VerificationClaim) -> None:
    user = claim.user
    user.verified_at = utcnow()
    user.npi = claim.npi
    user.specialty = claim.specialty


def decision_mail(claim: VerificationClaim) -> EmailMessage:
    """The e-mail telling the member what the verifier decided and why (no NPI, no licence)."""
    status = ClaimStatus(claim.status)
    return mail.compose(
        claim.user.email,
        _SUBJECT[status],
        "verification_decision",
        user=claim.user,
        status=str(status),
        reason=claim.decision_reason or "",
        link=mail.absolute_url("verification.status"),
    )


def decide(verifier: User, claim: VerificationClaim, decision: Decision, reason: str) -> bool:
    """Record a verifier's decision with its audit row, then e-mail the member.

    Returns whether the e-mail went out; the decision stands either way.
    """
    reason = check_reason(claim, reason)
    if claim.user_id == verifier.id:
        raise ReviewError("You cannot decide your own claim; another verifier must.")
    if decision is Decision.APPROVE and holders_of(claim.npi, claim.user_id):
        raise ReviewError(NPI_TAKEN)
    _close(verifier, claim, decision, reason)
    if decision is Decision.APPROVE:
        _grant(claim)
    if decision is not Decision.MORE_INFO:
        notify.verification_decided(claim.user_id, decision is Decision.APPROVE, reason)
    audit.record(verifier, _AUDIT_ACTION[decision], claim, member_id=claim.user_id)
    message, claim_id, verifier_id = decision_mail(claim), claim.id, verifier.id
    try:
        db.session.commit()
    except IntegrityError:
        # Another verifier approved this NPI for someone else between our check and commit.
        db.session.rollback()
        raise ReviewError(NPI_TAKEN) from None
    log.info("Claim %s: %s by verifier %s", claim_id, decision, verifier_id)
    sent = mail.send_quietly(message)
    if not sent:
        log.warning("Decision mail for claim %s was not sent", claim_id)
    return sent


# --- Documents ----------------------------------------------------------------------------------


def document_folder() -> Path:
    """Where uploaded documents live: instance/documents, outside static/."""
    return Path(current_app.instance_path) / "documents"


def stored_file(document: ClaimDocument) -> Path | None:
    """The document's file, or None once purged (or if the file has gone)."""
    name = document.storage_name
    if document.purged_at is not None or not name or not _STORAGE_NAME.match(name):
        return None
    path = document_folder() / name
    return path if path.is_file() else None


def open_document(verifier: User, document_id: int) -> tuple[ClaimDocument, Path] | None:
    """A document and its file for a verifier, the viewing audited; None when there is none."""
    document = db.session.get(ClaimDocument, document_id)
    if document is None:
        return None
    path = stored_file(document)
    if path is None:
        if document.storage_name and document.purged_at is None:
            log.warning("Document %s has no file on disk", document.id)
        return None
    audit.record(verifier, "verification.document_viewed", document, claim_id=document.claim_id)
    db.session.commit()
    return document, path

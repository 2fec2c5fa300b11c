"""Re-verification after a registry import: deactivated NPIs lose access, reactivated ones hear.

Both checks read the state of the copy rather than what one import changed, so they are safe to
run after every batch, and an import that was interrupted is caught up by the run that resumes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage

import sqlalchemy as sa

from forum import audit, mail
from forum.accounts.models import User
from forum.audit import AuditEvent
from forum.extensions import db
from forum.verification.models import ClaimStatus, RegistryProvider, VerificationClaim

log = logging.getLogger(__name__)

REVOKED_ACTION = "verification.revoked"
NOTICED_ACTION = "verification.reactivation_noticed"


@dataclass(frozen=True)
class Outcome:
    """How many members lost access, and how many were told they may verify again."""

    revoked: int
    reactivation_notices: int


def _inactive() -> sa.ColumnElement[bool]:
    """SQL for RegistryProvider.is_active being false: deactivated and not reactivated since."""
    provider = RegistryProvider
    return sa.and_(
        provider.deactivated_on.is_not(None),
        sa.or_(
            provider.reactivated_on.is_(None),
            provider.reactivated_on < provider.deactivated_on,
        ),
    )


def _latest_approved_claim(user: User) -> VerificationClaim | None:
    return db.session.scalar(
        sa.select(VerificationClaim)
        .where(
            VerificationClaim.user_id == user.id,
            VerificationClaim.status == ClaimStatus.APPROVED,
        )
        .order_by(VerificationClaim.id.desc())
        .limit(1)
    )


def _revoke(user: User, import_id: int) -> EmailMessage:
    """Close clinical pages to a member whose NPI was deactivated; returns their e-mail."""
    npi = user.npi
    claim = _latest_approved_claim(user)
    if claim is not None:
        claim.status = ClaimStatus.REVOKED  # the claim keeps the NPI the member held
    user.verified_at = None
    user.npi = None  # frees the NPI for whoever verifies with it next
    audit.record(
        None,
        REVOKED_ACTION,
        user,
        import_id=import_id,
        npi=npi,
        claim_id=claim.id if claim else None,
    )
    return mail.compose(
        user.email,
        "Your Curbside verification was withdrawn",
        "verification_revoked",
        user=user,
        link=mail.absolute_url("verification.status"),
    )


def revoke_deactivated(import_id: int) -> list[EmailMessage]:
    """Withdraw verification from members whose NPI the registry now shows deactivated."""
    users = db.session.scalars(
        sa.select(User)
        .join(RegistryProvider, RegistryProvider.npi == User.npi)
        .where(User.verified_at.is_not(None), _inactive())
        .order_by(User.id)
    ).all()
    return [_revoke(user, import_id) for user in users]


def _already_noticed(claim: VerificationClaim) -> bool:
    return (
        db.session.scalar(
            sa.select(AuditEvent.id)
            .where(
                AuditEvent.action == NOTICED_ACTION,
                AuditEvent.target_type == VerificationClaim.__tablename__,
                AuditEvent.target_id == claim.id,
            )
            .limit(1)
        )
        is not None
    )


def notice_reactivated(import_id: int) -> list[EmailMessage]:
    """Tell members whose revoked NPI is active again that they may verify again, once each.

    The audit event on the revoked claim is the marker: a claim is noticed once, and a member
    who verifies again and is deactivated again has a new revoked claim.
    """
    latest = (
        sa.select(sa.func.max(VerificationClaim.id))
        .group_by(VerificationClaim.user_id)
        .scalar_subquery()
    )
    claims = db.session.scalars(
        sa.select(VerificationClaim)
        .join(RegistryProvider, RegistryProvider.npi == VerificationClaim.npi)
        .join(User, User.id == VerificationClaim.user_id)
        .where(
            VerificationClaim.status == ClaimStatus.REVOKED,
            VerificationClaim.id.in_(latest),
            User.verified_at.is_(None),
            sa.not_(_inactive()),
        )
        .order_by(VerificationClaim.id)
    ).all()
    messages = []
    for claim in claims:
        if _already_noticed(claim):
            continue
        audit.record(None, NOTICED_ACTION, claim, import_id=import_id, user_id=claim.user_id)
        messages.append(
            mail.compose(
                claim.user.email,
                "Your NPI is active again: you can verify on Curbside",
                "verification_reactivated",
                user=claim.user,
                link=mail.absolute_url("verification.status"),
            )
        )
    return messages


def after_import(import_id: int) -> Outcome:
    """Apply the registry's deactivations and reactivations to members; mail after commit."""
    revoked = revoke_deactivated(import_id)
    noticed = notice_reactivated(import_id)
    db.session.commit()
    for message in (*revoked, *noticed):
        mail.send_quietly(message)
    if revoked or noticed:
        log.info(
            "Registry import %s: %s verifications withdrawn, %s reactivation notices",
            import_id,
            len(revoked),
            len(noticed),
        )
    return Outcome(revoked=len(revoked), reactivation_notices=len(noticed))

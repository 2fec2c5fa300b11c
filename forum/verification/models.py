"""The NPPES registry copy, physicians' claims, their documents and the hospital domains."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum.accounts.models import User
from forum.extensions import Model, UTCDateTime, utcnow


class ImportStatus(StrEnum):
    """Where a registry import stands; a `running` one left behind was interrupted."""

    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"


class RegistryImport(Model):
    """One run of `flask registry import` over one NPPES file."""

    __tablename__ = "registry_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(sa.String(255))
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    file_size: Mapped[int] = mapped_column(sa.BigInteger)
    status: Mapped[str] = mapped_column(sa.String(16), default=ImportStatus.RUNNING)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Data lines read so far (the header excluded); an interrupted run resumes after these.
    rows_read: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    rows_written: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    rows_malformed: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # The first few malformed rows as {"line": n, "problem": "..."}; never the row's content.
    malformed_examples: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    error: Mapped[str | None] = mapped_column(sa.String(500))


class RegistryProvider(Model):
    """What matching needs of one NPPES record; rewritten only when its content changed."""

    __tablename__ = "registry_provider"

    npi: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    # 1: individual, 2: organisation; blank on deactivated records, as NPPES publishes them.
    entity_type: Mapped[int | None] = mapped_column(sa.SmallInteger)
    last_name: Mapped[str | None] = mapped_column(sa.String(100))
    first_name: Mapped[str | None] = mapped_column(sa.String(100))
    middle_name: Mapped[str | None] = mapped_column(sa.String(100))
    name_suffix: Mapped[str | None] = mapped_column(sa.String(20))
    credential: Mapped[str | None] = mapped_column(sa.String(50))
    organisation_name: Mapped[str | None] = mapped_column(sa.String(300))
    # Other (former) names: [{"first": ..., "middle": ..., "last": ...}], empty parts dropped.
    other_names: Mapped[list[dict[str, str]]] = mapped_column(sa.JSON, default=list)
    # Up to 15 slots as published, empty ones dropped:
    # [{"slot": 1, "code": "207R00000X", "primary": true, "licence": "...", "state": "TX"}]
    taxonomies: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    practice_state: Mapped[str | None] = mapped_column(sa.String(2))
    deactivated_on: Mapped[date | None] = mapped_column(sa.Date)
    reactivated_on: Mapped[date | None] = mapped_column(sa.Date)
    last_updated_on: Mapped[date | None] = mapped_column(sa.Date)
    # At least one slot holds a physician taxonomy code (forum.verification.taxonomy).
    has_physician_taxonomy: Mapped[bool] = mapped_column(default=False)
    # Hash of the kept fields: an import skips a row whose hash has not changed.
    row_hash: Mapped[str] = mapped_column(sa.String(32))
    import_id: Mapped[int | None] = mapped_column(sa.ForeignKey("registry_import.id"))

    @property
    def is_individual(self) -> bool:
        """Whether the NPI belongs to a person (entity type 1) rather than an organisation."""
        return self.entity_type == 1

    @property
    def is_active(self) -> bool:
        """Not deactivated, or reactivated since."""
        if self.deactivated_on is None:
            return True
        return self.reactivated_on is not None and self.reactivated_on >= self.deactivated_on

    @property
    def is_active_physician(self) -> bool:
        """An active individual with a physician taxonomy in any slot."""
        return self.is_active and self.is_individual and self.has_physician_taxonomy

    @property
    def primary_taxonomy(self) -> str | None:
        """The code marked primary, else the first slot's."""
        for slot in self.taxonomies:
            if slot.get("primary"):
                return str(slot["code"])
        return str(self.taxonomies[0]["code"]) if self.taxonomies else None


class ClaimStatus(StrEnum):
    """A claim's life: it ends approved or rejected, or superseded by a newer claim."""

    PENDING = "pending"  # waiting for a verifier
    MORE_INFO = "more_info"  # the verifier asked the member for more
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"  # the member sent a newer claim
    REVOKED = "revoked"  # approved once, then the NPI was deactivated

    @property
    def is_open(self) -> bool:
        """Still waiting for someone: the verifier or the member."""
        return self in (ClaimStatus.PENDING, ClaimStatus.MORE_INFO)


class VerificationClaim(Model):
    """A member's claim to be the physician behind an NPI, with the matcher's evidence."""

    __tablename__ = "verification_claim"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    npi: Mapped[str] = mapped_column(sa.String(10), index=True)
    first_name: Mapped[str] = mapped_column(sa.String(80))
    last_name: Mapped[str] = mapped_column(sa.String(80))
    practice_state: Mapped[str] = mapped_column(sa.String(2))
    licence_number: Mapped[str | None] = mapped_column(sa.String(40))
    licence_state: Mapped[str | None] = mapped_column(sa.String(2))
    # A specialty community slug from forum.verification.taxonomy.SPECIALTIES.
    specialty: Mapped[str] = mapped_column(sa.String(40))
    status: Mapped[str] = mapped_column(sa.String(16), default=ClaimStatus.PENDING, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # The matcher's verdict ("match", "mismatch", "not_found", ...) and each rule's outcome.
    match_outcome: Mapped[str] = mapped_column(sa.String(32))
    evidence: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    registry_import_id: Mapped[int | None] = mapped_column(sa.ForeignKey("registry_import.id"))
    # Another account is already verified with this NPI.
    possible_impersonation: Mapped[bool] = mapped_column(default=False)
    # Why no verifier was needed ("hospital_email"), or None when one decided.
    automatic_reason: Mapped[str | None] = mapped_column(sa.String(32))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    # The verifier's reason, shown to the member.
    decision_reason: Mapped[str | None] = mapped_column(sa.Text)
    # The member's answer to a request for more.
    member_note: Mapped[str | None] = mapped_column(sa.Text)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    registry_import: Mapped[RegistryImport | None] = relationship()
    documents: Mapped[list[ClaimDocument]] = relationship(
        back_populates="claim", order_by="ClaimDocument.id", cascade="all, delete-orphan"
    )

    @property
    def is_open(self) -> bool:
        """Waiting for the verifier or for the member."""
        return ClaimStatus(self.status).is_open


class ClaimDocument(Model):
    """A licence certificate or badge; the file is purged 30 days after the decision."""

    __tablename__ = "claim_document"

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(
        sa.ForeignKey("verification_claim.id", ondelete="CASCADE"), index=True
    )
    # The name the member's file had, cut to 255 characters; shown to verifiers only.
    original_name: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(40))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(sa.String(64))
    # Random file name under instance/documents; None once purged.
    storage_name: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    claim: Mapped[VerificationClaim] = relationship(back_populates="documents")


class HospitalDomain(Model):
    """An e-mail domain of a hospital or health system; a confirmed address there is proof."""

    __tablename__ = "hospital_domain"

    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(sa.String(253), unique=True)
    organisation: Mapped[str] = mapped_column(sa.String(200))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    added_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

"""Every model module, imported so the metadata (and migrations) see every table."""

from forum.accounts.models import RecoveryCode, Role, User
from forum.audit import AuditEvent
from forum.verification.models import (
    ClaimDocument,
    HospitalDomain,
    RegistryImport,
    RegistryProvider,
    VerificationClaim,
)

__all__ = [
    "AuditEvent",
    "ClaimDocument",
    "HospitalDomain",
    "RecoveryCode",
    "RegistryImport",
    "RegistryProvider",
    "Role",
    "User",
    "VerificationClaim",
]

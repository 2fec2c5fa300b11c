"""Every model module, imported so the metadata (and migrations) see every table."""

from forum.accounts.models import RecoveryCode, Role, User
from forum.audit import AuditEvent
from forum.cases.models import (
    Ballot,
    Bookmark,
    CaseSection,
    Community,
    Follow,
    HelpfulVote,
    Mention,
    Poll,
    PollOption,
    Post,
    PostImage,
    PostRevision,
    Thread,
    ThreadAlias,
    ThreadRead,
    ThreadTag,
)
from forum.verification.models import (
    ClaimDocument,
    HospitalDomain,
    RegistryImport,
    RegistryProvider,
    VerificationClaim,
)

__all__ = [
    "AuditEvent",
    "Ballot",
    "Bookmark",
    "CaseSection",
    "ClaimDocument",
    "Community",
    "Follow",
    "HelpfulVote",
    "HospitalDomain",
    "Mention",
    "Poll",
    "PollOption",
    "Post",
    "PostImage",
    "PostRevision",
    "RecoveryCode",
    "RegistryImport",
    "RegistryProvider",
    "Role",
    "Thread",
    "ThreadAlias",
    "ThreadRead",
    "ThreadTag",
    "User",
    "VerificationClaim",
]

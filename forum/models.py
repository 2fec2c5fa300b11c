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
from forum.digest.models import DigestDelivery, DigestPreference
from forum.moderation.models import (
    AllowedTerm,
    Flag,
    PostingSuspension,
    ReviewItem,
    ThreadLock,
    WatchedWord,
)
from forum.notifications.models import Notification, NotificationPreference
from forum.search.models import SearchOutbox
from forum.verification.models import (
    ClaimDocument,
    HospitalDomain,
    RegistryImport,
    RegistryProvider,
    VerificationClaim,
)

__all__ = [
    "AllowedTerm",
    "AuditEvent",
    "Ballot",
    "Bookmark",
    "CaseSection",
    "ClaimDocument",
    "Community",
    "DigestDelivery",
    "DigestPreference",
    "Flag",
    "Follow",
    "HelpfulVote",
    "HospitalDomain",
    "Mention",
    "Notification",
    "NotificationPreference",
    "Poll",
    "PollOption",
    "Post",
    "PostImage",
    "PostRevision",
    "PostingSuspension",
    "RecoveryCode",
    "RegistryImport",
    "RegistryProvider",
    "ReviewItem",
    "Role",
    "SearchOutbox",
    "Thread",
    "ThreadAlias",
    "ThreadLock",
    "ThreadRead",
    "ThreadTag",
    "User",
    "VerificationClaim",
    "WatchedWord",
]

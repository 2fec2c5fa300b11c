"""Every model module, imported so the metadata (and migrations) see every table."""

from forum.accounts.models import RecoveryCode, Role, User
from forum.audit import AuditEvent

__all__ = ["AuditEvent", "RecoveryCode", "Role", "User"]

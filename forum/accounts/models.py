"""Members, their second factor and their recovery codes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum.extensions import Model, UTCDateTime, utcnow


class Role(StrEnum):
    """Staff roles; an admin holds every role."""

    VERIFIER = "verifier"
    MODERATOR = "moderator"
    ADMIN = "admin"


class User(UserMixin, Model):
    """A member of the forum: a physician once verified, possibly also staff."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pending_email: Mapped[str | None] = mapped_column(sa.String(254))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    display_name: Mapped[str] = mapped_column(sa.String(40))
    # Case-folded display name, unique, so "DrSmith" and "drsmith" cannot both exist.
    display_name_key: Mapped[str] = mapped_column(sa.String(40), unique=True)
    first_name: Mapped[str] = mapped_column(sa.String(80))
    last_name: Mapped[str] = mapped_column(sa.String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped to end every other session: sign out everywhere, password change, TOTP reset.
    session_version: Mapped[int] = mapped_column(default=1)

    totp_secret_encrypted: Mapped[str | None] = mapped_column(sa.String(255))
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last 30-second step a code was accepted for; codes at or before it are replays.
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    totp_failures: Mapped[int] = mapped_column(default=0)
    totp_locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    is_admin: Mapped[bool] = mapped_column(default=False)
    is_moderator: Mapped[bool] = mapped_column(default=False)
    is_verifier: Mapped[bool] = mapped_column(default=False)

    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set with verified_at; unique so one NPI backs at most one verified account.
    npi: Mapped[str | None] = mapped_column(sa.String(10), unique=True)
    # The verified specialty: a community slug from forum.verification.taxonomy.
    specialty: Mapped[str | None] = mapped_column(sa.String(40))
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspension_reason: Mapped[str | None] = mapped_column(sa.String(500))

    recovery_codes: Mapped[list[RecoveryCode]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    def get_id(self) -> str:
        """Session identity: the id with the session version, so bumping it ends sessions."""
        return f"{self.id}:{self.session_version}"

    @property
    def email_confirmed(self) -> bool:
        """Whether the member has proved they read mail at their address."""
        return self.email_confirmed_at is not None

    @property
    def totp_enrolled(self) -> bool:
        """Whether a second factor has been confirmed with a code."""
        return self.totp_confirmed_at is not None and self.totp_secret_encrypted is not None

    @property
    def suspended(self) -> bool:
        """Whether a moderator or admin has suspended the account."""
        return self.suspended_at is not None

    @property
    def is_physician(self) -> bool:
        """Whether the member may see clinical content: verified and not suspended."""
        return self.verified_at is not None and not self.suspended

    def has_role(self, role: Role) -> bool:
        """Whether the member holds a staff role; admins hold them all."""
        if self.suspended:
            return False
        if self.is_admin:
            return True
        return {Role.VERIFIER: self.is_verifier, Role.MODERATOR: self.is_moderator}.get(role, False)

    @property
    def roles(self) -> list[Role]:
        """The staff roles held, for display."""
        flags = {
            Role.ADMIN: self.is_admin,
            Role.MODERATOR: self.is_moderator,
            Role.VERIFIER: self.is_verifier,
        }
        return [role for role, held in flags.items() if held]

    def totp_locked(self, now: datetime) -> bool:
        """Whether too many wrong codes have locked the second factor."""
        return self.totp_locked_until is not None and self.totp_locked_until > now


class RecoveryCode(Model):
    """A single-use second-factor code, stored only as a keyed hash."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="recovery_codes")

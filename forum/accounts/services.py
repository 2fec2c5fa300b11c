"""Account use cases: sign-up, confirmation, sign-in, second factor, credentials, roles."""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email

from forum import audit, mail, phi
from forum.accounts import totp
from forum.accounts.models import RecoveryCode, Role, User
from forum.accounts.passwords import (
    hash_password,
    needs_rehash,
    password_problem,
    spend_equal_time,
    verify_password,
)
from forum.accounts.tokens import Purpose, TokenError, make_token, read_token
from forum.extensions import db, utcnow

log = logging.getLogger(__name__)

MAX_CODE_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
_DISPLAY_NAME = re.compile(r"^[\w][\w .'-]{1,38}[\w.]$")
_PERSON_NAME = re.compile(r"^[^\W\d_]+(?:[ .'-]+[^\W\d_]+)*\.?$")
_RESERVED_NAME_PREFIXES = ("anonymous", "curbside", "moderator", "admin", "verifier", "system")


class AccountError(Exception):
    """A request about an account that cannot be granted; the message is for the member."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


# --- Shapes of what members type -------------------------------------------------------------


def normalise_email(raw: str, field: str = "email") -> str:
    """The address in canonical form (lower case, IDNA domain), or AccountError."""
    raw = raw.strip()
    if len(raw) > 254:
        raise AccountError("That e-mail address is too long.", field)
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError:
        raise AccountError("Enter a valid e-mail address, like name@hospital.org.", field) from None
    return result.normalized.lower()


def display_name_key(name: str) -> str:
    """The form of a display name used to keep names unique regardless of case or accents."""
    return unicodedata.normalize("NFKC", name).casefold().strip()


def check_display_name(name: str) -> str:
    """The display name, tidied, or AccountError explaining what to change."""
    name = " ".join(unicodedata.normalize("NFC", name).split())
    if not _DISPLAY_NAME.match(name):
        raise AccountError(
            "Use 3 to 40 letters, digits, spaces, dots, hyphens or apostrophes.", "display_name"
        )
    if display_name_key(name).startswith(_RESERVED_NAME_PREFIXES):
        raise AccountError("That name is reserved; choose another.", "display_name")
    _gate_display_name(name)
    return name


# A display name is a person's name by design (members post under their own names), and a
# surname is often a town's name too; every other identifier is refused.
_NAME_KINDS = frozenset({phi.Kind.NAME, phi.Kind.CITY})


def _gate_display_name(name: str) -> None:
    """The PHI gate on profile text: a number, date or address in a name is refused."""
    for finding in phi.gate({"display_name": name}).findings.get("display_name", []):
        if finding.kind not in _NAME_KINDS:
            raise AccountError(
                f"{finding.reason} Use only your name in your display name.", "display_name"
            )


def check_person_name(name: str, field: str) -> str:
    """A legal first or last name, tidied, or AccountError."""
    name = " ".join(unicodedata.normalize("NFC", name).split())
    if not name or len(name) > 80 or not _PERSON_NAME.match(name):
        raise AccountError(
            "Use your name as on your licence: letters, spaces, hyphens, apostrophes.", field
        )
    return name


def check_new_password(password: str, email: str | None = None) -> None:
    """Raise AccountError when the password breaks the policy."""
    problem = password_problem(password, email)
    if problem:
        raise AccountError(problem, "password")


# --- Sign-up and e-mail confirmation ------------------------------------------------------------


@dataclass(frozen=True)
class SignUp:
    """What a newcomer types on the sign-up form."""

    email: str
    password: str
    display_name: str
    first_name: str
    last_name: str


def _email_fingerprint(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:16]


def confirmation_link(user: User) -> str:
    """The signed link that confirms the member's current address."""
    token = make_token(
        Purpose.CONFIRM_EMAIL, {"uid": user.id, "em": _email_fingerprint(user.email)}
    )
    return mail.absolute_url("accounts.confirm_email", token=token)


def send_confirmation(user: User) -> bool:
    """Mail the member a link confirming their address."""
    message = mail.compose(
        user.email,
        "Confirm your e-mail address for Curbside",
        "confirm_email",
        user=user,
        link=confirmation_link(user),
        hours=48,
    )
    return mail.send_quietly(message)


def register(form: SignUp) -> User | None:
    """Create an unconfirmed account and mail the link; None when the address is taken.

    A taken address gets a notice instead, so the answer never tells strangers who is a member.
    """
    email = normalise_email(form.email)
    display_name = check_display_name(form.display_name)
    first_name = check_person_name(form.first_name, "first_name")
    last_name = check_person_name(form.last_name, "last_name")
    check_new_password(form.password, email)
    existing = db.session.scalar(sa.select(User).where(User.email == email))
    if existing is not None:
        mail.send_quietly(
            mail.compose(
                email,
                "Someone tried to sign up with your address",
                "signup_existing",
                user=existing,
                sign_in=mail.absolute_url("accounts.sign_in"),
                reset=mail.absolute_url("accounts.forgot_password"),
            )
        )
        return None
    key = display_name_key(display_name)
    if db.session.scalar(sa.select(User.id).where(User.display_name_key == key)) is not None:
        raise AccountError("That display name is taken; choose another.", "display_name")
    user = User(
        email=email,
        password_hash=hash_password(form.password),
        display_name=display_name,
        display_name_key=key,
        first_name=first_name,
        last_name=last_name,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(user, "account.signup", user)
    db.session.commit()
    send_confirmation(user)
    return user


def confirm_email(token: str) -> User:
    """Mark the address in a confirmation link as confirmed; the link then stops working."""
    payload = read_token(Purpose.CONFIRM_EMAIL, token)
    user = db.session.get(User, payload.get("uid", 0))
    if user is None or payload.get("em") != _email_fingerprint(user.email):
        raise TokenError
    if user.email_confirmed:
        raise AccountError("This link has already been used. Sign in to continue.")
    user.email_confirmed_at = utcnow()
    audit.record(user, "account.email_confirmed", user)
    db.session.commit()
    return user


# --- Sign-in -----------------------------------------------------------------------------------


def authenticate(email: str, password: str) -> User:
    """The member with this address and password, or AccountError (the same for both wrongs)."""
    wrong = AccountError("E-mail address or password is incorrect.")
    try:
        email = normalise_email(email)
    except AccountError:
        spend_equal_time(password)
        raise wrong from None
    user = db.session.scalar(sa.select(User).where(User.email == email))
    if user is None:
        spend_equal_time(password)
        audit.record(None, "signin.failure", reason="unknown address")
        db.session.commit()
        raise wrong
    if not verify_password(user.password_hash, password):
        audit.record(user, "signin.failure", user, reason="wrong password")
        db.session.commit()
        raise wrong
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_sign_in_at = utcnow()
    audit.record(user, "signin.password", user)
    db.session.commit()
    return user


# --- Second factor -----------------------------------------------------------------------------


def pending_totp_secret(user: User) -> str:
    """The secret being enrolled, created once so reloading the page keeps the same QR code."""
    if user.totp_enrolled:
        raise AccountError("Two-factor authentication is already set up.")
    if user.totp_secret_encrypted is None:
        user.totp_secret_encrypted = totp.encrypt_secret(totp.new_secret())
        db.session.commit()
    return totp.decrypt_secret(user.totp_secret_encrypted)


def _store_recovery_codes(user: User) -> list[str]:
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = totp.new_recovery_codes()
    db.session.add_all(
        RecoveryCode(user_id=user.id, code_hash=totp.hash_recovery_code(code)) for code in codes
    )
    return codes


def confirm_totp_enrolment(user: User, code: str) -> list[str]:
    """Make the pending secret count once a code proves the app holds it; returns new codes."""
    secret = pending_totp_secret(user)
    now = utcnow()
    step = totp.matching_step(secret, code.strip().replace(" ", ""), now, None)
    if step is None:
        raise AccountError(
            "That code does not match. Check the time on your phone and try the newest code.",
            "code",
        )
    user.totp_confirmed_at = now
    user.totp_last_step = step
    user.totp_failures = 0
    user.totp_locked_until = None
    codes = _store_recovery_codes(user)
    audit.record(user, "totp.enrolled", user)
    db.session.commit()
    return codes


class CodeOutcome(StrEnum):
    """What became of a submitted second-factor code."""

    ACCEPTED = "accepted"
    RECOVERY_USED = "recovery-used"
    WRONG = "wrong"
    LOCKED = "locked"


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of a second-factor code, with what the member needs to know."""

    outcome: CodeOutcome
    locked_until: datetime | None = None
    recovery_codes_left: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the code proved the second factor."""
        return self.outcome in {CodeOutcome.ACCEPTED, CodeOutcome.RECOVERY_USED}


def _execute(statement: sa.Update) -> int:
    """Run a conditional UPDATE and say how many rows it changed (callers refresh if needed)."""
    result = db.session.execute(statement.execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def _reserve_attempt(user: User, now: datetime) -> bool:
    """Count an attempt before checking it, atomically, so parallel guesses cannot exceed five."""
    _execute(
        sa.update(User)
        .where(User.id == user.id, User.totp_locked_until <= now)
        .values(totp_failures=0, totp_locked_until=None)
    )
    return (
        _execute(
            sa.update(User)
            .where(User.id == user.id, User.totp_locked_until.is_(None))
            .where(User.totp_failures < MAX_CODE_FAILURES)
            .values(totp_failures=User.totp_failures + 1)
        )
        == 1
    )


def _claim_step(user: User, step: int) -> bool:
    """Record the step of an accepted code; fails if it (or a later one) was already used."""
    return (
        _execute(
            sa.update(User)
            .where(User.id == user.id)
            .where(sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step))
            .values(totp_last_step=step, totp_failures=0)
        )
        == 1
    )


def _use_recovery_code(user: User, code: str, now: datetime) -> bool:
    used = _execute(
        sa.update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        .where(RecoveryCode.code_hash == totp.hash_recovery_code(code))
        .values(used_at=now)
    )
    if used != 1:
        return False
    _execute(sa.update(User).where(User.id == user.id).values(totp_failures=0))
    return True


def recovery_codes_left(user: User) -> int:
    """How many unused recovery codes the member has."""
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def _lock_if_exhausted(user: User, now: datetime) -> datetime | None:
    db.session.refresh(user)
    if user.totp_failures < MAX_CODE_FAILURES:
        return None
    until = now + LOCKOUT
    _execute(
        sa.update(User)
        .where(User.id == user.id, User.totp_locked_until.is_(None))
        .values(totp_locked_until=until)
    )
    audit.record(user, "totp.locked", user, minutes=int(LOCKOUT.total_seconds() // 60))
    return until


def check_second_factor(user: User, code: str, action: str = "signin.totp") -> CodeCheck:
    """Check a TOTP or recovery code, with replay protection and the five-failure lockout."""
    now = utcnow()
    if not user.totp_enrolled:
        raise AccountError("Two-factor authentication is not set up yet.")
    if not _reserve_attempt(user, now):
        db.session.commit()
        db.session.refresh(user)
        return CodeCheck(CodeOutcome.LOCKED, locked_until=user.totp_locked_until)
    code = code.strip().replace(" ", "")
    if totp.is_totp_code(code):
        secret = totp.decrypt_secret(user.totp_secret_encrypted or "")
        step = totp.matching_step(secret, code, now, user.totp_last_step)
        if step is not None and _claim_step(user, step):
            audit.record(user, action, user)
            db.session.commit()
            return CodeCheck(CodeOutcome.ACCEPTED)
    elif 8 <= len(code) <= 32 and _use_recovery_code(user, code, now):
        left = recovery_codes_left(user)
        # audit.record refuses detail keys that mention codes, so this one says "recovery_left".
        audit.record(user, action, user, recovery_left=left, method="recovery")
        db.session.commit()
        return CodeCheck(CodeOutcome.RECOVERY_USED, recovery_codes_left=left)
    audit.record(user, "totp.failure", user, during=action)
    locked_until = _lock_if_exhausted(user, now)
    db.session.commit()
    if locked_until is not None:
        return CodeCheck(CodeOutcome.LOCKED, locked_until=locked_until)
    return CodeCheck(CodeOutcome.WRONG)


def reauthenticate(user: User, password: str, code: str) -> CodeCheck:
    """Prove again, with password and code, before a sensitive change."""
    if not verify_password(user.password_hash, password):
        audit.record(user, "reauth.failure", user, reason="wrong password")
        db.session.commit()
        raise AccountError("That password is incorrect.", "password")
    return check_second_factor(user, code, action="reauth.success")


def regenerate_recovery_codes(user: User) -> list[str]:
    """Replace every recovery code with ten new ones."""
    codes = _store_recovery_codes(user)
    audit.record(user, "totp.recovery_codes_regenerated", user)
    db.session.commit()
    return codes


def reset_totp(user: User, actor: User) -> None:
    """Forget the second factor (and its recovery codes); every session of the member ends."""
    user.totp_secret_encrypted = None
    user.totp_confirmed_at = None
    user.totp_last_step = None
    user.totp_failures = 0
    user.totp_locked_until = None
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    user.session_version += 1
    audit.record(actor, "totp.reset", user)
    db.session.commit()


# --- Passwords and addresses -------------------------------------------------------------------


def change_password(user: User, new_password: str, action: str = "password.changed") -> None:
    """Set a new password; every other session of the member ends."""
    check_new_password(new_password, user.email)
    user.password_hash = hash_password(new_password)
    user.session_version += 1
    audit.record(user, action, user)
    db.session.commit()
    mail.send_quietly(
        mail.compose(
            user.email, "Your Curbside password was changed", "password_changed", user=user
        )
    )


def request_email_change(user: User, new_email: str) -> None:
    """Mail a confirmation link to the new address, and a notice to the current one."""
    email = normalise_email(new_email, "email")
    if email == user.email:
        raise AccountError("That is already your address.", "email")
    if db.session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        raise AccountError("Another account uses that address.", "email")
    user.pending_email = email
    audit.record(user, "email.change_requested", user)
    db.session.commit()
    token = make_token(Purpose.CHANGE_EMAIL, {"uid": user.id, "em": _email_fingerprint(email)})
    link = mail.absolute_url("accounts.confirm_email_change", token=token)
    mail.send_quietly(
        mail.compose(
            email,
            "Confirm your new Curbside address",
            "confirm_email_change",
            user=user,
            link=link,
            hours=48,
        )
    )
    mail.send_quietly(
        mail.compose(
            user.email, "Your Curbside address is being changed", "email_change_notice", user=user
        )
    )


def confirm_email_change(token: str) -> User:
    """Switch to the pending address in a change link; the link then stops working."""
    payload = read_token(Purpose.CHANGE_EMAIL, token)
    user = db.session.get(User, payload.get("uid", 0))
    if user is None or user.pending_email is None:
        raise TokenError
    if payload.get("em") != _email_fingerprint(user.pending_email):
        raise TokenError
    if db.session.scalar(sa.select(User.id).where(User.email == user.pending_email)) is not None:
        raise AccountError("Another account now uses that address.")
    user.email = user.pending_email
    user.pending_email = None
    user.email_confirmed_at = utcnow()
    audit.record(user, "email.changed", user)
    db.session.commit()
    return user


def _password_fingerprint(user: User) -> str:
    # Changes whenever the password does, so a reset link works once.
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def request_password_reset(email: str) -> None:
    """Mail a reset link if the address has an account; say nothing either way."""
    try:
        email = normalise_email(email)
    except AccountError:
        return
    user = db.session.scalar(sa.select(User).where(User.email == email))
    if user is None:
        return
    token = make_token(Purpose.RESET_PASSWORD, {"uid": user.id, "pw": _password_fingerprint(user)})
    link = mail.absolute_url("accounts.reset_password_link", token=token)
    audit.record(user, "password.reset_requested", user)
    db.session.commit()
    mail.send_quietly(
        mail.compose(
            user.email,
            "Reset your Curbside password",
            "reset_password",
            user=user,
            link=link,
            minutes=60,
        )
    )


def user_for_reset(token: str) -> User:
    """The member a reset link is for, while the link is unused and unexpired."""
    payload = read_token(Purpose.RESET_PASSWORD, token)
    user = db.session.get(User, payload.get("uid", 0))
    if user is None or payload.get("pw") != _password_fingerprint(user):
        raise TokenError
    return user


def reset_password(token: str, new_password: str) -> User:
    """Set the password from a reset link; the link and every session then end."""
    user = user_for_reset(token)
    change_password(user, new_password, action="password.reset")
    return user


def sign_out_everywhere(user: User) -> None:
    """End every session of the member, this one included."""
    user.session_version += 1
    audit.record(user, "session.signed_out_everywhere", user)
    db.session.commit()


# --- Staff -------------------------------------------------------------------------------------


def set_roles(actor: User | None, user: User, roles: set[Role]) -> None:
    """Grant and revoke staff roles, logging each change."""
    if actor is not None and actor.id == user.id and Role.ADMIN not in roles and user.is_admin:
        raise AccountError("You cannot remove your own admin role.")
    flags = {Role.ADMIN: "is_admin", Role.MODERATOR: "is_moderator", Role.VERIFIER: "is_verifier"}
    for role, attribute in flags.items():
        held, wanted = getattr(user, attribute), role in roles
        if held != wanted:
            setattr(user, attribute, wanted)
            audit.record(actor, "role.granted" if wanted else "role.revoked", user, role=str(role))
    db.session.commit()


def suspend(actor: User, user: User, reason: str) -> None:
    """Suspend a member: they keep their account but see nothing clinical; sessions end."""
    reason = " ".join(reason.split())
    if not 3 <= len(reason) <= 500:
        raise AccountError("Give a reason of 3 to 500 characters.", "reason")
    if actor.id == user.id:
        raise AccountError("You cannot suspend yourself.")
    user.suspended_at = utcnow()
    user.suspension_reason = reason
    user.session_version += 1
    audit.record(actor, "account.suspended", user)
    db.session.commit()


def unsuspend(actor: User, user: User) -> None:
    """Lift a suspension."""
    user.suspended_at = None
    user.suspension_reason = None
    audit.record(actor, "account.unsuspended", user)
    db.session.commit()


# --- Accounts made from the shell --------------------------------------------------------------


@dataclass(frozen=True)
class Provisioned:
    """An account made from the shell, with what the operator must hand over."""

    user: User
    totp_secret: str
    recovery_codes: list[str]


def provision_account(form: SignUp, roles: set[Role], *, verified: bool = False) -> Provisioned:
    """Create a confirmed account with its second factor already enrolled (CLI and demo)."""
    email = normalise_email(form.email)
    display_name = check_display_name(form.display_name)
    check_new_password(form.password, email)
    now = utcnow()
    secret = totp.new_secret()
    user = User(
        email=email,
        email_confirmed_at=now,
        password_hash=hash_password(form.password),
        display_name=display_name,
        display_name_key=display_name_key(display_name),
        first_name=check_person_name(form.first_name, "first_name"),
        last_name=check_person_name(form.last_name, "last_name"),
        totp_secret_encrypted=totp.encrypt_secret(secret),
        totp_confirmed_at=now,
        is_admin=Role.ADMIN in roles,
        is_moderator=Role.MODERATOR in roles,
        is_verifier=Role.VERIFIER in roles,
        verified_at=now if verified else None,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(None, "account.provisioned", user, roles=sorted(str(role) for role in roles))
    codes = _store_recovery_codes(user)
    db.session.commit()
    return Provisioned(user, secret, codes)


def find_by_email(email: str) -> User | None:
    """The member with this address, if any (nobody has a malformed address)."""
    try:
        email = normalise_email(email)
    except AccountError:
        return None
    return db.session.scalar(sa.select(User).where(User.email == email))

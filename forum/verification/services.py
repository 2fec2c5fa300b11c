"""The member's side of verification: claims, proof documents, answers, and the hospital list."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy.exc import IntegrityError

from forum import audit, mail, phi
from forum.accounts.models import User
from forum.accounts.services import AccountError, check_person_name
from forum.extensions import db, utcnow
from forum.verification import documents, nppes_api
from forum.verification.documents import CheckedFile, DocumentError, Upload
from forum.verification.matching import (
    SOURCE_API,
    SOURCE_REGISTRY,
    Claim,
    MatchResult,
    Outcome,
    match,
)
from forum.verification.models import (
    ClaimDocument,
    ClaimStatus,
    HospitalDomain,
    RegistryProvider,
    VerificationClaim,
)
from forum.verification.npi import NpiError, normalise_npi
from forum.verification.states import is_state
from forum.verification.taxonomy import SPECIALTY_NAMES

log = logging.getLogger(__name__)

HOSPITAL_EMAIL = "hospital_email"
ANSWER_MAX_LENGTH = 2000
ORGANISATION_MAX_LENGTH = 200
OPEN_STATUSES = (ClaimStatus.PENDING, ClaimStatus.MORE_INFO)
_LICENCE_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 .\-/]{0,39}$")
# Anyone can open an address at these; on the hospital list they would verify strangers.
FREE_MAIL_DOMAINS = frozenset(
    {
        "aol.com",
        "fastmail.com",
        "gmail.com",
        "gmx.com",
        "googlemail.com",
        "hotmail.com",
        "icloud.com",
        "live.com",
        "mail.com",
        "me.com",
        "msn.com",
        "outlook.com",
        "proton.me",
        "protonmail.com",
        "yahoo.com",
        "yandex.com",
        "zoho.com",
    }
)
NPI_TAKEN_MEANWHILE = (
    "Another account was verified with this NPI a moment ago, so nothing was saved. "
    "Send the form again: a verifier will look at your claim."
)


class VerificationError(Exception):
    """A request the member (or admin) must change; the message says how."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NoteBlocked(VerificationError):
    """The PHI gate blocked a member's note: nothing was stored; the findings say where and why."""

    def __init__(self, field: str, text: str, findings: Sequence[phi.Finding]) -> None:
        blocking = [f for f in findings if f.action is phi.Action.BLOCK]
        parts = [
            f"“{text[f.start : f.end]}”: {f.reason}" + (f" {f.suggestion}" if f.suggestion else "")
            for f in blocking
        ]
        super().__init__(
            "This may identify a patient, so nothing was sent. " + " ".join(parts), field
        )
        self.text = text
        self.findings = list(blocking)


def own_names(*names: str) -> set[str]:
    """A member's own names as the note may write them; they identify the member, not a patient."""
    words = [name.strip() for name in names if name and name.strip()]
    terms = {*words, *(part for name in words for part in name.split())}
    for first in words:
        for last in words:
            if first != last:
                terms |= {f"{first} {last}", f"{last}, {first}"}
    terms |= {f"{title} {term}" for term in list(terms) for title in ("Dr", "Dr.")}
    return terms


def gate_note(text: str, field: str, own: Collection[str] = ()) -> None:
    """A member's note through the PHI gate: a block raises NoteBlocked; a review passes,
    since only verifiers (staff) read notes. The member's own names are not patients'."""
    result = phi.gate({field: text}, allowed_terms=own)
    if result.blocked:
        raise NoteBlocked(field, text, result.findings[field])


@dataclass(frozen=True)
class ClaimDetails:
    """What a member types on the credential form."""

    npi: str
    first_name: str
    last_name: str
    practice_state: str
    specialty: str
    licence_number: str = ""
    licence_state: str = ""


@dataclass(frozen=True)
class Lookup:
    """The registry record found for an NPI, where it came from, and how the API answered."""

    provider: RegistryProvider | None
    source: str
    # None when the NPPES API was not asked; else "found", "not_found" or "unavailable".
    online: str | None = None


# --- Checking what the member typed -------------------------------------------------------------


def _licence(number: str, state: str) -> tuple[str | None, str | None]:
    number, state = " ".join(number.split()), state.strip().upper()
    if number and not state:
        raise VerificationError(
            "Choose the state that issued this licence, or leave the number empty.",
            "licence_state",
        )
    if state and not number:
        raise VerificationError(
            "Enter the licence number, or leave its state empty.", "licence_number"
        )
    if number and not _LICENCE_NUMBER.match(number):
        raise VerificationError(
            "Use the licence number as printed: letters, digits, spaces, dots, dashes or "
            "slashes, at most 40.",
            "licence_number",
        )
    if state and not is_state(state):
        raise VerificationError("Choose a state from the list.", "licence_state")
    return number or None, state or None


def checked_details(details: ClaimDetails) -> ClaimDetails:
    """The details tidied (the NPI as ten digits), or VerificationError naming the field."""
    try:
        npi = normalise_npi(details.npi)
    except NpiError as error:
        raise VerificationError(str(error), "npi") from None
    try:
        first_name = check_person_name(details.first_name, "first_name")
        last_name = check_person_name(details.last_name, "last_name")
    except AccountError as error:
        raise VerificationError(error.message, error.field) from None
    if not is_state(details.practice_state):
        raise VerificationError("Choose the state where you practise.", "practice_state")
    if details.specialty not in SPECIALTY_NAMES:
        raise VerificationError("Choose your specialty from the list.", "specialty")
    number, state = _licence(details.licence_number, details.licence_state)
    return ClaimDetails(
        npi,
        first_name,
        last_name,
        details.practice_state,
        details.specialty,
        number or "",
        state or "",
    )


def _checked_files(uploads: Sequence[Upload], field: str) -> list[CheckedFile]:
    checked = []
    for upload in uploads:
        try:
            checked.append(documents.check(upload))
        except DocumentError as error:
            name = documents.display_name(upload.name)
            raise VerificationError(f"{name}: {error.message}", field) from None
    return checked


def _check_room(claim: VerificationClaim | None, adding: int, field: str | None) -> None:
    held = len(claim.documents) if claim is not None else 0
    if held + adding > documents.MAX_PER_CLAIM:
        left = documents.MAX_PER_CLAIM - held
        raise VerificationError(
            f"A claim holds at most {documents.MAX_PER_CLAIM} documents; "
            + (f"you can add {left} more." if left else "this one is full."),
            field,
        )


# --- Finding the registry record ----------------------------------------------------------------


def find_provider(npi: str) -> Lookup:
    """The registry copy's record, else the NPPES API's when configured; failure means review."""
    provider = db.session.get(RegistryProvider, npi)
    if provider is not None:
        return Lookup(provider, SOURCE_REGISTRY)
    if not current_app.config.get("NPPES_API_URL"):
        return Lookup(None, SOURCE_REGISTRY)
    try:
        found = nppes_api.lookup_configured(npi)
    except nppes_api.NppesUnavailable:
        log.warning("NPPES API unavailable; the claim goes to a verifier")
        return Lookup(None, SOURCE_REGISTRY, online="unavailable")
    if found is None:
        return Lookup(None, SOURCE_REGISTRY, online="not_found")
    return Lookup(found, SOURCE_API, online="found")


def _match(details: ClaimDetails, lookup: Lookup) -> MatchResult:
    claim = Claim(
        npi=details.npi,
        first_name=details.first_name,
        last_name=details.last_name,
        practice_state=details.practice_state,
        licence_number=details.licence_number or None,
        licence_state=details.licence_state or None,
    )
    return match(claim, lookup.provider, source=lookup.source)


# --- Hospital e-mail domains --------------------------------------------------------------------


def normalise_domain(text: str) -> str:
    """A domain in the form e-mail addresses use (lower case, IDNA), or VerificationError."""
    raw = text.strip().lower().removeprefix("@").removeprefix("*.").rstrip(".")
    try:
        return validate_email(f"proof@{raw}", check_deliverability=False).ascii_domain
    except EmailNotValidError:
        raise VerificationError("Enter a domain like hospital.org.", "domain") from None


def _domain_of(address: str) -> str | None:
    try:
        return validate_email(address, check_deliverability=False).ascii_domain
    except EmailNotValidError:
        return None


def hospital_for(address: str) -> HospitalDomain | None:
    """The listed domain an address belongs to, itself or a parent (a.b.org belongs to b.org)."""
    domain = _domain_of(address)
    if domain is None:
        return None
    labels = domain.split(".")
    candidates = [".".join(labels[start:]) for start in range(len(labels) - 1)]
    query = sa.select(HospitalDomain).where(HospitalDomain.domain.in_(candidates))
    found = list(db.session.scalars(query))
    return max(found, key=lambda entry: len(entry.domain)) if found else None


def hospital_domains() -> list[HospitalDomain]:
    """The hospital list, alphabetically."""
    return list(db.session.scalars(sa.select(HospitalDomain).order_by(HospitalDomain.domain)))


def add_hospital_domain(actor: User, domain: str, organisation: str) -> HospitalDomain:
    """Put a hospital's e-mail domain on the list; audited."""
    name = normalise_domain(domain)
    if name in FREE_MAIL_DOMAINS:
        raise VerificationError(
            f"Anyone can get an address at {name}; it proves nothing.", "domain"
        )
    organisation = " ".join(organisation.split())
    if not organisation or len(organisation) > ORGANISATION_MAX_LENGTH:
        raise VerificationError(
            "Name the hospital or health system (up to 200 characters).", "organisation"
        )
    taken = VerificationError(f"{name} is already on the list.", "domain")
    if db.session.scalar(sa.select(HospitalDomain.id).where(HospitalDomain.domain == name)):
        raise taken
    entry = HospitalDomain(
        domain=name, organisation=organisation, added_by_id=actor.id, added_at=utcnow()
    )
    db.session.add(entry)
    db.session.flush()
    audit.record(
        actor, "verification.hospital_domain_added", entry, domain=name, organisation=organisation
    )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another admin added it in the meantime
        raise taken from None
    return entry


def remove_hospital_domain(actor: User, domain_id: int) -> HospitalDomain | None:
    """Take a domain off the list (members verified through it stay verified); audited."""
    entry = db.session.get(HospitalDomain, domain_id)
    if entry is None:
        return None
    audit.record(
        actor,
        "verification.hospital_domain_removed",
        entry,
        domain=entry.domain,
        organisation=entry.organisation,
    )
    db.session.delete(entry)
    db.session.commit()
    return entry


# --- Claims -------------------------------------------------------------------------------------


def latest_claim(user: User) -> VerificationClaim | None:
    """The member's most recent claim."""
    query = (
        sa.select(VerificationClaim)
        .where(VerificationClaim.user_id == user.id)
        .order_by(VerificationClaim.id.desc())
        .limit(1)
    )
    return db.session.scalar(query)


def own_claim(user: User, claim_id: int) -> VerificationClaim | None:
    """One of the member's own claims, or None (someone else's is as good as missing)."""
    claim = db.session.get(VerificationClaim, claim_id)
    return claim if claim is not None and claim.user_id == user.id else None


def is_organisation(claim: VerificationClaim) -> bool:
    """Whether the claimed NPI belongs to an organisation rather than a person."""
    return claim.match_outcome == Outcome.ORGANISATION.value


def _npi_held_elsewhere(npi: str, user: User) -> bool:
    # User.npi is set only by verification: a holder is (or was) verified with this NPI.
    query = sa.select(User.id).where(User.npi == npi, User.id != user.id)
    return db.session.scalar(query) is not None


@contextmanager
def _one_transaction() -> Iterator[list[str]]:
    """Commit once at the end; on any failure roll back and delete the files written."""
    written: list[str] = []
    try:
        yield written
        db.session.commit()
    except BaseException:
        db.session.rollback()
        for name in written:
            documents.delete(name)
        raise


def _attach(claim: VerificationClaim, files: Sequence[CheckedFile], written: list[str]) -> None:
    for checked in files:
        storage_name = documents.write(checked)
        written.append(storage_name)
        claim.documents.append(
            ClaimDocument(
                original_name=checked.display_name,
                content_type=checked.content_type,
                size=checked.size,
                sha256=checked.sha256,
                storage_name=storage_name,
                uploaded_at=utcnow(),
            )
        )


def _supersede_open_claims(user: User, now: datetime) -> int:
    result = db.session.execute(
        sa.update(VerificationClaim)
        .where(VerificationClaim.user_id == user.id, VerificationClaim.status.in_(OPEN_STATUSES))
        .values(status=ClaimStatus.SUPERSEDED, decided_at=now)
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _new_claim(
    user: User, details: ClaimDetails, result: MatchResult, lookup: Lookup
) -> VerificationClaim:
    import_id = lookup.provider.import_id if lookup.provider is not None else None
    evidence = dict(result.evidence(import_id))
    if lookup.online is not None:
        evidence["online_lookup"] = lookup.online
    return VerificationClaim(
        user=user,
        npi=details.npi,
        first_name=details.first_name,
        last_name=details.last_name,
        practice_state=details.practice_state,
        licence_number=details.licence_number or None,
        licence_state=details.licence_state or None,
        specialty=details.specialty,
        status=ClaimStatus.PENDING,
        created_at=utcnow(),
        match_outcome=result.outcome.value,
        evidence=evidence,
        registry_import_id=import_id,
        possible_impersonation=_npi_held_elsewhere(details.npi, user),
    )


def _approve_automatically(claim: VerificationClaim, hospital: HospitalDomain) -> None:
    now, user = utcnow(), claim.user
    claim.status = ClaimStatus.APPROVED
    claim.automatic_reason = HOSPITAL_EMAIL
    claim.decided_at = now
    user.verified_at = now
    user.npi = claim.npi
    user.specialty = claim.specialty
    audit.record(
        user,
        "verification.approved_automatically",
        claim,
        claim_id=claim.id,
        reason=HOSPITAL_EMAIL,
        domain=hospital.domain,
    )


def _proof_by_email(claim: VerificationClaim, result: MatchResult) -> HospitalDomain | None:
    """The listed hospital vouching for a matching claim, when nothing calls for a verifier."""
    user = claim.user
    if not result.matched or claim.possible_impersonation or not user.email_confirmed:
        return None
    return hospital_for(user.email)


def _refuse_claims_from(user: User) -> None:
    if user.verified_at is not None:
        raise VerificationError("You are verified already.")
    if user.suspended:
        raise VerificationError("Your account is suspended; you cannot send a claim.")


def _record_claim(
    user: User, details: ClaimDetails, result: MatchResult, lookup: Lookup
) -> VerificationClaim:
    """The new claim in the session; the member's open claims give way to it."""
    superseded = _supersede_open_claims(user, utcnow())
    claim = _new_claim(user, details, result, lookup)
    db.session.add(claim)
    db.session.flush()
    audit.record(
        user,
        "verification.claim_submitted",
        claim,
        claim_id=claim.id,
        outcome=claim.match_outcome,
        possible_impersonation=claim.possible_impersonation,
        superseded=superseded,
    )
    return claim


def _decide_at_once(claim: VerificationClaim, result: MatchResult, documents_sent: int) -> None:
    """Approve on a hospital address; otherwise the claim waits for a verifier."""
    hospital = _proof_by_email(claim, result)
    if hospital is not None:
        _approve_automatically(claim, hospital)
    log.info(
        "Claim %s from member %s: %s, %s, %d documents",
        claim.id,
        claim.user_id,
        claim.match_outcome,
        claim.status,
        documents_sent,
    )


def submit_claim(
    user: User, details: ClaimDetails, uploads: Sequence[Upload] = ()
) -> VerificationClaim:
    """File a claim: match it, keep the evidence, and verify at once on a hospital address."""
    _refuse_claims_from(user)
    details = checked_details(details)
    files = _checked_files(uploads, "documents")
    _check_room(None, len(files), "documents")
    lookup = find_provider(details.npi)  # before any write: it may call the NPPES API
    result = _match(details, lookup)
    try:
        with _one_transaction() as written:
            claim = _record_claim(user, details, result, lookup)
            _attach(claim, files, written)
            _decide_at_once(claim, result, len(files))
    except IntegrityError:
        # user.npi is unique: another account was verified with this NPI since we looked.
        raise VerificationError(NPI_TAKEN_MEANWHILE, "npi") from None
    if claim.status == ClaimStatus.APPROVED:
        _mail_approved(claim)
    return claim


def _mail_approved(claim: VerificationClaim) -> None:
    message = mail.compose(
        claim.user.email,
        "You are verified on Curbside",
        "verification_approved",
        user=claim.user,
        specialty=SPECIALTY_NAMES.get(claim.specialty, ""),
        link=mail.absolute_url("pages.index"),
    )
    if not mail.send_quietly(message):
        log.warning("Approval mail for claim %s was not sent", claim.id)


def _lock(claim: VerificationClaim) -> None:
    # PostgreSQL: two uploads at once must not both see room for a fifth document.
    db.session.refresh(claim, with_for_update=True)


def attach_document(user: User, claim: VerificationClaim, upload: Upload) -> ClaimDocument:
    """Add a proof document to one of the member's open claims."""
    if claim.user_id != user.id:
        raise VerificationError("This is not your claim.")
    checked = _checked_files([upload], "document")
    _lock(claim)
    if not claim.is_open:
        raise VerificationError("This claim is closed; documents go with an open claim.")
    _check_room(claim, 1, None)  # a full claim's page shows no upload field: flash it
    with _one_transaction() as written:
        _attach(claim, checked, written)
        db.session.flush()
        document = claim.documents[-1]
        audit.record(
            user,
            "verification.document_attached",
            claim,
            claim_id=claim.id,
            document_id=document.id,
            content_type=document.content_type,
            size=document.size,
        )
    return document


def answer_more_info(
    user: User, claim: VerificationClaim, answer: str, uploads: Sequence[Upload] = ()
) -> None:
    """The member answers a verifier's request for more; the claim waits for a verifier again."""
    if claim.user_id != user.id:
        raise VerificationError("This is not your claim.")
    text = answer.strip()
    if not text or len(text) > ANSWER_MAX_LENGTH:
        raise VerificationError(
            f"Write your answer, up to {ANSWER_MAX_LENGTH} characters.", "answer"
        )
    gate_note(
        text,
        "answer",
        own_names(
            claim.first_name, claim.last_name, user.first_name, user.last_name, user.display_name
        ),
    )
    files = _checked_files(uploads, "documents")
    _lock(claim)
    if claim.status != ClaimStatus.MORE_INFO:
        raise VerificationError("This claim is not waiting for an answer from you.")
    _check_room(claim, len(files), None)
    with _one_transaction() as written:
        _attach(claim, files, written)
        claim.member_note = text
        claim.status = ClaimStatus.PENDING
        audit.record(
            user, "verification.more_info_answered", claim, claim_id=claim.id, documents=len(files)
        )


# --- Retention ----------------------------------------------------------------------------------


def purge_expired_documents(now: datetime) -> int:
    """Delete the files of claims decided more than 30 days ago; rows and checksums stay."""
    query = (
        sa.select(ClaimDocument)
        .join(ClaimDocument.claim)
        .where(
            ClaimDocument.storage_name.is_not(None),
            VerificationClaim.status.not_in(OPEN_STATUSES),
            VerificationClaim.decided_at < now - documents.RETENTION,
        )
    )
    expired = list(db.session.scalars(query))
    for document in expired:
        # The file goes first: should the commit fail, the next run finds the row again.
        documents.delete(document.storage_name or "")
        document.storage_name = None
        document.purged_at = now
    if expired:
        audit.record(None, "verification.documents_purged", None, documents=len(expired))
    db.session.commit()
    log.info("Purged %d document files", len(expired))
    return len(expired)

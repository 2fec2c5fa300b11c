"""Registry rows from the sample file, members with hospital addresses, and documents to upload."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from PIL import Image

from forum import ROOT
from forum.accounts.models import User
from forum.audit import AuditEvent
from forum.extensions import db, utcnow
from forum.verification.models import (
    HospitalDomain,
    RegistryImport,
    RegistryProvider,
    VerificationClaim,
)
from forum.verification.taxonomy import physician_codes
from tests.conftest import FormClient
from tests.factories import Member, make_user, sign_in

SAMPLE = ROOT.parent / "shared" / "nppes" / "npidata_sample.csv"

WIEBE = "1679576722"  # WIEBE DAVID A, orthopaedic surgery (207X00000X), Nebraska, licence 12637
BISBEE = "1750384806"  # BISBEE ROBERT, internal medicine, Texas
ORGANISATION = "1497758544"  # CUMBERLAND COUNTY HOSPITAL SYSTEM
NOT_IN_SAMPLE = "1234567893"  # well formed (CMS's worked example), in no registry

WIEBE_FORM = {
    "npi": WIEBE,
    "first_name": "David",
    "last_name": "Wiebe",
    "practice_state": "NE",
    "specialty": "orthopaedics",
}


# --- The registry copy, straight from the sample file -------------------------------------------


@cache
def _sample_rows() -> dict[str, dict[str, str]]:
    with SAMPLE.open(encoding="utf-8", newline="") as handle:
        return {row["NPI"]: row for row in csv.DictReader(handle)}


def _date(text: str) -> date | None:
    return datetime.strptime(text, "%m/%d/%Y").date() if text else None


def _taxonomies(row: dict[str, str]) -> list[dict[str, Any]]:
    slots = []
    for slot in range(1, 16):
        code = row[f"Healthcare Provider Taxonomy Code_{slot}"]
        if code:
            slots.append(
                {
                    "slot": slot,
                    "code": code,
                    "primary": row[f"Healthcare Provider Primary Taxonomy Switch_{slot}"] == "Y",
                    "licence": row[f"Provider License Number_{slot}"] or None,
                    "state": row[f"Provider License Number State Code_{slot}"] or None,
                }
            )
    return slots


def sample_provider(npi: str, import_id: int) -> RegistryProvider:
    """The sample file's row for an NPI, as the registry copy keeps it."""
    row = _sample_rows()[npi]
    taxonomies = _taxonomies(row)
    return RegistryProvider(
        npi=npi,
        entity_type=int(row["Entity Type Code"]) if row["Entity Type Code"] else None,
        last_name=row["Provider Last Name (Legal Name)"] or None,
        first_name=row["Provider First Name"] or None,
        middle_name=row["Provider Middle Name"] or None,
        credential=row["Provider Credential Text"] or None,
        organisation_name=row["Provider Organization Name (Legal Business Name)"] or None,
        other_names=[],
        taxonomies=taxonomies,
        practice_state=row["Provider Business Practice Location Address State Name"] or None,
        deactivated_on=_date(row["NPI Deactivation Date"]),
        reactivated_on=_date(row["NPI Reactivation Date"]),
        has_physician_taxonomy=any(t["code"] in physician_codes() for t in taxonomies),
        row_hash=hashlib.md5(npi.encode(), usedforsecurity=False).hexdigest(),
        import_id=import_id,
    )


def add_registry(app: Flask, *npis: str) -> int:
    """A completed import holding the sample rows of these NPIs; returns the import's id."""
    with app.app_context():
        run = RegistryImport(
            file_name=SAMPLE.name,
            sha256="0" * 64,
            file_size=SAMPLE.stat().st_size,
            status="complete",
            finished_at=utcnow(),
        )
        db.session.add(run)
        db.session.flush()
        db.session.add_all(sample_provider(npi, run.id) for npi in npis or _sample_rows())
        db.session.commit()
        return run.id


def add_domain(app: Flask, domain: str, organisation: str = "General Hospital") -> None:
    """Put a domain on the hospital list directly."""
    with app.app_context():
        db.session.add(HospitalDomain(domain=domain, organisation=organisation))
        db.session.commit()


# --- Members ------------------------------------------------------------------------------------


def member_client(app: Flask, email: str | None = None, **member: Any) -> tuple[FormClient, Member]:
    """A new member signed in with both factors on a fresh client."""
    with app.app_context():
        made = make_user(email, **member)
    client: FormClient = app.test_client()  # type: ignore[assignment]
    assert sign_in(client, made).status_code == 302
    return client, made


def submit(client: FormClient, files: Any = None, **fields: str) -> Any:
    """Post the credential form: Dr Wiebe's details unless told otherwise."""
    data: dict[str, Any] = {**WIEBE_FORM, **fields}
    if files is not None:
        data["documents"] = files
    return client.post("/verification/claim", data=data, content_type="multipart/form-data")


def claims_of(app: Flask, member: Member) -> list[VerificationClaim]:
    """The member's claims, oldest first, with their documents loaded."""
    with app.app_context():
        query = (
            sa.select(VerificationClaim)
            .where(VerificationClaim.user_id == member.id)
            .order_by(VerificationClaim.id)
        )
        found = list(db.session.scalars(query))
        for claim in found:
            _ = claim.documents
        db.session.expunge_all()
        return found


def only_claim(app: Flask, member: Member) -> VerificationClaim:
    """The member's one claim."""
    found = claims_of(app, member)
    assert len(found) == 1, found
    return found[0]


def user_now(app: Flask, member: Member) -> User:
    """The member's account as stored now."""
    with app.app_context():
        user = db.session.get(User, member.id)
        assert user is not None
        db.session.expunge(user)
        return user


def audit_of(app: Flask, prefix: str = "verification.") -> list[AuditEvent]:
    """Verification audit events, oldest first."""
    with app.app_context():
        query = (
            sa.select(AuditEvent)
            .where(AuditEvent.action.startswith(prefix))
            .order_by(AuditEvent.id)
        )
        found = list(db.session.scalars(query))
        db.session.expunge_all()
        return found


def set_claim(app: Flask, claim_id: int, **fields: Any) -> None:
    """Change a claim directly, as a verifier's decision would."""
    with app.app_context():
        claim = db.session.get(VerificationClaim, claim_id)
        assert claim is not None
        for name, value in fields.items():
            setattr(claim, name, value)
        db.session.commit()


def stored_files(app: Flask) -> list[Path]:
    """Every file in the documents folder."""
    folder = Path(app.instance_path) / "documents"
    return sorted(folder.iterdir()) if folder.exists() else []


# --- Documents ----------------------------------------------------------------------------------


def image_bytes(kind: str = "PNG", size: tuple[int, int] = (240, 160)) -> bytes:
    """A small real image."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (20, 120, 200)).save(buffer, kind)
    return buffer.getvalue()


def pdf_bytes(text: str = "State medical licence") -> bytes:
    """A small well-formed one-page PDF."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    body, offsets = b"%PDF-1.4\n", []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n" % number + content + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return body


def upload(data: bytes, name: str) -> tuple[io.BytesIO, str]:
    """A file field's value for the test client."""
    return io.BytesIO(data), name

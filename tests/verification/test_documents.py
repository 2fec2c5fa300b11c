"""Proof documents: checked by content, stored privately under random names, purged in time."""

from __future__ import annotations

import hashlib
import io
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.datastructures import FileStorage
from werkzeug.routing import IntegerConverter
from werkzeug.test import encode_multipart

from forum.accounts.models import User
from forum.audit import AuditEvent
from forum.extensions import db, utcnow
from forum.verification import documents, services
from forum.verification.documents import Upload
from forum.verification.models import ClaimDocument, ClaimStatus, VerificationClaim
from tests.accounts.helpers import field_errors, flashes
from tests.conftest import FormClient
from tests.core.helpers import text
from tests.factories import Member
from tests.verification.member_helpers import (
    WIEBE,
    add_registry,
    audit_of,
    claims_of,
    image_bytes,
    member_client,
    only_claim,
    pdf_bytes,
    set_claim,
    stored_files,
    submit,
    upload,
)

NOT_ACCEPTED = "Send a PDF, PNG or JPEG file: this file is none of them."
DAMAGED = "This file is damaged or incomplete."
TOO_LARGE = "This file is larger than 10 MB; send a smaller scan or photo."


def pending_claim(app: Flask) -> tuple[FormClient, Member, VerificationClaim]:
    """A member with an open claim and no documents."""
    add_registry(app, WIEBE)
    client, member = member_client(app)
    submit(client)
    return client, member, only_claim(app, member)


def send(client: FormClient, claim_id: int, data: bytes, name: str) -> Any:
    """Upload one document to a claim through the status page's form."""
    return client.post(
        f"/verification/claim/{claim_id}/documents",
        data={"document": upload(data, name)},
        content_type="multipart/form-data",
    )


def send_large(client: FormClient, claim_id: int, data: bytes, name: str) -> Any:
    """Like send(), with the body encoded in memory.

    The test client spools bodies over 500 KB to a temporary file it never closes, which
    pytest (warnings as errors) reports; a ready-made body sidesteps that.
    """
    fields = {"csrf_token": client.csrf_token(), "document": FileStorage(io.BytesIO(data), name)}
    boundary, body = encode_multipart(fields)
    return client.post(
        f"/verification/claim/{claim_id}/documents",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        csrf=False,
    )


def document_rows(app: Flask) -> list[ClaimDocument]:
    with app.app_context():
        found = list(db.session.scalars(sa.select(ClaimDocument).order_by(ClaimDocument.id)))
        db.session.expunge_all()
        return found


# --- What is accepted ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "content_type"),
    [
        (pdf_bytes(), "licence.pdf", "application/pdf"),
        (image_bytes("PNG"), "badge.png", "image/png"),
        (image_bytes("JPEG"), "badge photo.JPG", "image/jpeg"),
    ],
)
def test_a_pdf_png_or_jpeg_is_stored_privately_under_a_random_name(
    app: Flask, data: bytes, name: str, content_type: str
) -> None:
    client, _, claim = pending_claim(app)

    response = send(client, claim.id, data, name)

    assert response.status_code == 302
    (document,) = document_rows(app)
    assert (document.claim_id, document.original_name) == (claim.id, name)
    assert document.content_type == content_type
    assert (document.size, document.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert document.storage_name is not None
    assert len(document.storage_name) == 32
    assert name not in document.storage_name
    (path,) = stored_files(app)
    assert path.name == document.storage_name
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.parent == Path(app.instance_path) / "documents"
    assert Path(app.static_folder or "") not in path.parents
    event = audit_of(app)[-1]
    assert event.action == "verification.document_attached"
    assert event.details["document_id"] == document.id
    assert name in text(client.get("/verification/"))


def test_a_pdf_named_as_an_image_is_accepted_as_the_pdf_it_is(app: Flask) -> None:
    client, _, claim = pending_claim(app)
    assert send(client, claim.id, pdf_bytes(), "badge.png").status_code == 302
    (document,) = document_rows(app)
    assert (document.content_type, document.original_name) == ("application/pdf", "badge.png")


def test_a_png_named_as_a_pdf_is_accepted_as_the_png_it_is(app: Flask) -> None:
    client, _, claim = pending_claim(app)
    assert send(client, claim.id, image_bytes("PNG"), "licence.pdf").status_code == 302
    assert document_rows(app)[0].content_type == "image/png"


def test_the_declared_name_loses_its_folders_and_control_characters(app: Flask) -> None:
    client, _, claim = pending_claim(app)
    send(client, claim.id, pdf_bytes(), "../../home/dr/lic\x00ence\x1b.pdf")
    assert document_rows(app)[0].original_name == "licence.pdf"
    assert documents.display_name("C:\\Users\\dr\\licence.pdf") == "licence.pdf"
    assert documents.display_name("\x00/") == "document"


# --- What is refused ----------------------------------------------------------------------------


def _html() -> bytes:
    return b"<!doctype html><script>alert(1)</script>"


def _html_carrying_a_pdf() -> bytes:
    return b"<html><script>alert(1)</script>" + pdf_bytes()


def _png_header_then_script() -> bytes:
    return image_bytes("PNG")[:16] + b"<script>alert(1)</script>" * 20


def _truncated_png() -> bytes:
    data = image_bytes("PNG", (400, 300))
    return data[: len(data) // 2]


def _truncated_jpeg() -> bytes:
    data = image_bytes("JPEG", (400, 300))
    return data[: len(data) // 2]


def _truncated_pdf() -> bytes:
    data = pdf_bytes()
    return data[: len(data) - 40]


def _gif() -> bytes:
    return image_bytes("GIF")


@pytest.mark.parametrize(
    ("make", "name", "message"),
    [
        (_html, "licence.pdf", NOT_ACCEPTED),
        (_html_carrying_a_pdf, "licence.pdf", NOT_ACCEPTED),
        (_gif, "badge.png", NOT_ACCEPTED),
        (lambda: b"MZ\x90\x00" + b"\x00" * 100, "badge.jpg", NOT_ACCEPTED),
        (_png_header_then_script, "badge.png", DAMAGED),
        (_truncated_png, "badge.png", DAMAGED),
        (_truncated_jpeg, "badge.jpg", DAMAGED),
        (lambda: b"\xff\xd8\xff" + b"\x00" * 300, "badge.jpg", DAMAGED),
        (_truncated_pdf, "licence.pdf", DAMAGED),
    ],
)
def test_a_file_that_is_not_a_whole_pdf_png_or_jpeg_is_refused_with_a_reason(
    app: Flask, make: Any, name: str, message: str
) -> None:
    client, _, claim = pending_claim(app)

    response = send(client, claim.id, make(), name)

    assert response.status_code == 422
    (error,) = field_errors(response, "document")
    assert error.startswith(f"{name}: {message}")
    assert document_rows(app) == []
    assert stored_files(app) == []


def test_an_empty_file_is_refused(app: Flask) -> None:
    with app.test_request_context(), pytest.raises(documents.DocumentError, match="empty"):
        documents.check(Upload("badge.png", io.BytesIO(b"")))


def test_a_file_over_10_mb_is_refused(app: Flask) -> None:
    client, _, claim = pending_claim(app)
    data = pdf_bytes() + b"%" * (documents.MAX_BYTES)

    response = send_large(client, claim.id, data, "licence.pdf")

    assert response.status_code == 422
    assert field_errors(response, "document") == [TOO_LARGE]
    assert document_rows(app) == []
    assert stored_files(app) == []


def test_exactly_10_mb_is_accepted(app: Flask) -> None:
    client, _, claim = pending_claim(app)
    head = pdf_bytes()
    data = head[:-6] + b"\n" * (documents.MAX_BYTES - len(head)) + head[-6:]
    assert len(data) == documents.MAX_BYTES
    assert send_large(client, claim.id, data, "licence.pdf").status_code == 302


def test_the_service_refuses_an_oversized_stream_itself(app: Flask) -> None:
    big = io.BytesIO(pdf_bytes() + b" " * documents.MAX_BYTES)
    with app.test_request_context(), pytest.raises(documents.DocumentError, match="10 MB"):
        documents.check(Upload("licence.pdf", big))


def test_a_sixth_document_is_refused(app: Flask) -> None:
    client, _, claim = pending_claim(app)
    for number in range(5):
        assert send(client, claim.id, image_bytes(), f"page{number}.png").status_code == 302
    assert "holds the most documents it can (5)" in text(client.get("/verification/"))

    response = send(client, claim.id, image_bytes(), "page6.png")

    assert response.status_code == 422
    assert flashes(response) == ["A claim holds at most 5 documents; this one is full."]
    assert len(document_rows(app)) == 5
    assert len(stored_files(app)) == 5


def test_more_than_five_files_with_a_claim_are_refused_and_nothing_is_stored(app: Flask) -> None:
    add_registry(app, WIEBE)
    client, member = member_client(app)
    files = [upload(image_bytes(), f"page{n}.png") for n in range(6)]

    response = submit(client, files=files)

    assert response.status_code == 422
    assert "at most 5 documents" in field_errors(response, "documents")[0]
    assert claims_of(app, member) == []
    assert stored_files(app) == []


def test_a_closed_claim_takes_no_documents(app: Flask) -> None:
    client, _, claim = pending_claim(app)
    set_claim(app, claim.id, status=ClaimStatus.REJECTED, decided_at=utcnow())
    response = send(client, claim.id, image_bytes(), "late.png")
    assert response.status_code == 422
    assert "This claim is closed; documents go with an open claim." in flashes(response)
    assert document_rows(app) == []


def test_a_closed_claim_says_so_even_when_the_file_is_bad(app: Flask) -> None:
    """An old page: the status page shows a closed claim no upload field to put an error by."""
    client, _, claim = pending_claim(app)
    set_claim(app, claim.id, status=ClaimStatus.REJECTED, decided_at=utcnow())
    response = send(client, claim.id, b"", "empty.png")
    assert response.status_code == 422
    assert "This claim is closed; documents go with an open claim." in flashes(response)
    assert document_rows(app) == []


# --- All or nothing -----------------------------------------------------------------------------


def test_a_claim_with_a_bad_document_stores_nothing(app: Flask) -> None:
    add_registry(app, WIEBE)
    client, member = member_client(app)
    files = [upload(pdf_bytes(), "licence.pdf"), upload(_truncated_png(), "badge.png")]

    response = submit(client, files=files)

    assert response.status_code == 422
    assert field_errors(response, "documents") == [
        "badge.png: This file is damaged or incomplete. Save or scan it again, then send it."
    ]
    assert claims_of(app, member) == []
    assert document_rows(app) == []
    assert stored_files(app) == []
    assert audit_of(app) == []


def test_a_failure_after_files_were_written_removes_them_and_every_row(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_registry(app, WIEBE)
    _, member = member_client(app)
    real_write, calls = documents.write, []

    def write_then_fail(checked: documents.CheckedFile) -> str:
        calls.append(checked.display_name)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_write(checked)

    monkeypatch.setattr(documents, "write", write_then_fail)
    with app.app_context():
        user = db.session.get(User, member.id)
        assert user is not None
        uploads = [
            Upload("one.pdf", io.BytesIO(pdf_bytes())),
            Upload("two.pdf", io.BytesIO(pdf_bytes())),
        ]
        details = services.ClaimDetails(WIEBE, "David", "Wiebe", "NE", "orthopaedics")
        with pytest.raises(OSError, match="disk full"):
            services.submit_claim(user, details, uploads)

    assert calls == ["one.pdf", "two.pdf"]
    assert stored_files(app) == []
    assert claims_of(app, member) == []
    assert audit_of(app) == []


# --- Who can reach the files --------------------------------------------------------------------


def test_documents_are_not_reachable_under_static_or_by_the_member(app: Flask) -> None:
    data = pdf_bytes("CONFIDENTIAL-LICENCE-TEXT")
    client, _, claim = pending_claim(app)
    send(client, claim.id, data, "licence.pdf")
    (document,) = document_rows(app)
    name = document.storage_name
    assert name is not None

    for url in (
        f"/static/{name}",
        f"/static/documents/{name}",
        f"/static/../instance/documents/{name}",
        f"/static/..%2Finstance%2Fdocuments%2F{name}",
        f"/documents/{name}",
        f"/instance/documents/{name}",
    ):
        assert client.get(url).status_code == 404, url

    # Every GET route of the site, with every number set to the document's or claim's id.
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint == "static":
            continue
        for number in (document.id, claim.id):
            values = {
                key: number if isinstance(conv, IntegerConverter) else name
                for key, conv in rule._converters.items()
            }
            url = app.url_map.bind("localhost").build(rule.endpoint, values)
            response = client.get(url)
            assert b"CONFIDENTIAL-LICENCE-TEXT" not in response.get_data(), url
            assert response.headers.get("Content-Type") != "application/pdf", url


# --- Retention ----------------------------------------------------------------------------------


def _claim_with_document(app: Flask, status: ClaimStatus, decided_days_ago: int | None) -> int:
    client, member = member_client(app)
    submit(client, files=upload(pdf_bytes(), "licence.pdf"))
    claim = only_claim(app, member)
    decided = utcnow() - timedelta(days=decided_days_ago) if decided_days_ago is not None else None
    set_claim(app, claim.id, status=status, decided_at=decided)
    return claim.id


def test_purging_deletes_files_decided_over_30_days_ago_and_keeps_the_checksum(
    app: Flask,
) -> None:
    add_registry(app, WIEBE)
    old = _claim_with_document(app, ClaimStatus.REJECTED, 31)
    old_approved = _claim_with_document(app, ClaimStatus.APPROVED, 45)
    recent = _claim_with_document(app, ClaimStatus.REJECTED, 29)
    waiting = _claim_with_document(app, ClaimStatus.PENDING, None)
    assert len(stored_files(app)) == 4
    before = {d.claim_id: d for d in document_rows(app)}

    with app.app_context():
        purged = services.purge_expired_documents(utcnow())

    assert purged == 2
    after = {d.claim_id: d for d in document_rows(app)}
    for claim_id in (old, old_approved):
        assert after[claim_id].storage_name is None
        assert after[claim_id].purged_at is not None
        assert after[claim_id].sha256 == before[claim_id].sha256
        assert after[claim_id].size == before[claim_id].size
    for claim_id in (recent, waiting):
        assert after[claim_id].storage_name == before[claim_id].storage_name
    remaining = {path.name for path in stored_files(app)}
    assert remaining == {before[recent].storage_name, before[waiting].storage_name}
    with app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "verification.documents_purged")
        ).all()
        assert [event.details["documents"] for event in events] == [2]


def test_the_purge_command_runs_it_and_a_second_run_finds_nothing(app: Flask) -> None:
    add_registry(app, WIEBE)
    _claim_with_document(app, ClaimStatus.REJECTED, 40)
    runner = app.test_cli_runner()

    first = runner.invoke(args=["verification", "purge-documents"])
    second = runner.invoke(args=["verification", "purge-documents"])

    assert first.exit_code == 0, first.output
    assert "Purged 1 document file." in first.output
    assert "Purged 0 document files." in second.output
    assert stored_files(app) == []

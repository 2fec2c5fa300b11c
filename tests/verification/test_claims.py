"""A member's claim: the credential form, matching, proof by hospital e-mail, the status page."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask

from forum.accounts.models import User
from forum.extensions import db, utcnow
from forum.verification import services
from forum.verification.models import ClaimStatus, RegistryProvider, VerificationClaim
from tests.accounts.helpers import field_errors
from tests.conftest import Mailbox, body_text, free_port
from tests.core.helpers import PHYSICIAN_PROBE_URL, add_probe_routes, redirect_target, text
from tests.factories import make_user
from tests.verification.member_helpers import (
    BISBEE,
    NOT_IN_SAMPLE,
    ORGANISATION,
    WIEBE,
    add_domain,
    add_registry,
    audit_of,
    claims_of,
    image_bytes,
    member_client,
    only_claim,
    set_claim,
    submit,
    upload,
    user_now,
)

CHECK_DIGIT = "its last digit (the check digit) does not match"
ASKS_FOR_DOCUMENT = "Next step: send a document."
ORGANISATION_EXPLAINED = "belongs to an organisation (a hospital, practice or company)"


# --- The form -----------------------------------------------------------------------------------


def test_the_credential_form_is_prefilled_with_the_members_legal_name(app: Flask) -> None:
    client, _ = member_client(app)
    page = text(client.get("/verification/claim"))
    assert 'value="Test"' in page
    assert 'name="last_name"' in page
    assert "Nebraska" in page
    assert "Orthopaedic surgery" in page


def test_the_status_page_offers_the_form_to_a_member_without_a_claim(app: Flask) -> None:
    client, _ = member_client(app)
    page = text(client.get("/verification/"))
    assert "Tell us who you are as a physician" in page
    assert 'action="/verification/claim"' in page


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("1679576723", CHECK_DIGIT),
        ("1234567890", CHECK_DIGIT),
        ("12345", "exactly 10 digits; this has 5"),
        ("16795767ab", "digits only"),
        ("", "Enter your 10-digit NPI."),
    ],
)
def test_a_malformed_npi_is_explained_beside_the_field_and_nothing_is_stored(
    app: Flask, typed: str, message: str
) -> None:
    add_registry(app, WIEBE)
    client, member = member_client(app)

    response = submit(client, npi=typed)

    assert response.status_code == 422
    assert any(message in error for error in field_errors(response, "npi"))
    assert claims_of(app, member) == []
    assert audit_of(app) == []


def test_a_npi_typed_with_spaces_and_dashes_is_accepted(app: Flask) -> None:
    add_registry(app, WIEBE)
    client, member = member_client(app)
    response = submit(client, npi="1679-576 722")
    assert redirect_target(response)[0] == "/verification/"
    assert only_claim(app, member).npi == WIEBE


def test_a_licence_number_needs_its_state_and_the_reverse(app: Flask) -> None:
    add_registry(app, WIEBE)
    client, member = member_client(app)

    without_state = submit(client, licence_number="12637")
    without_number = submit(client, licence_state="NE")

    assert without_state.status_code == without_number.status_code == 422
    assert field_errors(without_state, "licence_state") == [
        "Choose the state that issued this licence, or leave the number empty."
    ]
    assert field_errors(without_number, "licence_number") == [
        "Enter the licence number, or leave its state empty."
    ]
    assert claims_of(app, member) == []


def test_the_state_and_specialty_must_come_from_the_lists(app: Flask) -> None:
    client, member = member_client(app)
    response = submit(client, practice_state="ZZ", specialty="astrology")
    assert response.status_code == 422
    assert field_errors(response, "practice_state")
    assert field_errors(response, "specialty")
    assert claims_of(app, member) == []


def test_a_verified_member_is_sent_from_the_form_to_the_status_page(app: Flask) -> None:
    client, member = member_client(app, verified=True)
    assert redirect_target(client.get("/verification/claim"))[0] == "/verification/"
    assert redirect_target(submit(client))[0] == "/verification/"
    assert claims_of(app, member) == []


# --- Proof by hospital e-mail -------------------------------------------------------------------


def test_a_matching_claim_from_a_hospital_address_is_verified_at_once_and_reaches_clinical_pages(
    app: Flask, mailbox: Mailbox
) -> None:
    add_probe_routes(app)
    import_id = add_registry(app, WIEBE)
    add_domain(app, "hospital.org")
    client, member = member_client(app, "david.wiebe@hospital.org")
    assert client.get(PHYSICIAN_PROBE_URL).status_code == 302  # not yet

    response = submit(client, licence_number="12637", licence_state="NE")

    assert redirect_target(response)[0] == "/verification/"
    claim = only_claim(app, member)
    assert claim.status == ClaimStatus.APPROVED
    assert claim.automatic_reason == "hospital_email"
    assert claim.match_outcome == "match"
    assert claim.registry_import_id == import_id
    assert claim.evidence["import_id"] == import_id
    assert claim.decided_at is not None
    user = user_now(app, member)
    assert user.verified_at is not None
    assert (user.npi, user.specialty) == (WIEBE, "orthopaedics")

    assert client.get(PHYSICIAN_PROBE_URL).status_code == 200
    home = client.get("/")
    assert home.status_code == 200
    assert "verified physician" in text(client.get("/verification/"))

    assert [event.action for event in audit_of(app)] == [
        "verification.claim_submitted",
        "verification.approved_automatically",
    ]
    message = mailbox.last_to("david.wiebe@hospital.org")
    assert message["Subject"] == "You are verified on Curbside"
    body = body_text(message)
    assert "Orthopaedic surgery" in body
    assert WIEBE not in body
    assert "12637" not in body


def test_an_address_at_a_subdomain_of_a_listed_hospital_counts(app: Flask) -> None:
    add_registry(app, WIEBE)
    add_domain(app, "hospital.org")
    client, member = member_client(app, "dwiebe@ortho.north.hospital.org")
    submit(client)
    assert only_claim(app, member).status == ClaimStatus.APPROVED
    assert user_now(app, member).verified_at is not None


@pytest.mark.parametrize(
    "address", ["dwiebe@nothospital.org", "dwiebe@hospital.org.example", "dwiebe@gmail.com"]
)
def test_a_lookalike_of_a_listed_domain_does_not_count(app: Flask, address: str) -> None:
    add_registry(app, WIEBE)
    add_domain(app, "hospital.org")
    client, member = member_client(app, address)
    submit(client)
    assert only_claim(app, member).status == ClaimStatus.PENDING
    assert user_now(app, member).verified_at is None


def test_an_unconfirmed_address_proves_nothing(app: Flask) -> None:
    add_registry(app, WIEBE)
    add_domain(app, "hospital.org")
    with app.app_context():
        member = make_user("dwiebe@hospital.org", confirmed=False)
        user = db.session.get(User, member.id)
        assert user is not None
        claim = services.submit_claim(
            user, services.ClaimDetails(WIEBE, "David", "Wiebe", "NE", "orthopaedics")
        )
        assert claim.status == ClaimStatus.PENDING
        assert user.verified_at is None


# --- Claims that wait for a verifier ------------------------------------------------------------


def test_a_match_without_a_hospital_address_waits_and_asks_for_a_document(
    app: Flask, mailbox: Mailbox
) -> None:
    add_registry(app, WIEBE)
    client, member = member_client(app, "dwiebe@practice.example")

    submit(client)

    claim = only_claim(app, member)
    assert (claim.status, claim.match_outcome) == (ClaimStatus.PENDING, "match")
    assert user_now(app, member).verified_at is None
    page = text(client.get("/verification/"))
    assert "Your claim is waiting for a verifier" in page
    assert ASKS_FOR_DOCUMENT in page
    assert f'action="/verification/claim/{claim.id}/documents"' in page
    assert mailbox.to("dwiebe@practice.example") == []


def test_a_claim_sent_with_a_document_does_not_ask_for_one(app: Flask) -> None:
    add_registry(app, WIEBE)
    client, member = member_client(app)

    submit(client, files=upload(image_bytes(), "badge.png"))

    claim = only_claim(app, member)
    assert claim.status == ClaimStatus.PENDING
    assert [d.original_name for d in claim.documents] == ["badge.png"]
    page = text(client.get("/verification/"))
    assert ASKS_FOR_DOCUMENT not in page
    assert "badge.png" in page
    assert "Add another document" in page


def test_a_name_mismatch_waits_for_a_verifier_even_from_a_hospital_address(app: Flask) -> None:
    add_registry(app, WIEBE)
    add_domain(app, "hospital.org")
    client, member = member_client(app, "dwiebe@hospital.org")

    submit(client, first_name="Daniel")

    claim = only_claim(app, member)
    assert (claim.status, claim.match_outcome) == (ClaimStatus.PENDING, "name_mismatch")
    assert user_now(app, member).verified_at is None
    assert ASKS_FOR_DOCUMENT in text(client.get("/verification/"))


def test_a_licence_that_is_not_the_registrys_waits_for_a_verifier(app: Flask) -> None:
    add_registry(app, WIEBE)
    add_domain(app, "hospital.org")
    client, member = member_client(app, "dwiebe@hospital.org")
    submit(client, licence_number="99999", licence_state="NE")
    claim = only_claim(app, member)
    assert (claim.status, claim.match_outcome) == (ClaimStatus.PENDING, "licence_mismatch")


def test_an_unknown_npi_waits_for_a_verifier(app: Flask) -> None:
    add_registry(app, WIEBE)
    add_domain(app, "hospital.org")
    client, member = member_client(app, "dwiebe@hospital.org")
    submit(client, npi=NOT_IN_SAMPLE)
    claim = only_claim(app, member)
    assert (claim.status, claim.match_outcome) == (ClaimStatus.PENDING, "not_found")
    assert claim.registry_import_id is None


def test_an_organisation_npi_is_explained_at_once_and_kept_for_review(app: Flask) -> None:
    add_registry(app, ORGANISATION)
    add_domain(app, "hospital.org")
    client, member = member_client(app, "dwiebe@hospital.org")

    response = submit(client, npi=ORGANISATION)

    claim = only_claim(app, member)
    assert (claim.status, claim.match_outcome) == (ClaimStatus.PENDING, "organisation")
    page = text(client.get(response.location))
    assert ORGANISATION_EXPLAINED in page
    assert "individual (type 1) NPI" in page


def test_a_matching_claim_does_not_show_the_organisation_explanation(app: Flask) -> None:
    add_registry(app, WIEBE)
    client, _ = member_client(app)
    submit(client)
    assert ORGANISATION_EXPLAINED not in text(client.get("/verification/"))


# --- One account per NPI ------------------------------------------------------------------------


def test_a_second_account_on_a_verified_npi_is_flagged_and_never_verified_automatically(
    app: Flask, mailbox: Mailbox
) -> None:
    add_registry(app, WIEBE)
    add_domain(app, "hospital.org")
    first, first_member = member_client(app, "dwiebe@hospital.org")
    submit(first)
    assert user_now(app, first_member).npi == WIEBE

    second, second_member = member_client(app, "d.wiebe@er.hospital.org")
    submit(second)

    claim = only_claim(app, second_member)
    assert claim.possible_impersonation is True
    assert claim.status == ClaimStatus.PENDING
    assert claim.match_outcome == "match"
    assert user_now(app, second_member).verified_at is None
    assert mailbox.to("d.wiebe@er.hospital.org") == []
    submitted = [e for e in audit_of(app) if e.action == "verification.claim_submitted"]
    assert submitted[-1].details["possible_impersonation"] is True


def test_a_claim_on_an_npi_nobody_holds_is_not_flagged(app: Flask) -> None:
    add_registry(app, WIEBE, BISBEE)
    with app.app_context():
        holder = make_user(verified=True)
        db.session.get(User, holder.id).npi = BISBEE  # type: ignore[union-attr]
        db.session.commit()
    client, member = member_client(app)
    submit(client)
    assert only_claim(app, member).possible_impersonation is False


# --- The life of a claim ------------------------------------------------------------------------


def test_a_new_claim_replaces_the_members_open_one(app: Flask) -> None:
    add_registry(app, WIEBE)
    client, member = member_client(app)
    submit(client, first_name="Daniel")
    assert "You have a claim waiting" in text(client.get("/verification/claim"))

    submit(client)

    older, newer = claims_of(app, member)
    assert older.status == ClaimStatus.SUPERSEDED
    assert older.decided_at is not None
    assert newer.status == ClaimStatus.PENDING
    assert audit_of(app)[-1].details["superseded"] == 1


def test_every_submission_is_audited_without_the_licence_number(app: Flask) -> None:
    add_registry(app, WIEBE)
    client, member = member_client(app)

    submit(client, licence_number="12637", licence_state="NE")

    claim = only_claim(app, member)
    assert claim.licence_number == "12637"
    (event,) = audit_of(app)
    assert event.action == "verification.claim_submitted"
    assert (event.actor_id, event.target_type, event.target_id) == (
        member.id,
        "verification_claim",
        claim.id,
    )
    assert event.details["claim_id"] == claim.id
    assert event.details["outcome"] == "match"
    assert "12637" not in json.dumps(event.details)


def test_the_member_answers_a_request_for_more_and_the_claim_waits_again(app: Flask) -> None:
    add_registry(app, WIEBE)
    client, member = member_client(app)
    submit(client, first_name="Dave")
    claim = only_claim(app, member)
    set_claim(
        app, claim.id, status=ClaimStatus.MORE_INFO, decision_reason="Please send your badge."
    )
    page = text(client.get("/verification/"))
    assert "A verifier needs more information" in page
    assert "Please send your badge." in page

    empty = client.post(f"/verification/claim/{claim.id}/answer", data={"answer": ""})
    assert empty.status_code == 422
    assert field_errors(empty, "answer") == ["Write your answer."]

    response = client.post(
        f"/verification/claim/{claim.id}/answer",
        data={
            "answer": "Dave is what everyone calls me.",
            "documents": upload(image_bytes(), "b.png"),
        },
        content_type="multipart/form-data",
    )

    assert redirect_target(response)[0] == "/verification/"
    answered = only_claim(app, member)
    assert answered.status == ClaimStatus.PENDING
    assert answered.member_note == "Dave is what everyone calls me."
    assert len(answered.documents) == 1
    assert audit_of(app)[-1].action == "verification.more_info_answered"


def test_an_answer_over_2000_characters_is_refused(app: Flask) -> None:
    add_registry(app, WIEBE)
    client, member = member_client(app)
    submit(client)
    claim = only_claim(app, member)
    set_claim(app, claim.id, status=ClaimStatus.MORE_INFO, decision_reason="Badge, please.")
    response = client.post(f"/verification/claim/{claim.id}/answer", data={"answer": "x" * 2001})
    assert response.status_code == 422
    assert only_claim(app, member).status == ClaimStatus.MORE_INFO


def test_a_claim_not_waiting_for_the_member_takes_no_answer(app: Flask) -> None:
    add_registry(app, WIEBE)
    client, member = member_client(app)
    submit(client)
    claim = only_claim(app, member)
    response = client.post(f"/verification/claim/{claim.id}/answer", data={"answer": "Hello"})
    assert response.status_code == 422
    assert "not waiting for an answer" in text(response)
    assert only_claim(app, member).member_note is None


def test_members_cannot_reach_another_members_claim(app: Flask) -> None:
    add_registry(app, WIEBE)
    owner, member = member_client(app)
    submit(owner)
    claim = only_claim(app, member)
    set_claim(app, claim.id, status=ClaimStatus.MORE_INFO, decision_reason="More.")
    stranger, _ = member_client(app)

    answer = stranger.post(f"/verification/claim/{claim.id}/answer", data={"answer": "Mine"})
    document = stranger.post(
        f"/verification/claim/{claim.id}/documents",
        data={"document": upload(image_bytes(), "x.png")},
        content_type="multipart/form-data",
    )

    assert answer.status_code == document.status_code == 404
    untouched = only_claim(app, member)
    assert (untouched.status, untouched.member_note, untouched.documents) == (
        ClaimStatus.MORE_INFO,
        None,
        [],
    )


@pytest.mark.parametrize(
    ("status", "reason", "shown"),
    [
        (ClaimStatus.REJECTED, "The badge belongs to someone else.", "Your claim was not approved"),
        (ClaimStatus.REVOKED, None, "The NPPES registry now shows your NPI as deactivated"),
    ],
)
def test_a_closed_claim_is_explained_and_the_form_is_offered_again(
    app: Flask, status: ClaimStatus, reason: str | None, shown: str
) -> None:
    add_registry(app, WIEBE)
    client, member = member_client(app)
    submit(client)
    claim = only_claim(app, member)
    set_claim(app, claim.id, status=status, decision_reason=reason, decided_at=utcnow())

    page = text(client.get("/verification/"))

    assert shown in page
    if reason:
        assert reason in page
    assert "Send a new claim" in page
    assert 'action="/verification/claim"' in page


def test_claim_submissions_are_limited_per_member(app: Flask) -> None:
    client, _ = member_client(app)
    for _ in range(10):
        assert submit(client, npi="1").status_code == 422
    assert submit(client, npi="1").status_code == 429
    other, _ = member_client(app)
    assert submit(other, npi="1").status_code == 422


# --- The online registry ------------------------------------------------------------------------


def test_an_unreachable_online_registry_sends_the_claim_to_a_verifier(
    build_app: Callable[..., Flask],
) -> None:
    app = build_app(NPPES_API_URL=f"http://127.0.0.1:{free_port()}/api/", NPPES_API_TIMEOUT=2)
    add_domain(app, "hospital.org")
    client, member = member_client(app, "dwiebe@hospital.org")

    response = submit(client, npi=NOT_IN_SAMPLE)

    assert redirect_target(response)[0] == "/verification/"
    claim = only_claim(app, member)
    assert (claim.status, claim.match_outcome) == (ClaimStatus.PENDING, "not_found")
    assert claim.evidence["online_lookup"] == "unavailable"
    assert claim.evidence["source"] == "registry"  # not in the copy; the API could not tell
    assert user_now(app, member).verified_at is None


ONLINE_RECORD = {
    "result_count": 1,
    "results": [
        {
            "number": NOT_IN_SAMPLE,
            "enumeration_type": "NPI-1",
            "basic": {"first_name": "JANE", "last_name": "OKAFOR", "status": "A"},
            "taxonomies": [
                {"code": "207R00000X", "primary": True, "state": "TX", "license": "J1234"}
            ],
            "addresses": [{"address_purpose": "LOCATION", "state": "TX"}],
            "other_names": [],
        }
    ],
}


class _NppesHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        number = parse_qs(urlsplit(self.path).query).get("number", [""])[0]
        found = ONLINE_RECORD if number == NOT_IN_SAMPLE else {"result_count": 0, "results": []}
        body = json.dumps(found).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def online_registry() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NppesHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    server.shutdown()
    server.server_close()
    thread.join()


def test_an_npi_found_online_is_matched_and_may_verify_at_once(
    build_app: Callable[..., Flask], online_registry: str
) -> None:
    app = build_app(NPPES_API_URL=online_registry, NPPES_API_TIMEOUT=5)
    add_domain(app, "hospital.org")
    client, member = member_client(app, "jane.okafor@hospital.org")

    submit(
        client,
        npi=NOT_IN_SAMPLE,
        first_name="Jane",
        last_name="Okafor",
        practice_state="TX",
        specialty="internal-medicine",
    )

    claim = only_claim(app, member)
    assert claim.match_outcome == "match"
    assert (claim.evidence["source"], claim.evidence["online_lookup"]) == ("nppes_api", "found")
    assert claim.registry_import_id is None
    assert claim.status == ClaimStatus.APPROVED
    with app.app_context():
        assert db.session.get(RegistryProvider, NOT_IN_SAMPLE) is None  # the copy stays the file's


def test_an_npi_unknown_online_waits_for_a_verifier(
    build_app: Callable[..., Flask], online_registry: str
) -> None:
    app = build_app(NPPES_API_URL=online_registry, NPPES_API_TIMEOUT=5)
    client, member = member_client(app)
    submit(client, npi="1306849450")  # SMITSON: in the sample file, but not in this copy
    claim = only_claim(app, member)
    assert (claim.status, claim.match_outcome) == (ClaimStatus.PENDING, "not_found")
    assert claim.evidence["online_lookup"] == "not_found"


def test_the_online_registry_is_not_asked_about_an_npi_the_copy_holds(
    build_app: Callable[..., Flask],
) -> None:
    app = build_app(NPPES_API_URL=f"http://127.0.0.1:{free_port()}/api/", NPPES_API_TIMEOUT=2)
    add_registry(app, WIEBE)
    client, member = member_client(app)
    submit(client)
    claim = only_claim(app, member)
    assert claim.evidence["source"] == "registry"
    assert "online_lookup" not in claim.evidence


# --- Services called directly -------------------------------------------------------------------


def test_a_suspended_member_cannot_claim(app: Flask) -> None:
    add_registry(app, WIEBE)
    with app.app_context():
        member = make_user(suspended=True)
        user = db.session.get(User, member.id)
        assert user is not None
        with pytest.raises(services.VerificationError, match="suspended"):
            services.submit_claim(
                user, services.ClaimDetails(WIEBE, "David", "Wiebe", "NE", "orthopaedics")
            )
        assert db.session.scalar(sa.select(sa.func.count()).select_from(VerificationClaim)) == 0


def test_the_claims_created_at_is_now(app: Flask) -> None:
    add_registry(app, WIEBE)
    client, member = member_client(app)
    submit(client)
    assert abs(only_claim(app, member).created_at - utcnow()) < timedelta(minutes=5)

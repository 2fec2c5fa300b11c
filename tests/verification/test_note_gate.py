"""The member's answer to a verifier passes the PHI gate: a block is a form error, a review
reaches the verifier, and the member's own names are not a patient's."""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from forum.verification import services
from forum.verification.models import ClaimStatus
from tests.accounts.helpers import field_errors
from tests.conftest import FormClient
from tests.factories import Member
from tests.verification.member_helpers import (
    WIEBE,
    add_registry,
    audit_of,
    member_client,
    only_claim,
    set_claim,
    submit,
)


def _waiting_claim(app: Flask) -> tuple[FormClient, Member, int]:
    add_registry(app, WIEBE)
    client, member = member_client(app)
    submit(client, first_name="Dave")
    claim = only_claim(app, member)
    set_claim(app, claim.id, status=ClaimStatus.MORE_INFO, decision_reason="Badge, please.")
    return client, member, claim.id


def test_an_answer_with_a_patients_phone_number_is_refused_with_the_finding_shown(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    client, member, claim_id = _waiting_claim(app)
    answer = "I saw the patient on 03/14/2024; call her on 415-555-0132 to confirm."
    with caplog.at_level(logging.DEBUG):
        response = client.post(f"/verification/claim/{claim_id}/answer", data={"answer": answer})
    assert response.status_code == 422
    (error,) = field_errors(response, "answer")
    assert error.startswith("This may identify a patient, so nothing was sent.")
    assert "“415-555-0132”: A telephone number identifies a person. Remove the number." in error
    assert "“03/14/2024”" in error
    page = response.get_data(as_text=True)
    assert answer in page  # the text is kept in the form
    stored = only_claim(app, member)
    assert stored.status == ClaimStatus.MORE_INFO
    assert stored.member_note is None
    assert "415-555-0132" not in caplog.text
    assert [event.action for event in audit_of(app)] == ["verification.claim_submitted"]


def test_an_answer_held_only_for_review_reaches_the_verifier(app: Flask) -> None:
    client, member, claim_id = _waiting_claim(app)
    answer = "I trained at St Mary Hospital in Springfield before moving here."
    response = client.post(f"/verification/claim/{claim_id}/answer", data={"answer": answer})
    assert response.status_code == 302
    stored = only_claim(app, member)
    assert stored.status == ClaimStatus.PENDING
    assert stored.member_note == answer


def test_the_members_own_names_are_not_taken_for_a_patients(app: Flask) -> None:
    client, member, claim_id = _waiting_claim(app)
    answer = "Dave is what everyone calls me; my licence says Dr Dave Wiebe."
    response = client.post(f"/verification/claim/{claim_id}/answer", data={"answer": answer})
    assert response.status_code == 302
    assert only_claim(app, member).member_note == answer


def test_another_persons_name_in_an_answer_is_blocked() -> None:
    with pytest.raises(services.NoteBlocked) as refused:
        services.gate_note("Ask my patient Margaret Okafor.", "answer", {"Dave", "Wiebe"})
    assert refused.value.field == "answer"
    assert [f.kind for f in refused.value.findings] == ["NAME"]


def test_own_names_cover_the_usual_ways_of_writing_them() -> None:
    names = services.own_names("David", "Wiebe", "")
    assert {"David", "Wiebe", "David Wiebe", "Wiebe, David", "Dr Wiebe", "Dr. David Wiebe"} <= names

"""@mentions and the PHI gate (the real detector): a colleague named with @ is not a patient."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from forum.cases import services
from forum.cases.models import Mention, Post, Visibility
from forum.extensions import db
from forum.phi import Kind
from tests.cases.conftest import Kit

ASKING = "Asking @Dr Alpha Reader what she makes of the echo on day 3."


def test_a_colleague_named_with_an_at_sign_passes_the_gate_and_is_mentioned(kit: Kit) -> None:
    author = kit.member()
    colleague = kit.member(display_name="Dr Alpha Reader")
    thread_id = kit.case(author)

    reply_id = kit.reply(author, thread_id, ASKING)

    with kit.db():
        assert kit.post(reply_id).visibility == Visibility.PUBLISHED
        assert db.session.scalars(sa.select(Mention.user_id)).all() == [colleague.id]


@pytest.mark.parametrize(
    "body",
    [
        "Asking Dr Alpha Reader what she makes of the echo on day 3.",  # no @: could be anyone
        "Asking @Dr Omega Writer what she makes of the echo on day 3.",  # no such member
    ],
)
def test_a_name_that_is_no_mention_of_a_member_is_still_blocked(kit: Kit, body: str) -> None:
    author = kit.member()
    kit.member(display_name="Dr Alpha Reader")
    thread_id = kit.case(author)
    before = kit.count(Post)

    with pytest.raises(services.Blocked) as blocked:
        kit.reply(author, thread_id, body)

    assert [finding.kind for finding in blocked.value.result.findings["body"]] == [Kind.NAME]
    assert kit.count(Post) == before


def test_a_patient_named_beside_a_mention_is_still_blocked(kit: Kit) -> None:
    author = kit.member()
    kit.member(display_name="Dr Alpha Reader")
    thread_id = kit.case(author)
    body = "@Dr Alpha Reader, this is about Mr John Kowalczyk."

    with pytest.raises(services.Blocked) as blocked:
        kit.reply(author, thread_id, body)

    (finding,) = blocked.value.result.findings["body"]
    assert "Kowalczyk" in body[finding.start : finding.end]


def test_the_as_you_type_check_agrees_about_mentions(kit: Kit) -> None:
    author = kit.member()
    kit.member(display_name="Dr Alpha Reader")
    client = kit.client(author)
    headers = {"X-CSRFToken": client.csrf_token()}

    response = client.post(
        "/phi/check", json={"fields": {"body": ASKING}}, headers=headers, csrf=False
    )

    assert response.status_code == 200
    assert response.get_json() == {"verdict": "clean", "findings": {"body": []}}

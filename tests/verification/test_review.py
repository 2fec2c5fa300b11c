"""The verifiers' queue: ordering, access, the claim beside its record, decisions, documents."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from PIL import Image

from forum.accounts.models import Role, User
from forum.extensions import db, utcnow
from forum.verification import review_services
from forum.verification.models import (
    ClaimDocument,
    ClaimStatus,
    HospitalDomain,
    RegistryImport,
    RegistryProvider,
    VerificationClaim,
)
from forum.verification.review_services import AlreadyDecided, Decision
from tests.conftest import FormClient, Mailbox, body_text
from tests.core.helpers import (
    PHYSICIAN_PROBE_URL,
    add_probe_routes,
    audit_rows,
    redirect_target,
    signed_in_client,
    text,
)
from tests.factories import Member, make_user, sign_in

NPI = "1679576722"  # WIEBE DAVID in the sample file
OTHER_NPI = "1750384806"
LICENCE = "NE-12345"
REASON = "The badge shows the same name and the hospital confirmed by phone."
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

EVIDENCE: dict[str, Any] = {
    "outcome": "mismatch",
    "source": "copy",
    "import_id": 1,
    "rules": [
        {"rule": "npi_found", "passed": True, "detail": "in the copy"},
        {"rule": "names_agree", "passed": False, "detail": "last name differs"},
        {"rule": "licence_matches", "passed": None, "detail": "no licence given"},
    ],
    "checked_at": "2025-03-01T09:00:00+00:00",
}


# --- Building data ------------------------------------------------------------------------------


def add_registry(npi: str = NPI, **fields: Any) -> None:
    """A registry record and the import it came from (inside an app context)."""
    imported = db.session.get(RegistryImport, 1) or RegistryImport(
        id=1,
        file_name="npidata_pfile_20250301.csv",
        sha256="a" * 64,
        file_size=1000,
        status="complete",
        started_at=T0,
        finished_at=T0 + timedelta(minutes=5),
    )
    db.session.add(imported)
    values: dict[str, Any] = {
        "npi": npi,
        "entity_type": 1,
        "first_name": "DAVID",
        "middle_name": "A",
        "last_name": "WIEBE",
        "credential": "M.D.",
        "other_names": [{"first": "DAVID", "last": "WEBB"}],
        "taxonomies": [
            {"slot": 1, "code": "231H00000X", "primary": False, "licence": "", "state": ""},
            {"slot": 2, "code": "207X00000X", "primary": True, "licence": LICENCE, "state": "NE"},
        ],
        "practice_state": "NE",
        "last_updated_on": date(2024, 7, 9),
        "has_physician_taxonomy": True,
        "row_hash": "0" * 32,
        "import_id": 1,
        **fields,
    }
    db.session.add(RegistryProvider(**values))
    db.session.commit()


def add_claim(member: Member, *, created_at: datetime = T0, **fields: Any) -> int:
    """A claim by the member (inside an app context); returns its id."""
    values: dict[str, Any] = {
        "user_id": member.id,
        "npi": NPI,
        "first_name": "David",
        "last_name": "Wiebe",
        "practice_state": "NE",
        "licence_number": LICENCE,
        "licence_state": "NE",
        "specialty": "orthopaedics",
        "status": ClaimStatus.PENDING,
        "created_at": created_at,
        "match_outcome": "mismatch",
        "evidence": EVIDENCE,
        **fields,
    }
    claim = VerificationClaim(**values)
    db.session.add(claim)
    db.session.commit()
    return claim.id


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def add_document(app: Flask, claim_id: int, data: bytes, name: str = "badge.png") -> int:
    """A document with its file under instance/documents, as uploads store them."""
    storage_name = f"doc{claim_id}x{len(data)}"
    folder = Path(app.instance_path) / "documents"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / storage_name).write_bytes(data)
    with app.app_context():
        document = ClaimDocument(
            claim_id=claim_id,
            original_name=name,
            content_type="image/png",
            size=len(data),
            sha256="b" * 64,
            storage_name=storage_name,
        )
        db.session.add(document)
        db.session.commit()
        return document.id


def verifier_client(app: Flask) -> tuple[FormClient, Member]:
    return signed_in_client(app, verified=True, roles=(Role.VERIFIER,))


@pytest.fixture
def pending(app: Flask) -> tuple[Member, int]:
    """A member with a mismatching claim on a registry record, waiting for a verifier."""
    with app.app_context():
        add_registry()
        member = make_user(email="david.wiebe@gmail.example")
        return member, add_claim(member)


def claim_now(app: Flask, claim_id: int) -> VerificationClaim:
    with app.app_context():
        claim = db.session.get(VerificationClaim, claim_id)
        assert claim is not None
        db.session.expunge(claim)
        return claim


def user_now(app: Flask, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        db.session.expunge(user)
        return user


def actions(app: Flask, prefix: str = "verification.") -> list[str]:
    with app.app_context():
        return [row.action for row in audit_rows() if row.action.startswith(prefix)]


def decide(client: FormClient, claim_id: int, decision: str, reason: str = REASON) -> Any:
    data = {"decision": decision, "reason": reason}
    return client.post(f"/verification/queue/{claim_id}/decision", data=data)


# --- The queue ----------------------------------------------------------------------------------


def test_the_queue_lists_waiting_claims_oldest_first_and_those_asked_for_more_apart(
    app: Flask,
) -> None:
    with app.app_context():
        names = ["Newest", "Oldest", "Middle", "Asked", "Done"]
        made = {name: make_user(display_name=f"Dr {name}") for name in names}
        add_claim(made["Newest"], created_at=T0 + timedelta(days=2))
        add_claim(made["Oldest"], created_at=T0)
        add_claim(made["Middle"], created_at=T0 + timedelta(days=1))
        add_claim(made["Asked"], created_at=T0 - timedelta(days=5), status=ClaimStatus.MORE_INFO)
        add_claim(made["Done"], created_at=T0 - timedelta(days=9), status=ClaimStatus.APPROVED)
    client, _ = verifier_client(app)

    page = text(client.get("/verification/queue/"))

    waiting, asked = page.split("Waiting for the member")
    order = re.findall(r"Dr (Newest|Oldest|Middle|Asked|Done)", waiting)
    assert order == ["Oldest", "Middle", "Newest"]
    assert "Waiting for a verifier (3)" in waiting
    assert re.findall(r"Dr (Newest|Oldest|Middle|Asked|Done)", asked) == ["Asked"]
    assert "(1)" in asked
    assert "Dr Done" not in page


def test_the_queue_shows_the_flag_the_match_and_the_documents(app: Flask) -> None:
    with app.app_context():
        plain = add_claim(make_user(display_name="Dr Plain"), match_outcome="not_found")
        flagged = add_claim(
            make_user(display_name="Dr Flagged"),
            created_at=T0 + timedelta(hours=1),
            possible_impersonation=True,
        )
    add_document(app, flagged, png_bytes())
    client, _ = verifier_client(app)

    page = text(client.get("/verification/queue/"))

    rows = {
        name: row
        for row in re.findall(r"<tr>(.*?)</tr>", page, re.S)
        for name in ("Dr Plain", "Dr Flagged")
        if name in row
    }
    assert "Possible impersonation" in rows["Dr Flagged"]
    assert "1 attached" in rows["Dr Flagged"]
    assert "mismatch" in rows["Dr Flagged"]
    assert "Possible impersonation" not in rows["Dr Plain"]
    assert "none" in rows["Dr Plain"]
    assert "not_found" in rows["Dr Plain"]
    assert f'href="/verification/queue/{plain}"' in page


def test_the_queue_shows_25_claims_a_page(app: Flask) -> None:
    with app.app_context():
        owner = make_user()
        for number in range(27):
            add_claim(owner, created_at=T0 + timedelta(minutes=number), first_name=f"N{number:02d}")
    client, _ = verifier_client(app)

    first = text(client.get("/verification/queue/"))
    second = text(client.get("/verification/queue/?page=2"))
    beyond = client.get("/verification/queue/?page=99999999999999999999")

    assert re.findall(r"N(\d\d) Wiebe", first) == [f"{n:02d}" for n in range(25)]
    assert re.findall(r"N(\d\d) Wiebe", second) == ["25", "26"]
    assert "Page 1 of 2" in first
    assert "?page=2" in first
    assert beyond.status_code == 200  # the last page, not a database error
    assert re.findall(r"N(\d\d) Wiebe", text(beyond)) == ["25", "26"]


# --- Who may enter ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "member",
    [{}, {"verified": True}, {"verified": True, "roles": (Role.MODERATOR,)}],
    ids=["unverified member", "physician", "moderator"],
)
def test_only_verifiers_reach_the_queue(
    app: Flask, pending: tuple[Member, int], member: dict[str, Any]
) -> None:
    _, claim_id = pending
    document_id = add_document(app, claim_id, png_bytes())
    client, _ = signed_in_client(app, **member)

    for url in (
        "/verification/queue/",
        f"/verification/queue/{claim_id}",
        f"/verification/queue/documents/{document_id}",
    ):
        assert client.get(url).status_code == 403, url
    assert decide(client, claim_id, "approve").status_code == 403
    assert claim_now(app, claim_id).status == ClaimStatus.PENDING
    assert actions(app) == []


@pytest.mark.parametrize("role", [Role.VERIFIER, Role.ADMIN])
def test_verifiers_and_admins_reach_the_queue_and_the_claim(
    app: Flask, pending: tuple[Member, int], role: Role
) -> None:
    _, claim_id = pending
    client, _ = signed_in_client(app, verified=True, roles=(role,))
    assert client.get("/verification/queue/").status_code == 200
    assert client.get(f"/verification/queue/{claim_id}").status_code == 200
    assert client.get("/verification/queue/999").status_code == 404


def test_the_header_links_verifiers_to_the_queue_with_the_waiting_count(
    app: Flask, pending: tuple[Member, int]
) -> None:
    verifier, _ = verifier_client(app)
    physician, _ = signed_in_client(app, verified=True)
    header = text(verifier.get("/verification/"))
    assert re.search(r"Verification queue <span class=\"badge\">1<", header)
    assert "Verification queue" not in text(physician.get("/verification/"))


# --- The claim page -----------------------------------------------------------------------------


def test_the_claim_page_sets_the_claim_beside_the_registry_record(
    app: Flask, pending: tuple[Member, int]
) -> None:
    member, claim_id = pending
    with app.app_context():
        db.session.add(HospitalDomain(domain="gmail.example", organisation="Not A Hospital"))
        db.session.commit()
        earlier = add_claim(
            member,
            created_at=T0 - timedelta(days=40),
            status=ClaimStatus.REJECTED,
            decision_reason="The licence had expired.",
        )
    client, _ = verifier_client(app)

    page = text(client.get(f"/verification/queue/{claim_id}"))

    claimed, registry = page.split("What the registry holds")
    assert "David" in claimed
    assert "Wiebe" in claimed
    assert LICENCE in claimed
    assert "Orthopaedic surgery" in claimed
    for shown in ("DAVID", "WIEBE", "M.D.", "DAVID WEBB", "NE", "npidata_pfile_20250301.csv"):
        assert shown in registry, shown
    assert "#1" in registry  # the import
    slot = r"<td><code>207X00000X</code></td>\s*<td>primary</td>\s*<td>NE-12345</td>"
    assert re.search(slot, registry)
    assert "231H00000X" in registry
    assert "not a physician code" in registry
    assert "physician (Orthopaedic surgery)" in registry
    rules = page.split("Matching rules")[1]
    assert re.search(r"names agree</td>\s*<td><strong>fail</strong>", rules)
    assert re.search(r"npi found</td>\s*<td>pass", rules)
    assert re.search(r"licence matches</td>\s*<td>not applicable", rules)
    assert "gmail.example" in page
    assert "on the hospital list as Not A Hospital" in page
    assert "david.wiebe@" not in page  # the domain only
    assert f"Claim #{earlier}" in page
    assert "The licence had expired." in page
    assert "The member has not uploaded a document." in page


def test_a_claim_for_a_deactivated_npi_missing_from_the_copy_is_shown_plainly(
    app: Flask,
) -> None:
    with app.app_context():
        add_registry(deactivated_on=date(2023, 5, 1))
        gone = add_claim(make_user())
        missing = add_claim(make_user(), npi=OTHER_NPI, evidence={})
    client, _ = verifier_client(app)

    assert "deactivated 2023-05-01" in text(client.get(f"/verification/queue/{gone}"))
    page = text(client.get(f"/verification/queue/{missing}"))
    assert f"The registry copy has no record for NPI {OTHER_NPI}" in re.sub(r"<[^>]+>", "", page)
    assert "The matcher recorded no rules." in page


def test_a_possible_impersonation_shows_the_account_holding_the_npi(app: Flask) -> None:
    with app.app_context():
        add_registry()
        holder = make_user(display_name="Dr Real Wiebe", verified=True)
        db.session.get(User, holder.id).npi = NPI  # type: ignore[union-attr]
        db.session.commit()
        claim_id = add_claim(make_user(), possible_impersonation=True)
    client, _ = verifier_client(app)

    page = text(client.get(f"/verification/queue/{claim_id}"))

    assert "Possible impersonation" in page
    assert "Dr Real Wiebe" in page
    assert f"account #{holder.id}" in page


# --- Decisions ----------------------------------------------------------------------------------


def test_approving_verifies_the_member_who_then_reaches_clinical_pages(
    app: Flask, pending: tuple[Member, int], mailbox: Mailbox
) -> None:
    add_probe_routes(app)
    member, claim_id = pending
    member_client: FormClient = app.test_client()  # type: ignore[assignment]
    assert sign_in(member_client, member).status_code == 302
    assert redirect_target(member_client.get(PHYSICIAN_PROBE_URL))[0] == "/verification/"
    client, verifier = verifier_client(app)

    response = decide(client, claim_id, "approve")

    assert redirect_target(response)[0] == "/verification/queue/"
    assert "approved; the member was e-mailed" in text(client.get("/verification/queue/"))
    claim = claim_now(app, claim_id)
    assert claim.status == ClaimStatus.APPROVED
    assert claim.decided_by_id == verifier.id
    assert claim.decision_reason == REASON
    assert claim.decided_at is not None
    user = user_now(app, member.id)
    assert user.verified_at is not None
    assert user.npi == NPI
    assert user.specialty == "orthopaedics"
    assert member_client.get(PHYSICIAN_PROBE_URL).status_code == 200  # at once
    with app.app_context():
        (event,) = audit_rows("verification.approved")
        assert (event.actor_id, event.target_type, event.target_id) == (
            verifier.id,
            "verification_claim",
            claim_id,
        )
        assert event.details == {"member_id": member.id}
    (message,) = mailbox.to(member.email)
    assert message["Subject"] == "You are verified on Curbside"
    body = body_text(message)
    assert REASON in body
    assert "http://curbside.example/verification/" in body
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    assert "hospital confirmed by phone" in str(html.get_content())
    whole = message.as_string()
    assert NPI not in whole
    assert "12345" not in whole


def test_rejecting_tells_the_member_and_grants_nothing(
    app: Flask, pending: tuple[Member, int], mailbox: Mailbox
) -> None:
    member, claim_id = pending
    client, _ = verifier_client(app)

    response = decide(client, claim_id, "reject", "The badge belongs to someone else.")

    assert response.status_code == 302
    assert claim_now(app, claim_id).status == ClaimStatus.REJECTED
    assert user_now(app, member.id).verified_at is None
    assert user_now(app, member.id).npi is None
    assert actions(app) == ["verification.rejected"]
    (message,) = mailbox.to(member.email)
    assert message["Subject"] == "Your Curbside verification was not approved"
    assert "The badge belongs to someone else." in body_text(message)
    assert NPI not in message.as_string()


def test_asking_for_more_sends_the_claim_to_the_member(
    app: Flask, pending: tuple[Member, int], mailbox: Mailbox
) -> None:
    member, claim_id = pending
    client, _ = verifier_client(app)

    response = decide(client, claim_id, "more_info", "Please upload your hospital badge.")

    assert response.status_code == 302
    assert claim_now(app, claim_id).status == ClaimStatus.MORE_INFO
    assert user_now(app, member.id).verified_at is None
    assert actions(app) == ["verification.more_info_requested"]
    (message,) = mailbox.to(member.email)
    assert "need a little more" in message["Subject"]
    assert "Please upload your hospital badge." in body_text(message)
    queue = text(client.get("/verification/queue/"))
    assert "Waiting for a verifier (0)" in queue
    assert "Waiting for the member (1)" in queue
    # Asking again before the member answers is refused; approving is still possible.
    again = decide(client, claim_id, "more_info", "Again?")
    assert redirect_target(again)[0] == f"/verification/queue/{claim_id}"
    assert "already asked for more" in text(client.get(f"/verification/queue/{claim_id}"))
    assert decide(client, claim_id, "approve").status_code == 302
    assert claim_now(app, claim_id).status == ClaimStatus.APPROVED


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"decision": "approve", "reason": ""}, "Give a reason; the member reads it."),
        ({"decision": "approve", "reason": "   \n "}, "Give a reason; the member reads it."),
        ({"decision": "approve", "reason": "x" * 2001}, "Keep it to 2,000 characters."),
        ({"reason": REASON}, "Choose approve, reject or ask for more."),
        ({"decision": "promote", "reason": REASON}, "Choose approve, reject or ask for more."),
        ({"decision": "approve", "reason": f"NPI {NPI} checked"}, "Leave the NPI and licence"),
        ({"decision": "reject", "reason": "licence ne 12345 lapsed"}, "Leave the NPI and licence"),
    ],
    ids=["empty", "blank", "too long", "no decision", "unknown decision", "npi", "licence"],
)
def test_a_decision_needs_a_choice_and_a_reason_fit_for_e_mail(
    app: Flask, pending: tuple[Member, int], mailbox: Mailbox, data: dict[str, str], error: str
) -> None:
    member, claim_id = pending
    client, _ = verifier_client(app)

    response = client.post(f"/verification/queue/{claim_id}/decision", data=data)

    assert response.status_code == 422
    assert error in text(response)
    assert claim_now(app, claim_id).status == ClaimStatus.PENDING
    assert user_now(app, member.id).verified_at is None
    assert actions(app) == []
    assert mailbox.to(member.email) == []


def test_a_reason_of_2000_characters_is_accepted(
    app: Flask, pending: tuple[Member, int], mailbox: Mailbox
) -> None:
    _, claim_id = pending
    client, _ = verifier_client(app)
    assert decide(client, claim_id, "reject", "y" * 2000).status_code == 302
    assert claim_now(app, claim_id).decision_reason == "y" * 2000


def test_a_decided_claim_cannot_be_decided_again(
    app: Flask, pending: tuple[Member, int], mailbox: Mailbox
) -> None:
    member, claim_id = pending
    client, _ = verifier_client(app)
    assert decide(client, claim_id, "approve").status_code == 302

    again = decide(client, claim_id, "reject", "Changed my mind.")

    assert redirect_target(again)[0] == f"/verification/queue/{claim_id}"
    page = text(client.get(f"/verification/queue/{claim_id}"))
    assert "This claim was already decided; nothing was changed." in page
    assert "it cannot be decided again" in page
    assert "Record the decision" not in page
    assert claim_now(app, claim_id).status == ClaimStatus.APPROVED
    assert claim_now(app, claim_id).decision_reason == REASON
    assert user_now(app, member.id).verified_at is not None
    assert actions(app) == ["verification.approved"]
    assert len(mailbox.to(member.email)) == 1


def test_a_decision_made_from_a_stale_page_changes_nothing(
    app: Flask, pending: tuple[Member, int], mailbox: Mailbox
) -> None:
    """Two verifiers open the claim; the second one's decision arrives after the first's."""
    member, claim_id = pending
    with app.app_context():
        first_id = make_user(roles=(Role.VERIFIER,)).id
        second = db.session.get(User, make_user(roles=(Role.VERIFIER,)).id)
        assert second is not None
        stale = db.session.get(VerificationClaim, claim_id)
        assert stale is not None
        assert stale.status == ClaimStatus.PENDING
        assert stale.user.email == member.email
        db.session().expire_on_commit = False  # keep the page's view of the claim
        db.session.commit()
        # The first verifier's decision commits behind the stale object's back.
        other = db.session.get_bind().connect()
        with other.begin():
            other.execute(
                sa.update(VerificationClaim)
                .where(VerificationClaim.id == claim_id)
                .values(status="rejected", decided_by_id=first_id, decision_reason="No.")
            )
        other.close()

        with pytest.raises(AlreadyDecided):
            review_services.decide(second, stale, Decision.APPROVE, REASON)

    assert claim_now(app, claim_id).status == ClaimStatus.REJECTED
    assert user_now(app, member.id).verified_at is None
    assert actions(app) == []
    assert mailbox.to(member.email) == []


def test_approval_is_refused_while_another_account_holds_the_npi(
    app: Flask, pending: tuple[Member, int], mailbox: Mailbox
) -> None:
    member, claim_id = pending
    with app.app_context():
        holder = make_user(verified=True)
        db.session.get(User, holder.id).npi = NPI  # type: ignore[union-attr]
        db.session.commit()
    client, _ = verifier_client(app)

    response = decide(client, claim_id, "approve")

    assert response.status_code == 422
    assert "Another account is already verified with this NPI. Deal with that account first" in (
        text(response)
    )
    assert claim_now(app, claim_id).status == ClaimStatus.PENDING
    assert user_now(app, member.id).npi is None
    assert actions(app) == []
    assert mailbox.to(member.email) == []
    assert decide(client, claim_id, "reject", "Someone else holds this NPI.").status_code == 302


def test_a_race_on_the_unique_npi_is_refused_rather_than_failing(
    app: Flask, pending: tuple[Member, int], mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another approval for the same NPI commits between the check and this commit."""
    member, claim_id = pending
    with app.app_context():
        holder = make_user(verified=True)
        db.session.get(User, holder.id).npi = NPI  # type: ignore[union-attr]
        db.session.commit()
    monkeypatch.setattr(review_services, "holders_of", lambda npi, besides: [])
    client, _ = verifier_client(app)

    response = decide(client, claim_id, "approve")

    assert response.status_code == 422
    assert "Another account is already verified with this NPI" in text(response)
    assert claim_now(app, claim_id).status == ClaimStatus.PENDING
    assert user_now(app, member.id).verified_at is None
    assert actions(app) == []
    assert mailbox.to(member.email) == []


def test_a_verifier_cannot_decide_their_own_claim(app: Flask, mailbox: Mailbox) -> None:
    client, verifier = signed_in_client(app, roles=(Role.VERIFIER,))
    with app.app_context():
        claim_id = add_claim(verifier)
    assert "another verifier must decide it" in text(client.get(f"/verification/queue/{claim_id}"))

    response = decide(client, claim_id, "approve")

    assert response.status_code == 422
    assert "You cannot decide your own claim" in text(response)
    assert user_now(app, verifier.id).verified_at is None


def test_the_decision_stands_when_the_mail_server_refuses(
    app: Flask, pending: tuple[Member, int], mailbox: Mailbox
) -> None:
    member, claim_id = pending
    mailbox.refuse.add(member.email)
    client, _ = verifier_client(app)

    decide(client, claim_id, "approve")

    assert "could not be sent" in text(client.get("/verification/queue/"))
    assert claim_now(app, claim_id).status == ClaimStatus.APPROVED


# --- Documents ----------------------------------------------------------------------------------


def test_a_verifier_downloads_a_document_never_cached_and_audited(
    app: Flask, pending: tuple[Member, int]
) -> None:
    _, claim_id = pending
    data = png_bytes()
    document_id = add_document(app, claim_id, data, name="my badge.png")
    client, verifier = verifier_client(app)
    page = text(client.get(f"/verification/queue/{claim_id}"))
    assert f'href="/verification/queue/documents/{document_id}"' in page

    with client.get(f"/verification/queue/documents/{document_id}") as response:
        assert response.status_code == 200
        assert response.data == data
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "my badge.png" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "ETag" not in response.headers
    with app.app_context():
        (event,) = audit_rows("verification.document_viewed")
        assert (event.actor_id, event.target_type, event.target_id) == (
            verifier.id,
            "claim_document",
            document_id,
        )
        assert event.details == {"claim_id": claim_id}


def test_a_purged_document_is_gone(app: Flask, pending: tuple[Member, int]) -> None:
    _, claim_id = pending
    document_id = add_document(app, claim_id, png_bytes())
    with app.app_context():
        document = db.session.get(ClaimDocument, document_id)
        assert document is not None
        assert document.storage_name
        (Path(app.instance_path) / "documents" / document.storage_name).unlink()
        document.storage_name = None
        document.purged_at = utcnow()
        db.session.commit()
    client, _ = verifier_client(app)

    assert client.get(f"/verification/queue/documents/{document_id}").status_code == 404
    assert client.get("/verification/queue/documents/9999").status_code == 404
    page = text(client.get(f"/verification/queue/{claim_id}"))
    assert "badge.png" in page
    assert "deleted" in page
    assert f"/verification/queue/documents/{document_id}" not in page
    assert actions(app) == []


def test_a_document_whose_file_vanished_is_not_found_rather_than_failing(
    app: Flask, pending: tuple[Member, int]
) -> None:
    _, claim_id = pending
    document_id = add_document(app, claim_id, png_bytes())
    for stored in (Path(app.instance_path) / "documents").iterdir():
        stored.unlink()
    client, _ = verifier_client(app)
    assert client.get(f"/verification/queue/documents/{document_id}").status_code == 404


def test_a_storage_name_cannot_reach_outside_the_documents_folder(
    app: Flask, pending: tuple[Member, int]
) -> None:
    _, claim_id = pending
    secret = Path(app.instance_path) / "secret.txt"
    secret.write_text("not a document")
    with app.app_context():
        document = ClaimDocument(
            claim_id=claim_id,
            original_name="x.png",
            content_type="image/png",
            size=3,
            sha256="c" * 64,
            storage_name="../secret.txt",
        )
        db.session.add(document)
        db.session.commit()
        document_id = document.id
    client, _ = verifier_client(app)
    assert client.get(f"/verification/queue/documents/{document_id}").status_code == 404

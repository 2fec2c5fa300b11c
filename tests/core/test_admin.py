"""Administration: who may enter, the audit log's filters, roles, suspensions, second factors."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask

from forum import audit
from forum.accounts.models import RecoveryCode, Role, User
from forum.extensions import db
from tests.conftest import FormClient
from tests.core.helpers import (
    PHYSICIAN_PROBE_URL,
    add_probe_routes,
    audit_rows,
    redirect_target,
    signed_in_client,
    text,
)
from tests.factories import Member, make_user, sign_in, sign_in_password


def member_now(app: Flask, member: Member) -> User:
    """The member as the database holds them now (detached, attributes loaded)."""
    with app.app_context():
        user = db.session.get(User, member.id)
        assert user is not None
        db.session.expunge(user)
        return user


def signed_in_client_for(app: Flask, member: Member) -> tuple[FormClient, Member]:
    client: FormClient = app.test_client()  # type: ignore[assignment]
    assert sign_in(client, member).status_code == 302
    return client, member


def admin_client(app: Flask) -> tuple[FormClient, Member]:
    return signed_in_client(app, verified=True, roles=(Role.ADMIN,))


# --- Who may enter ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "member",
    [
        {},
        {"verified": True},
        {"verified": True, "roles": (Role.VERIFIER,)},
        {"verified": True, "roles": (Role.MODERATOR,)},
        {"verified": True, "roles": (Role.ADMIN,), "suspended": True},
    ],
    ids=["unverified member", "physician", "verifier", "moderator", "suspended admin"],
)
@pytest.mark.parametrize("url", ["/admin/", "/admin/audit", "/admin/members/1"])
def test_non_admins_are_refused_the_admin_pages(
    app: Flask, member: dict[str, Any], url: str
) -> None:
    client, _ = signed_in_client(app, **member)
    response = client.get(url)
    assert response.status_code == 403
    assert "You do not have access to this page" in text(response)


@pytest.mark.parametrize("url", ["/admin/", "/admin/audit", "/admin/members/1"])
def test_an_admin_reaches_the_admin_pages(app: Flask, url: str) -> None:
    client, _ = admin_client(app)
    assert client.get(url).status_code == 200


def test_a_moderator_cannot_make_themselves_an_admin(app: Flask) -> None:
    client, moderator = signed_in_client(app, verified=True, roles=(Role.MODERATOR,))
    response = client.post(f"/admin/members/{moderator.id}/roles", data={"admin": "y"})
    assert response.status_code == 403
    assert not member_now(app, moderator).is_admin


def test_members_can_be_found_by_address_or_name(app: Flask) -> None:
    with app.app_context():
        make_user(email="carla.cardio@hospital.example", display_name="Dr Carla Cardio")
        make_user(email="emil@clinic.example", display_name="Dr Emil Emerg")
    client, _ = admin_client(app)
    found = text(client.get("/admin/?q=cardio"))
    assert "carla.cardio@hospital.example" in found
    assert "emil@clinic.example" not in found
    found = text(client.get("/admin/?q=100%25_"))  # LIKE wildcards are taken literally
    assert "carla.cardio@hospital.example" not in found


# --- The audit log ------------------------------------------------------------------------------


def _event(actor: User | None, action: str, target: User | None, when: str, mark: str) -> None:
    event = audit.record(actor, action, target, mark=mark)
    event.created_at = datetime.fromisoformat(when).replace(tzinfo=UTC)


@pytest.fixture
def logged(app: Flask) -> dict[str, Any]:
    """Four marked events by Alice, Bob and nobody, on three days; returns names for queries."""
    with app.app_context():
        alice_member = make_user(email="alice@hospital.example", display_name="Dr Alice")
        bob_member = make_user(email="bob@hospital.example", display_name="Dr Bob")
        alice = db.session.get(User, alice_member.id)
        bob = db.session.get(User, bob_member.id)
        _event(alice, "test.alpha", bob, "2025-01-10T12:00", "e1")
        _event(bob, "test.beta", alice, "2025-02-15T23:30", "e2")
        _event(alice, "test.beta", None, "2025-03-20T08:00", "e3")
        _event(None, "test.alpha", bob, "2025-02-15T00:00", "e4")
        db.session.commit()
    return {"alice": alice_member.email, "alice_id": alice_member.id, "bob_id": bob_member.id}


def marks(page: str) -> set[str]:
    return set(re.findall(r"mark=(e\d)", page))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"e1", "e2", "e3", "e4"}),
        ("action=test.alpha", {"e1", "e4"}),
        ("actor={alice}", {"e1", "e3"}),
        ("actor=ALICE@Hospital.example", {"e1", "e3"}),
        ("actor=%23{bob_id}", {"e2"}),
        ("actor=nobody@hospital.example", set()),
        ("target=user_account:{bob_id}", {"e1", "e4"}),
        ("target=user_account:{alice_id}", {"e2"}),
        ("since=2025-02-01&until=2025-02-28", {"e2", "e4"}),
        ("until=2025-02-15", {"e1", "e2", "e4"}),
        ("since=2025-02-16", {"e3"}),
        ("action=test.beta&actor={alice}", {"e3"}),
        ("action=test.alpha&since=2025-02-01", {"e4"}),
    ],
)
def test_an_admin_filters_the_audit_log(
    app: Flask, logged: dict[str, Any], query: str, expected: set[str]
) -> None:
    client, _ = admin_client(app)
    response = client.get("/admin/audit?" + query.format(**logged))
    assert response.status_code == 200
    assert marks(response.get_data(as_text=True)) == expected


def test_an_empty_result_says_so(app: Flask, logged: dict[str, Any]) -> None:
    client, _ = admin_client(app)
    page = text(client.get("/admin/audit?action=test.never"))
    assert "No events match." in page


def test_a_malformed_date_filter_is_ignored_rather_than_failing(
    app: Flask, logged: dict[str, Any]
) -> None:
    client, _ = admin_client(app)
    response = client.get("/admin/audit?since=yesterday")
    assert response.status_code == 200
    assert marks(response.get_data(as_text=True)) == {"e1", "e2", "e3", "e4"}


def test_the_audit_log_pages_through_older_events(app: Flask) -> None:
    with app.app_context():
        for number in range(60):
            audit.record(None, "test.many", mark=f"n{number}")
        db.session.commit()
    client, _ = admin_client(app)

    first = client.get("/admin/audit?action=test.many").get_data(as_text=True)
    older = re.search(r'href="([^"]*before=\d+[^"]*)"', first)
    assert older is not None
    second = client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)

    first_marks = set(re.findall(r"mark=(n\d+)", first))
    second_marks = set(re.findall(r"mark=(n\d+)", second))
    assert len(first_marks) == 50
    assert "n59" in first_marks  # newest first
    assert first_marks | second_marks == {f"n{n}" for n in range(60)}
    assert first_marks.isdisjoint(second_marks)


# --- Roles --------------------------------------------------------------------------------------


def test_an_admin_grants_and_revokes_roles_and_each_change_is_logged(app: Flask) -> None:
    add_probe_routes(app)
    client, admin = admin_client(app)
    member_client, member = signed_in_client(app, verified=True)
    assert member_client.get("/_probe/moderator").status_code == 403

    response = client.post(f"/admin/members/{member.id}/roles", data={"moderator": "y"})
    assert redirect_target(response)[0] == f"/admin/members/{member.id}"
    assert member_now(app, member).roles == [Role.MODERATOR]
    assert member_client.get("/_probe/moderator").status_code == 200  # at once

    client.post(f"/admin/members/{member.id}/roles", data={"verifier": "y"})
    assert member_now(app, member).roles == [Role.VERIFIER]
    assert member_client.get("/_probe/moderator").status_code == 403
    assert member_client.get("/_probe/verifier").status_code == 200

    with app.app_context():
        changes = [
            (e.action, e.details["role"], e.actor_id, e.target_type, e.target_id)
            for e in audit_rows()
            if e.action.startswith("role.")
        ]
    assert changes[0] == ("role.granted", "moderator", admin.id, "user_account", member.id)
    assert sorted(changes[1:]) == [
        ("role.granted", "verifier", admin.id, "user_account", member.id),
        ("role.revoked", "moderator", admin.id, "user_account", member.id),
    ]


def test_saving_the_same_roles_logs_nothing(app: Flask) -> None:
    client, _ = admin_client(app)
    with app.app_context():
        member = make_user(roles=(Role.VERIFIER,))
    client.post(f"/admin/members/{member.id}/roles", data={"verifier": "y"})
    with app.app_context():
        assert [e for e in audit_rows() if e.action.startswith("role.")] == []


def test_an_admin_cannot_remove_their_own_admin_role(app: Flask) -> None:
    client, admin = admin_client(app)

    response = client.post(
        f"/admin/members/{admin.id}/roles", data={"moderator": "y"}, follow_redirects=True
    )

    assert "You cannot remove your own admin role." in text(response)
    assert member_now(app, admin).roles == [Role.ADMIN]  # and nothing else changed either
    with app.app_context():
        assert [e for e in audit_rows() if e.action.startswith("role.")] == []
    assert client.get("/admin/").status_code == 200


def test_an_admin_may_remove_another_admin(app: Flask) -> None:
    client, _ = admin_client(app)
    with app.app_context():
        other = make_user(verified=True, roles=(Role.ADMIN,))
    client.post(f"/admin/members/{other.id}/roles", data={})
    assert member_now(app, other).roles == []
    with app.app_context():
        assert [e.details["role"] for e in audit_rows("role.revoked")] == ["admin"]


# --- Suspension ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   ", "no"])
def test_a_suspension_needs_a_reason(app: Flask, reason: str) -> None:
    client, _ = admin_client(app)
    with app.app_context():
        member = make_user(verified=True)

    response = client.post(f"/admin/members/{member.id}/suspend", data={"reason": reason})

    assert response.status_code == 422
    assert not member_now(app, member).suspended
    with app.app_context():
        assert audit_rows("account.suspended") == []


def test_a_suspension_ends_the_members_sessions_and_closes_clinical_pages(app: Flask) -> None:
    add_probe_routes(app)
    client, admin = admin_client(app)
    member_client, member = signed_in_client(app, verified=True)
    assert member_client.get(PHYSICIAN_PROBE_URL).status_code == 200

    response = client.post(
        f"/admin/members/{member.id}/suspend", data={"reason": "Posted a patient's name twice"}
    )

    assert response.status_code == 302
    suspended = member_now(app, member)
    assert suspended.suspended
    assert suspended.suspension_reason == "Posted a patient's name twice"
    signed_out = member_client.get("/account")
    assert redirect_target(signed_out)[0] == "/sign-in"

    again, _ = signed_in_client_for(app, member)
    refused = again.get(PHYSICIAN_PROBE_URL)
    assert refused.status_code == 403
    assert "Your account is suspended." in text(refused)
    assert again.get("/account").status_code == 200  # their own settings stay open

    with app.app_context():
        (event,) = audit_rows("account.suspended")
        assert (event.actor_id, event.target_id) == (admin.id, member.id)


def test_lifting_a_suspension_reopens_clinical_pages(app: Flask) -> None:
    add_probe_routes(app)
    client, _ = admin_client(app)
    with app.app_context():
        member = make_user(verified=True, suspended=True)
    member_client, _ = signed_in_client_for(app, member)
    assert member_client.get(PHYSICIAN_PROBE_URL).status_code == 403

    client.post(f"/admin/members/{member.id}/unsuspend")

    assert not member_now(app, member).suspended
    assert member_client.get(PHYSICIAN_PROBE_URL).status_code == 200
    with app.app_context():
        assert len(audit_rows("account.unsuspended")) == 1


def test_an_admin_cannot_suspend_themselves(app: Flask) -> None:
    client, admin = admin_client(app)
    response = client.post(
        f"/admin/members/{admin.id}/suspend",
        data={"reason": "Testing the guard rail"},
        follow_redirects=True,
    )
    assert "You cannot suspend yourself." in text(response)
    assert not member_now(app, admin).suspended


# --- Second factor ------------------------------------------------------------------------------


def test_an_admin_reset_of_the_second_factor_sends_the_member_to_enrol_again(app: Flask) -> None:
    client, admin = admin_client(app)
    member_client, member = signed_in_client(app, verified=True)

    response = client.post(f"/admin/members/{member.id}/reset-two-factor")

    assert response.status_code == 302
    reset = member_now(app, member)
    assert not reset.totp_enrolled
    assert reset.totp_secret_encrypted is None
    with app.app_context():
        codes = db.session.scalars(db.select(RecoveryCode).filter_by(user_id=member.id)).all()
        assert codes == []
        (event,) = audit_rows("totp.reset")
        assert (event.actor_id, event.target_id) == (admin.id, member.id)

    assert redirect_target(member_client.get("/account"))[0] == "/sign-in"  # sessions ended
    fresh: FormClient = app.test_client()  # type: ignore[assignment]
    first_step = sign_in_password(fresh, member)
    assert redirect_target(first_step)[0] == "/two-factor/setup"
    assert redirect_target(fresh.get("/account"))[0] == "/two-factor/setup"
    assert redirect_target(fresh.get("/two-factor"))[0] == "/two-factor/setup"

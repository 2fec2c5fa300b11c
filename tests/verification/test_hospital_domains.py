"""The admins' list of hospital e-mail domains: kept by admins only, every change audited."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import Flask

from forum.accounts.models import Role
from forum.extensions import db
from forum.verification import services
from forum.verification.models import HospitalDomain
from tests.accounts.helpers import field_errors
from tests.core.helpers import text
from tests.verification.member_helpers import audit_of, member_client

PAGE = "/verification/hospital-domains"


def listed(app: Flask) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.scalars(sa.select(HospitalDomain).order_by(HospitalDomain.domain))
        return [(row.domain, row.organisation) for row in rows]


def entry_id(app: Flask, domain: str) -> int:
    with app.app_context():
        found = db.session.scalar(
            sa.select(HospitalDomain.id).where(HospitalDomain.domain == domain)
        )
        assert found is not None
        return found


def test_an_admin_adds_a_domain_and_the_change_is_audited(app: Flask) -> None:
    admin, member = member_client(app, roles=(Role.ADMIN,), verified=True)

    response = admin.post(
        PAGE, data={"domain": " @Med.North-Hospital.ORG. ", "organisation": "  North   Hospital "}
    )

    assert response.status_code == 302
    assert listed(app) == [("med.north-hospital.org", "North Hospital")]
    (event,) = audit_of(app)
    assert event.action == "verification.hospital_domain_added"
    assert event.actor_id == member.id
    assert event.details == {"domain": "med.north-hospital.org", "organisation": "North Hospital"}
    page = text(admin.get(PAGE))
    assert "med.north-hospital.org" in page
    assert "North Hospital" in page
    with app.app_context():
        stored = db.session.scalar(sa.select(HospitalDomain))
        assert stored is not None
        assert stored.added_by_id == member.id


def test_an_international_domain_is_kept_in_its_ascii_form(app: Flask) -> None:
    admin, _ = member_client(app, roles=(Role.ADMIN,), verified=True)
    admin.post(PAGE, data={"domain": "klinikum-münchen.de", "organisation": "Klinikum"})
    ascii_form = "klinikum-münchen.de".encode("idna").decode()
    assert listed(app) == [(ascii_form, "Klinikum")]
    with app.app_context():
        found = services.hospital_for("dr.weber@Station-3.Klinikum-München.DE")
        assert found is not None
        assert found.domain == ascii_form


def test_an_admin_removes_a_domain_and_the_change_is_audited(app: Flask) -> None:
    admin, member = member_client(app, roles=(Role.ADMIN,), verified=True)
    admin.post(PAGE, data={"domain": "hospital.org", "organisation": "General Hospital"})

    response = admin.post(f"{PAGE}/{entry_id(app, 'hospital.org')}/remove")

    assert response.status_code == 302
    assert listed(app) == []
    event = audit_of(app)[-1]
    assert event.action == "verification.hospital_domain_removed"
    assert event.actor_id == member.id
    assert event.details["domain"] == "hospital.org"
    assert admin.post(f"{PAGE}/999/remove").status_code == 404


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ("not a domain", "Enter a domain like hospital.org."),
        ("org", "Enter a domain like hospital.org."),
        ("hospital.test", "Enter a domain like hospital.org."),
        ("Gmail.com", "Anyone can get an address at gmail.com; it proves nothing."),
        ("", "Enter a domain like hospital.org."),
    ],
)
def test_a_domain_that_proves_nothing_is_refused_beside_the_field(
    app: Flask, domain: str, message: str
) -> None:
    admin, _ = member_client(app, roles=(Role.ADMIN,), verified=True)
    response = admin.post(PAGE, data={"domain": domain, "organisation": "Somewhere"})
    assert response.status_code == 422
    assert field_errors(response, "domain") == [message]
    assert listed(app) == []
    assert audit_of(app) == []


def test_a_domain_already_listed_is_refused(app: Flask) -> None:
    admin, _ = member_client(app, roles=(Role.ADMIN,), verified=True)
    admin.post(PAGE, data={"domain": "hospital.org", "organisation": "General Hospital"})
    again = admin.post(PAGE, data={"domain": "HOSPITAL.org", "organisation": "Again"})
    assert again.status_code == 422
    assert field_errors(again, "domain") == ["hospital.org is already on the list."]
    assert listed(app) == [("hospital.org", "General Hospital")]


def test_the_organisation_is_required(app: Flask) -> None:
    admin, _ = member_client(app, roles=(Role.ADMIN,), verified=True)
    response = admin.post(PAGE, data={"domain": "hospital.org", "organisation": ""})
    assert response.status_code == 422
    assert field_errors(response, "organisation") == ["Name the hospital or health system."]


@pytest.mark.parametrize(
    "member",
    [
        {},
        {"verified": True},
        {"verified": True, "roles": (Role.VERIFIER,)},
        {"verified": True, "roles": (Role.MODERATOR,)},
    ],
)
def test_only_admins_see_or_change_the_list(app: Flask, member: dict) -> None:
    admin, _ = member_client(app, roles=(Role.ADMIN,), verified=True)
    admin.post(PAGE, data={"domain": "hospital.org", "organisation": "General Hospital"})
    entry = entry_id(app, "hospital.org")
    client, _ = member_client(app, **member)

    assert client.get(PAGE).status_code == 403
    assert (
        client.post(PAGE, data={"domain": "evil.example", "organisation": "X"}).status_code == 403
    )
    assert client.post(f"{PAGE}/{entry}/remove").status_code == 403
    assert listed(app) == [("hospital.org", "General Hospital")]
    assert "Hospital domains" not in text(client.get("/account"))


def test_the_header_links_admins_to_the_list(app: Flask) -> None:
    admin, _ = member_client(app, roles=(Role.ADMIN,), verified=True)
    page = admin.get("/account").get_data(as_text=True)
    assert re.search(rf'<a href="{PAGE}">Hospital domains</a>', page)

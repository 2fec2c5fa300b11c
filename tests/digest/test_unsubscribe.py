"""Unsubscribing from the link in the digest: without signing in, by button or one click."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask

from forum.accounts.tokens import Purpose, make_token
from forum.digest.models import DigestPreference
from forum.extensions import db
from tests.conftest import FormClient, Mailbox
from tests.digest.conftest import AFTER_SEND, IN_THE_WEEK, WEEK, DigestKit, at
from tests.factories import Member

NEXT_WEEK = "2026-W50"


@pytest.fixture
def member(kit: DigestKit) -> Member:
    return kit.member()


def unsubscribe_path(app: Flask, member: Member) -> str:
    with app.app_context():
        return f"/digest/unsubscribe/{make_token(Purpose.DIGEST_UNSUBSCRIBE, {'user': member.id})}"


def unsubscribed(app: Flask, member: Member) -> bool:
    with app.app_context():
        preference = db.session.get(DigestPreference, member.id)
        return preference is not None and preference.unsubscribed_at is not None


def test_the_page_asks_first_and_works_without_signing_in(
    app: Flask, client: FormClient, member: Member
) -> None:
    path = unsubscribe_path(app, member)

    page = client.get(path)

    assert page.status_code == 200
    body = html.unescape(page.get_data(as_text=True))
    assert re.search(rf'<form method="post" action="{re.escape(path)}"', body)
    assert "<script" not in body
    assert not unsubscribed(app, member)  # a GET (a link scanner, say) changes nothing


def test_the_pages_button_unsubscribes_without_signing_in(
    app: Flask, client: FormClient, member: Member
) -> None:
    path = unsubscribe_path(app, member)
    client.get(path)

    done = client.post(path)

    assert done.status_code == 200
    assert "You are unsubscribed" in done.get_data(as_text=True)
    assert unsubscribed(app, member)


def test_the_rfc_8058_one_click_post_needs_no_csrf_token(
    app: Flask, client: FormClient, member: Member
) -> None:
    response = client.post(
        unsubscribe_path(app, member), data={"List-Unsubscribe": "One-Click"}, csrf=False
    )

    assert response.status_code == 200
    assert unsubscribed(app, member)


def test_any_other_post_without_a_csrf_token_is_refused(
    app: Flask, client: FormClient, member: Member
) -> None:
    response = client.post(unsubscribe_path(app, member), data={}, csrf=False)

    assert response.status_code == 400
    assert "The form expired" in html.unescape(response.get_data(as_text=True))
    assert not unsubscribed(app, member)


@pytest.mark.parametrize("purpose", [Purpose.RESET_PASSWORD, None])
def test_a_forged_or_foreign_token_unsubscribes_nobody(
    app: Flask, client: FormClient, member: Member, purpose: Purpose | None
) -> None:
    with app.app_context():
        token = make_token(purpose, {"user": member.id}) if purpose else "forged.token.value"

    response = client.post(
        f"/digest/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}, csrf=False
    )

    assert response.status_code == 400
    assert not unsubscribed(app, member)


def test_the_link_in_a_sent_digest_unsubscribes_in_one_click(
    client: FormClient, kit: DigestKit, mailbox: Mailbox
) -> None:
    reader = kit.member()
    with at(IN_THE_WEEK):
        thread = kit.discussion(kit.member(), title="Anticoagulation after falls")
        kit.reply(kit.member(), thread, "Weigh the bleeding risk.")
    kit.send(week=WEEK)
    link = str(mailbox.last_to(reader.email)["List-Unsubscribe"]).strip("<>")
    assert link.startswith("http://curbside.example/")

    response = client.post(urlsplit(link).path, data={"List-Unsubscribe": "One-Click"}, csrf=False)

    assert response.status_code == 200
    assert unsubscribed(kit.app, reader)
    kit.send(AFTER_SEND + timedelta(days=7), week=NEXT_WEEK)
    assert kit.weeks(reader) == [WEEK]  # not even considered for the next week

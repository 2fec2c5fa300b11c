"""The as-you-type check: findings per field, CSRF by header, a rate limit, access and size."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask

from forum.extensions import db
from forum.moderation.models import AllowedTerm, WatchAction, WatchedWord
from forum.phi_views import MAX_CHARACTERS
from tests.conftest import FormClient
from tests.factories import make_user, sign_in

URL = "/phi/check"
PHONE_DRAFT = "Her daughter can be reached on 415-555-0132 after six."


@pytest.fixture(autouse=True)
def _clock(early_in_a_totp_step: None) -> None:
    """Sign-in types TOTP codes, so each test starts early in a fresh step."""


def _signed_in(app: Flask, client: FormClient, **kwargs: Any) -> FormClient:
    with app.app_context():
        member = make_user(**kwargs)
    sign_in(client, member, app)
    return client


def _check(client: FormClient, fields: dict[str, Any], *, csrf: bool = True) -> Any:
    headers = {"X-CSRFToken": client.csrf_token()} if csrf else {}
    return client.post(URL, json={"fields": fields}, headers=headers, csrf=False)


def test_a_phone_number_is_found_with_its_place_reason_and_suggestion(
    app: Flask, client: FormClient
) -> None:
    _signed_in(app, client, verified=True)
    response = _check(client, {"body": PHONE_DRAFT, "title": "Syncope on exertion"})
    assert response.status_code == 200
    data = response.get_json()
    assert data["verdict"] == "block"
    assert data["findings"]["title"] == []
    (found,) = data["findings"]["body"]
    assert PHONE_DRAFT[found["start"] : found["end"]] == "415-555-0132"
    assert found["kind"] == "PHONE"
    assert found["action"] == "block"
    assert found["reason"]
    assert set(found) == {"start", "end", "kind", "action", "reason", "suggestion"}


def test_a_clean_draft_has_no_findings(app: Flask, client: FormClient) -> None:
    _signed_in(app, client, verified=True)
    response = _check(client, {"body": "BP 140/90 on day 3; eGFR 45. Start an SGLT2i?"})
    assert response.status_code == 200
    assert response.get_json() == {"verdict": "clean", "findings": {"body": []}}


def test_the_check_is_refused_without_the_csrf_header(app: Flask, client: FormClient) -> None:
    _signed_in(app, client, verified=True)
    response = _check(client, {"body": PHONE_DRAFT}, csrf=False)
    assert response.status_code == 400
    assert "expired" in response.get_json()["error"]


def test_the_check_is_rate_limited_per_member(app: Flask, client: FormClient) -> None:
    _signed_in(app, client, verified=True)
    token = client.csrf_token()
    statuses = [
        client.post(
            URL, json={"fields": {"body": "ok"}}, headers={"X-CSRFToken": token}, csrf=False
        ).status_code
        for _ in range(61)
    ]
    assert statuses[:60] == [200] * 60
    assert statuses[60] == 429
    assert (
        "Too many"
        in client.post(
            URL, json={"fields": {"body": "ok"}}, headers={"X-CSRFToken": token}, csrf=False
        ).get_json()["error"]
    )


def test_members_not_yet_verified_are_refused(app: Flask, client: FormClient) -> None:
    _signed_in(app, client, verified=False)
    response = _check(client, {"body": PHONE_DRAFT})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/verification/")


def test_strangers_are_sent_to_sign_in(client: FormClient) -> None:
    response = client.post(URL, json={"fields": {"body": PHONE_DRAFT}}, csrf=False)
    assert response.status_code == 302
    assert "/sign-in" in response.headers["Location"]


def test_a_draft_over_the_size_limit_is_refused_with_a_clear_message(
    app: Flask, client: FormClient
) -> None:
    _signed_in(app, client, verified=True)
    half = "a" * (MAX_CHARACTERS // 2)
    response = _check(client, {"one": half, "two": half + "a"})
    assert response.status_code == 413
    assert "too long" in response.get_json()["error"]
    assert _check(client, {"one": half, "two": half}).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [{"fields": "text"}, {"fields": {"body": 3}}, {"text": "x"}, ["x"], {"fields": {"": "x"}}],
)
def test_malformed_drafts_get_a_json_explanation(
    app: Flask, client: FormClient, payload: Any
) -> None:
    _signed_in(app, client, verified=True)
    response = client.post(
        URL, json=payload, headers={"X-CSRFToken": client.csrf_token()}, csrf=False
    )
    assert response.status_code == 400
    assert response.get_json()["error"]


def test_the_draft_text_is_never_logged(
    app: Flask, client: FormClient, caplog: pytest.LogCaptureFixture
) -> None:
    _signed_in(app, client, verified=True)
    with caplog.at_level(logging.DEBUG):
        _check(client, {"body": PHONE_DRAFT})
        _check(client, {"body": PHONE_DRAFT}, csrf=False)
    assert "415-555-0132" not in caplog.text


def test_the_check_screens_as_the_write_path_does(app: Flask, client: FormClient) -> None:
    """The site allow-list and the moderators' watched words apply as they do on submit."""
    _signed_in(app, client, verified=True)
    draft = "Saw Shravyo today; started the zebra protocol."
    before = _check(client, {"body": draft}).get_json()
    assert [draft[f["start"] : f["end"]] for f in before["findings"]["body"]] == ["Shravyo"]
    with app.app_context():
        db.session.add(AllowedTerm(term="shravyo"))
        db.session.add(WatchedWord(pattern="zebra protocol", action=WatchAction.HOLD))
        db.session.commit()
    after = _check(client, {"body": draft}).get_json()
    assert after["verdict"] == "review"
    (found,) = after["findings"]["body"]
    assert draft[found["start"] : found["end"]] == "zebra protocol"

"""The digest settings page: choosing the send time, turning the digest off, the preview."""

from __future__ import annotations

import html

import pytest

from forum.digest.models import DigestPreference
from forum.extensions import db
from tests.digest.conftest import DigestKit


@pytest.fixture(autouse=True)
def _clock(early_in_a_totp_step: None) -> None:
    """These tests sign in with TOTP codes; see tests/conftest.py."""


def preference(kit: DigestKit, member_id: int) -> DigestPreference | None:
    with kit.db():
        found = db.session.get(DigestPreference, member_id)
        if found is not None:
            db.session.expunge(found)
        return found


def test_a_physician_chooses_the_day_hour_and_time_zone(kit: DigestKit) -> None:
    member = kit.member()
    client = kit.client(member)
    page = client.get("/settings/digest")
    assert page.status_code == 200
    assert '<option selected value="0">Monday</option>' in page.get_data(as_text=True)

    saved = client.post(
        "/settings/digest",
        data={"subscribed": "y", "weekday": "2", "hour": "9", "time_zone": "America/New_York"},
    )

    assert saved.status_code == 302
    found = preference(kit, member.id)
    assert found is not None
    assert (found.weekday, found.hour, found.time_zone) == (2, 9, "America/New_York")
    assert found.unsubscribed_at is None


def test_an_unknown_time_zone_is_refused(kit: DigestKit) -> None:
    member = kit.member()
    client = kit.client(member)

    response = client.post(
        "/settings/digest",
        data={"subscribed": "y", "weekday": "2", "hour": "9", "time_zone": "Mars/Olympus"},
    )

    assert response.status_code == 200
    assert "Not a valid choice" in html.unescape(response.get_data(as_text=True))
    assert preference(kit, member.id) is None


def test_unticking_the_box_unsubscribes_and_ticking_it_resubscribes(kit: DigestKit) -> None:
    member = kit.member()
    client = kit.client(member)
    form = {"weekday": "0", "hour": "7", "time_zone": "UTC"}

    client.post("/settings/digest", data=form)
    stopped = preference(kit, member.id)
    client.post("/settings/digest", data={**form, "subscribed": "y"})
    restarted = preference(kit, member.id)

    assert stopped is not None
    assert stopped.unsubscribed_at is not None
    assert restarted is not None
    assert restarted.unsubscribed_at is None


def test_the_preview_shows_this_weeks_digest_as_the_email_would(kit: DigestKit) -> None:
    member = kit.member()
    author = kit.member()
    thread = kit.discussion(author, title="Anticoagulation after falls")
    kit.reply(member, thread, "Weigh the bleeding risk.")
    client = kit.client(member)

    page = client.get("/settings/digest")
    preview = client.get("/settings/digest/preview")

    assert 'href="/settings/digest/preview"' in page.get_data(as_text=True)
    assert preview.status_code == 200
    body = html.unescape(preview.get_data(as_text=True))
    assert "Anticoagulation after falls" in body
    assert f"http://curbside.example/t/{thread}" in body
    policy = preview.headers["Content-Security-Policy"]
    assert "script-src 'none'" in policy
    assert "default-src 'none'" in policy
    assert "sandbox" in policy


def test_a_quiet_week_says_no_email_would_be_sent(kit: DigestKit) -> None:
    client = kit.client(kit.member("dermatology"))

    page = client.get("/settings/digest")

    assert "no e-mail would be sent" in page.get_data(as_text=True)


def test_the_account_page_links_to_the_digest_settings(kit: DigestKit) -> None:
    client = kit.client(kit.member())

    assert 'href="/settings/digest"' in client.get("/account").get_data(as_text=True)

"""Sessions: idle timeout, absolute lifetime, both configurable, and the session version."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import time_machine
from flask import Flask

from tests.accounts.helpers import SESSION_ENDED, flashes, is_signed_in, later, where_sent
from tests.conftest import FormClient
from tests.factories import make_user, sign_in


def at(moment: datetime) -> time_machine.travel:
    return time_machine.travel(moment, tick=True)


def test_a_session_ends_after_30_idle_minutes(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()
    sign_in(client, member)

    with later(minutes=31):
        assert where_sent(client, "/account") == "/sign-in"
        assert SESSION_ENDED in flashes(client.get("/sign-in"))


def test_a_session_in_use_outlives_the_idle_timeout(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()
    sign_in(client, member)
    start = datetime.now(UTC)

    for minutes in (25, 50, 75):
        with at(start + timedelta(minutes=minutes)):
            assert is_signed_in(client), minutes


def test_a_session_ends_12_hours_after_sign_in_however_active(
    app: Flask, client: FormClient
) -> None:
    with app.app_context():
        member = make_user()
    sign_in(client, member)
    signed_in = datetime.now(UTC)

    for minutes in range(20, 12 * 60, 20):
        with at(signed_in + timedelta(minutes=minutes)):
            assert is_signed_in(client), minutes
    with at(signed_in + timedelta(hours=11, minutes=55)):
        assert is_signed_in(client)
    with at(signed_in + timedelta(hours=12, minutes=10)):
        assert where_sent(client, "/account") == "/sign-in"


def test_the_idle_timeout_is_configurable(
    build_app: Callable[..., Flask],
) -> None:
    short = build_app(SESSION_IDLE_MINUTES=5)
    with short.app_context():
        member = make_user()
    client = short.test_client()
    sign_in(client, member)
    start = datetime.now(UTC)

    with at(start + timedelta(minutes=4)):
        assert is_signed_in(client)
    with at(start + timedelta(minutes=10)):
        assert where_sent(client, "/account") == "/sign-in"


def test_the_lifetime_is_configurable(build_app: Callable[..., Flask]) -> None:
    short = build_app(SESSION_MAX_HOURS=1)
    with short.app_context():
        member = make_user()
    client = short.test_client()
    sign_in(client, member)
    start = datetime.now(UTC)

    for minutes in (20, 40, 55):
        with at(start + timedelta(minutes=minutes)):
            assert is_signed_in(client), minutes
    with at(start + timedelta(minutes=70)):
        assert where_sent(client, "/account") == "/sign-in"


# --- The session version -----------------------------------------------------------------------


def test_a_password_change_ends_other_sessions_but_not_this_one(
    app: Flask, client: FormClient
) -> None:
    with app.app_context():
        member = make_user()
    other = app.test_client()
    sign_in(other, member)
    sign_in(client, member)  # a fresh sign-in counts as re-authentication for ten minutes
    new = "a brand new passphrase for the ward"

    response = client.post("/account/password", data={"password": new, "password_confirm": new})

    assert response.headers["Location"] == "/account"
    assert is_signed_in(client)
    assert where_sent(other, "/account") == "/sign-in"


def test_a_totp_reset_ends_other_sessions_but_not_this_one(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()
    other = app.test_client()
    sign_in(other, member)
    sign_in(client, member)

    response = client.post("/account/two-factor/reset")

    assert response.headers["Location"] == "/two-factor/setup"
    assert client.get("/two-factor/setup").status_code == 200
    assert where_sent(client, "/account") == "/two-factor/setup"
    assert where_sent(other, "/account") == "/sign-in"


def test_signing_out_everywhere_ends_sessions_in_another_app_instance(
    app: Flask, client: FormClient, build_app: Callable[..., Flask]
) -> None:
    with app.app_context():
        member = make_user()
    elsewhere = build_app().test_client()
    sign_in(elsewhere, member)
    sign_in(client, member)

    client.post("/account/sign-out-everywhere")

    assert where_sent(elsewhere, "/account") == "/sign-in"

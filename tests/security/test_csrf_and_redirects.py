"""Forged form tokens and open redirects.

CSRF: every POST endpoint, sent by a member who may use it, with a token that is forged, empty,
signed with another key or salt, tampered with, from another member's session or from before
the member signed in, is refused with 400 before its view runs, and nothing changes. A POST
without any token is the access walk's (tests/core/test_access.py); this file adds the forgeries.

Redirects: every place that honours `next` (the code step after sign-in, its GET once signed in,
and re-authentication) goes only to paths on this site, whatever the encoding.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from flask import Flask, request
from itsdangerous import URLSafeTimedSerializer

from forum.cases.models import Post
from forum.extensions import db
from tests.conftest import TEST_SECRET_KEY, FormClient
from tests.core.helpers import text
from tests.factories import Member, make_user, sign_in, sign_in_password, unused_code
from tests.security.conftest import (
    World,
    inconsistencies,
    no_rate_limits,
    row_counts,
    stored_files,
)
from tests.security.test_forms_fuzz import GROUPS, Target

# --- Forged tokens ------------------------------------------------------------------------------

EXPIRED_FORM = "The form expired or did not come from this site"


def _signed(raw: str, *, key: str = TEST_SECRET_KEY, salt: str = "wtf-csrf-token") -> str:
    return URLSafeTimedSerializer(key, salt=salt).dumps(raw)


def forgeries(own: FormClient, other: FormClient) -> dict[str, dict[str, Any]]:
    """How a forged request carries its token: form fields and headers, by name."""
    valid = own.csrf_token()
    with own.session_transaction() as session:
        raw = str(session["csrf_token"])
    tampered = valid[:-2] + ("AA" if not valid.endswith("AA") else "BB")
    return {
        "an invented token": {"form": {"csrf_token": "forged-token"}},
        "an empty token": {"form": {"csrf_token": ""}},
        "another member's token": {"form": {"csrf_token": other.csrf_token()}},
        "a token signed with another key": {"form": {"csrf_token": _signed(raw, key="x" * 56)}},
        "a token signed for another purpose": {"form": {"csrf_token": _signed(raw, salt="other")}},
        "the session's secret unsigned": {"form": {"csrf_token": raw}},
        "a tampered signature": {"form": {"csrf_token": tampered}},
        "another member's token in the header": {"headers": {"X-CSRFToken": other.csrf_token()}},
        "a forged token before a valid one": {"form": {"csrf_token": ["forged-token", valid]}},
    }


@pytest.fixture
def reached(app: Flask) -> list[str]:
    """The endpoints whose views ran; registered last, so it runs only past CSRF and limits."""
    seen: list[str] = []

    @app.before_request
    def _note() -> None:
        seen.append(str(request.endpoint))

    return seen


def every_post_target() -> Iterator[Target]:
    """One target per POST endpoint (the fuzz targets, which the fuzz test checks are all)."""
    seen: set[str] = set()
    for target in itertools.chain.from_iterable(GROUPS.values()):
        if target.endpoint not in seen:
            seen.add(target.endpoint)
            yield target


def test_every_post_endpoint_refuses_forged_tokens_before_its_view_and_changes_nothing(
    world: World, reached: list[str]
) -> None:
    app = world.app
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    client, other = world.client("admin"), world.client("colleague")
    ways = forgeries(client, other)
    wrong: list[str] = []
    targets = list(every_post_target())
    urls = {target.endpoint: target.url(world) for target in targets}
    urls["phi.check"] = "/phi/check"
    with app.app_context():
        before = row_counts()
    files_before = stored_files(app)

    # Every endpoint gets an invented token and another member's; the other forgeries take
    # turns, so each meets a third of the endpoints and the run stays short.
    always = ["an invented token", "another member's token"]
    turns = itertools.cycle([way for way in ways if way not in always])
    for endpoint, url in sorted(urls.items()):
        for way in [*always, next(turns), next(turns)]:
            carried = ways[way]
            reached.clear()
            fields = {
                "body": "A reply nobody asked for.",
                "reason": "Forged.",
                **carried.get("form", {}),
            }
            response = client.post(url, data=fields, headers=carried.get("headers", {}), csrf=False)
            if response.status_code != 400 or EXPIRED_FORM not in text(response):
                wrong.append(f"{endpoint} with {way}: answered {response.status_code}")
            if reached:
                wrong.append(f"{endpoint} with {way}: the view ran")

    with app.app_context():
        after = row_counts()
    changed = {t for t in before if before[t] != after[t]}
    assert not wrong, "\n".join(wrong)
    assert changed == set()
    assert stored_files(app) == files_before
    assert inconsistencies(app) == []
    assert client.get("/account").status_code == 200  # still signed in: sign-out was refused too


def test_a_forged_reply_is_refused_and_the_same_reply_with_its_token_is_posted(
    world: World,
) -> None:
    app = world.app
    client, other = world.client("admin"), world.client("colleague")
    url = f"/t/{world.case_id}/reply"
    for way, carried in forgeries(client, other).items():
        data = {"body": f"Forged with {way}.", **carried.get("form", {})}
        response = client.post(url, data=data, headers=carried.get("headers", {}), csrf=False)
        assert response.status_code == 400, way
    assert client.post(url, data={"body": "Sent with my own token."}).status_code == 302

    with app.app_context():
        bodies = [post.source for post in db.session.scalars(db.select(Post).order_by(Post.id))]
    assert bodies[-1] == "Sent with my own token."
    assert not any(body.startswith("Forged with") for body in bodies)


def test_a_forged_phi_check_header_is_refused(world: World) -> None:
    client, other = world.client("admin"), world.client("colleague")
    for token in ("forged", "", other.csrf_token(), _signed("x" * 40)):
        response = client.post(
            "/phi/check",
            json={"fields": {"body": "Seen by Dr Smith"}},
            headers={"X-CSRFToken": token},
            csrf=False,
        )
        assert response.status_code == 400, token


def test_a_token_from_before_signing_in_or_out_no_longer_works(app: Flask) -> None:
    with app.app_context():
        member = make_user(verified=True)
    client: FormClient = app.test_client()  # type: ignore[assignment]
    stranger_token = client.csrf_token()
    assert sign_in(client, member).status_code == 302

    refused = client.post(
        "/account/sign-out-everywhere", data={"csrf_token": stranger_token}, csrf=False
    )
    assert refused.status_code == 400
    assert client.get("/account").status_code == 200

    member_token = client.csrf_token()
    assert (
        client.post("/sign-out", data={"csrf_token": member_token}, csrf=False).status_code == 302
    )
    again = client.post(
        "/sign-in",
        data={"email": member.email, "password": member.password, "csrf_token": member_token},
        csrf=False,
    )
    assert again.status_code == 400


# --- Open redirects -----------------------------------------------------------------------------

# Raw query-string values of `next`, exactly as they arrive on the wire.
HOSTILE_NEXT = [
    "//evil.example",
    "%2F%2Fevil.example",
    "%252F%252Fevil.example",
    "///evil.example",
    "////evil.example/account",
    "https://evil.example",
    "https%3A%2F%2Fevil.example%2Faccount",
    "HTTPS://EVIL.EXAMPLE",
    "https:evil.example",
    "https:/evil.example",
    "http://curbside.example@evil.example/",
    "//curbside.example@evil.example",
    "/%2F%2Fevil.example",
    "/%5Cevil.example",
    "%5C%5Cevil.example",
    "%5C/evil.example",
    "/%5C/evil.example",
    "http:%5C%5Cevil.example",
    "javascript:alert(1)",
    "JaVaScRiPt%3Aalert(document.cookie)",
    "%20javascript:alert(1)",
    "java%09script:alert(1)",
    "data:text/html,%3Cscript%3Ealert(1)%3C/script%3E",
    "/%09/evil.example",
    "/%0a/evil.example",
    "/%0d%0a/evil.example",
    "%09//evil.example",
    "%0a//evil.example",
    "//evil.example%0a",
    "/%00/evil.example",
    "%00//evil.example",
    "evil.example",
    "@evil.example",
    "%EF%BC%8F%EF%BC%8Fevil.example",  # fullwidth solidi
    "/account%0d%0aSet-Cookie:%20x=1",
    "",
]
# On-site paths (percent-encoded as a browser would send them) and where they should lead.
ON_SITE_NEXT = {
    "/account": "/account",
    "%2Faccount%3Ftab%3D2%26x%3D1": "/account?tab=2&x=1",
    "/search%3Fq%3Dheart%2520failure": "/search?q=heart%20failure",
    "/c/cardiology/new-case": "/c/cardiology/new-case",
}


def assert_on_site(location: str, where: str) -> None:
    """A redirect that a browser resolves to this site, whatever it makes of the text."""
    assert location.startswith("/"), where
    assert not location.startswith("//"), where
    assert "\\" not in location, where
    assert not any(ord(c) < 32 or c == "\x7f" for c in location), where
    resolved = urlsplit(urljoin("https://curbside.example/sign-in", location))
    assert (resolved.scheme, resolved.netloc) == ("https", "curbside.example"), where


@pytest.fixture
def unlimited(app: Flask) -> Flask:
    """The app without its sign-in limits: these tests sign in dozens of times a minute."""
    no_rate_limits(app)
    return app


def _fresh_member(app: Flask) -> Member:
    with app.app_context():
        return make_user(verified=True)


def test_the_code_step_and_re_authentication_send_hostile_next_addresses_home(
    unlimited: Flask,
) -> None:
    app = unlimited
    for raw in HOSTILE_NEXT:
        member = _fresh_member(app)
        client: FormClient = app.test_client()  # type: ignore[assignment]
        first = client.post(
            f"/sign-in?next={raw}", data={"email": member.email, "password": member.password}
        )
        assert first.status_code == 302, raw
        assert_on_site(first.location, raw)
        assert urlsplit(first.location).path == "/two-factor", raw

        second = client.post(first.location, data={"code": unused_code(app, member)})
        assert (second.status_code, second.location) == (302, "/"), raw

        again = client.post(
            f"/account/reauthenticate?next={raw}",
            data={"password": member.password, "code": unused_code(app, member)},
        )
        assert (again.status_code, again.location) == (302, "/account"), raw


def test_the_code_step_once_passed_sends_hostile_next_addresses_home(unlimited: Flask) -> None:
    app = unlimited
    client: FormClient = app.test_client()  # type: ignore[assignment]
    assert sign_in(client, _fresh_member(app)).status_code == 302
    for raw in HOSTILE_NEXT:
        response = client.get(f"/two-factor?next={raw}")
        assert response.status_code == 302, raw
        assert response.location == "/", (raw, response.location)


def test_next_keeps_paths_on_this_site_at_every_step(unlimited: Flask) -> None:
    app = unlimited
    for raw, expected in ON_SITE_NEXT.items():
        member = _fresh_member(app)
        client: FormClient = app.test_client()  # type: ignore[assignment]

        first = sign_in_password(client, member, next_url=raw)
        assert_on_site(first.location, raw)
        landed = client.post(first.location, data={"code": unused_code(app, member)})
        assert landed.location == expected, raw
        assert client.get(f"/two-factor?next={raw}").location == expected, raw

        again = client.post(
            f"/account/reauthenticate?next={raw}",
            data={"password": member.password, "code": unused_code(app, member)},
        )
        assert again.location == expected, raw
        assert_on_site(again.location, raw)

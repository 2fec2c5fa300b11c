"""Default-deny access: every endpoint declares a level, and the walk checks every one of them.

THE WALK requests every route of the app, with every method it answers among GET and POST, as
each kind of visitor, and checks the answer against the policy table below. POSTs are sent
twice: without a CSRF token (a visitor lacking the level must be turned away before the token is
looked at, and one with the level must be stopped by the token) and with one, from a fresh
session (the view really runs, so sign-out or a second-factor reset cannot spoil later requests).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask, request
from werkzeug.test import TestResponse

from forum.access import Level, endpoint_rule, safe_next_url
from forum.accounts.models import Role
from tests.conftest import FormClient
from tests.core.helpers import add_probe_routes, redirect_target, text, walked_routes
from tests.factories import Member, make_user, sign_in, sign_in_password, unused_code

# --- The policy ---------------------------------------------------------------------------------

OK = "admitted"
SIGN_IN = "sent to sign in"
CODE = "sent to the code step"
ENROL = "sent to set up two-factor"
CONFIRM = "sent to confirm the address"
VERIFY = "sent to verification"
DENY = "refused with 403"

COLUMNS = ("public", "password", "member", "physician", "verifier", "moderator", "admin")

# What each visitor gets at each level; staff columns are endpoints needing that role.
POLICY: dict[str, tuple[str, ...]] = {
    #                         public  password  member   physician  verifier  moderator  admin
    "anonymous":              (OK,    SIGN_IN,  SIGN_IN, SIGN_IN,   SIGN_IN,  SIGN_IN,   SIGN_IN),
    "password_only":          (OK,    OK,       CODE,    CODE,      CODE,     CODE,      CODE),
    "password_not_enrolled":  (OK,    OK,       ENROL,   ENROL,     ENROL,    ENROL,     ENROL),
    "password_unconfirmed":   (OK,    OK,       CONFIRM, CONFIRM,   CONFIRM,  CONFIRM,   CONFIRM),
    "unverified_member":      (OK,    OK,       OK,      VERIFY,    DENY,     DENY,      DENY),
    "physician":              (OK,    OK,       OK,      OK,        DENY,     DENY,      DENY),
    "suspended":              (OK,    OK,       OK,      DENY,      DENY,     DENY,      DENY),
    "verifier":               (OK,    OK,       OK,      OK,        OK,       DENY,      DENY),
    "moderator":              (OK,    OK,       OK,      OK,        DENY,     OK,        DENY),
    "admin":                  (OK,    OK,       OK,      OK,        OK,       OK,        OK),
}  # fmt: skip


@dataclass(frozen=True)
class Visitor:
    """How to make a visitor of one kind: the member to create and how far they sign in."""

    name: str
    member: dict[str, Any] | None = None
    both_steps: bool = True

    def arrive(self, app: Flask) -> tuple[FormClient, Member | None]:
        client: FormClient = app.test_client()  # type: ignore[assignment]
        if self.member is None:
            return client, None
        with app.app_context():
            member = make_user(**self.member)
        step = sign_in if self.both_steps else sign_in_password
        response = step(client, member)
        assert response.status_code == 302, f"{self.name} could not sign in"
        return client, member


VISITORS = {
    visitor.name: visitor
    for visitor in (
        Visitor("anonymous"),
        Visitor("password_only", {}, both_steps=False),
        Visitor("password_not_enrolled", {"enrolled": False}, both_steps=False),
        Visitor("password_unconfirmed", {"confirmed": False, "enrolled": False}, both_steps=False),
        Visitor("unverified_member", {}),
        Visitor("physician", {"verified": True}),
        Visitor("suspended", {"verified": True, "suspended": True}),
        Visitor("verifier", {"verified": True, "roles": (Role.VERIFIER,)}),
        Visitor("moderator", {"verified": True, "roles": (Role.MODERATOR,)}),
        Visitor("admin", {"verified": True, "roles": (Role.ADMIN,)}),
    )
}
assert set(VISITORS) == set(POLICY)


def columns_of(app: Flask, endpoint: str) -> list[str]:
    """The policy columns an endpoint falls in (a staff endpoint may name several roles)."""
    rule = endpoint_rule(app, endpoint)
    assert rule is not None, f"{endpoint} declares no access level"
    level, roles = rule
    if level == Level.STAFF:
        return [str(role) for role in roles]
    return [COLUMNS[int(level)]]


def expected_outcome(visitor: str, columns: list[str]) -> str:
    outcomes = [POLICY[visitor][COLUMNS.index(column)] for column in columns]
    return OK if OK in outcomes else outcomes[0]


# --- Walking the map ----------------------------------------------------------------------------


@pytest.fixture
def walk_app(app: Flask) -> tuple[Flask, list[str]]:
    """The app with stand-ins for the levels no real page uses yet, recording views reached."""
    add_probe_routes(app)
    for setting in ("SIGN_IN", "SIGN_UP", "PASSWORD_RESET", "TOTP"):
        app.config[f"RATELIMIT_{setting}"] = "10000 per minute"  # the walk signs in a lot
    reached: list[str] = []

    @app.before_request
    def _note_reached() -> None:
        # Registered last: it runs only when access, CSRF and rate limits all let the request on.
        reached.append(str(request.endpoint))

    return app, reached


REDIRECTS = {
    SIGN_IN: "/sign-in",
    CODE: "/two-factor",
    ENROL: "/two-factor/setup",
    CONFIRM: "/account/confirm-email",
    VERIFY: "/verification/",
}


def assert_refused(response: TestResponse, outcome: str, path: str, where: str) -> None:
    """The answer access control gives: a 403, or a redirect to the visitor's next step."""
    if outcome == DENY:
        assert response.status_code == 403, where
        return
    assert response.status_code == 302, where
    target, query = redirect_target(response)
    assert target == REDIRECTS[outcome], where
    if outcome in (SIGN_IN, CODE):
        assert query.get("next") == [path], where  # and back here afterwards


@pytest.mark.parametrize("visitor_name", list(VISITORS))
def test_the_walk_every_route_answers_every_visitor_as_the_policy_says(
    walk_app: tuple[Flask, list[str]], visitor_name: str
) -> None:
    app, reached = walk_app
    visitor = VISITORS[visitor_name]
    with app.app_context():
        target = make_user(email="target@hospital.example")  # what the dummy id 1 points at
    assert target.id == 1
    client, _ = visitor.arrive(app)
    checked: set[str] = set()

    for endpoint, method, url in walked_routes(app):
        outcome = expected_outcome(visitor_name, columns_of(app, endpoint))
        where = f"{visitor_name} {method} {url} ({endpoint}) should be {outcome}"
        checked.add(outcome)

        attempts: list[tuple[str, FormClient, dict[str, bool]]]
        if method == "GET":
            attempts = [("same session", client, {})]
        else:
            fresh = client if outcome != OK else visitor.arrive(app)[0]
            attempts = [
                ("no CSRF token", client, {"csrf": False}),
                ("with a CSRF token", fresh, {}),
            ]
        for how, who, options in attempts:
            reached.clear()
            response = who.get(url) if method == "GET" else who.post(url, data={}, **options)
            answer = f"{where}; {how}: got {response.status_code} {response.location}"
            assert response.status_code < 500, answer

            if outcome != OK:
                assert_refused(response, outcome, url, answer)
                assert reached == [], answer
            elif how == "no CSRF token":
                assert response.status_code == 400, answer
                assert "The form expired" in text(response), answer
                assert reached == [], answer
            else:
                assert reached == [endpoint], answer
                assert response.status_code != 403, answer

    assert OK in checked


def test_the_walk_covers_every_level_and_every_role(walk_app: tuple[Flask, list[str]]) -> None:
    app, _ = walk_app
    columns = {c for endpoint, _, _ in walked_routes(app) for c in columns_of(app, endpoint)}
    assert columns == set(COLUMNS)
    assert {str(role) for role in Role} <= columns


def test_the_walk_includes_every_real_route(app: Flask) -> None:
    real = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint != "static"}
    assert {endpoint for endpoint, _, _ in walked_routes(app)} == real
    assert len(real) >= 30


# --- Declarations -------------------------------------------------------------------------------


def test_every_endpoint_declares_an_access_level(app: Flask) -> None:
    undeclared = [
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if endpoint_rule(app, rule.endpoint) is None
    ]
    assert undeclared == []


def test_staff_endpoints_name_at_least_one_role(app: Flask) -> None:
    for rule in app.url_map.iter_rules():
        declared = endpoint_rule(app, rule.endpoint)
        assert declared is not None
        level, roles = declared
        assert (level == Level.STAFF) == bool(roles), rule.endpoint


def test_the_admin_pages_are_for_admins_only(app: Flask) -> None:
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin."):
            assert endpoint_rule(app, rule.endpoint) == (Level.STAFF, (Role.ADMIN,))


@pytest.fixture
def undeclared_app(build_app: Callable[..., Flask]) -> tuple[Flask, list[str]]:
    application = build_app()
    calls: list[str] = []

    def forgotten() -> str:
        calls.append("ran")
        return "anyone could read this"

    application.add_url_rule("/forgotten", view_func=forgotten, methods=["GET", "POST"])
    return application, calls


@pytest.mark.parametrize("who", ["anonymous", "admin"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_endpoint_without_a_declaration_is_refused_to_everyone(
    undeclared_app: tuple[Flask, list[str]],
    who: str,
    method: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, calls = undeclared_app
    client, _ = VISITORS[who].arrive(app)
    caplog.set_level(logging.ERROR)

    response = client.open("/forgotten", method=method)

    assert response.status_code == 403
    assert "anyone could read this" not in text(response)
    assert calls == []
    assert "forgotten declares no access level" in caplog.text


# --- Where visitors go after signing in ---------------------------------------------------------

HOSTILE_NEXT = [
    "//evil.example",
    "https://evil.example",
    "http://evil.example/account",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "\x00/",
    "/account\r\nSet-Cookie: x=1",
    "\t//evil.example",
    "///evil.example",
    "evil.example",
    "/" + "a" * 3000,
    "",
    None,
]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_safe_next_url_falls_back_for_anything_off_site(target: str | None) -> None:
    assert safe_next_url(target, "/fallback") == "/fallback"


@pytest.mark.parametrize(
    "target", ["/account?x=1", "/admin/audit?action=role.granted&since=2025-01-01", "/"]
)
def test_safe_next_url_keeps_a_path_on_this_site(target: str) -> None:
    assert safe_next_url(target, "/fallback") == target


def _sign_in_with_next(client: FormClient, app: Flask, member: Member, next_url: str) -> str:
    first = sign_in_password(client, member, next_url=next_url)
    assert first.status_code == 302
    second = client.post(first.location, data={"code": unused_code(app, member)})
    assert second.status_code == 302
    return second.location


@pytest.mark.parametrize("next_url", ["https://evil.example", "//evil.example", "/\\evil.example"])
def test_signing_in_with_an_off_site_next_lands_on_the_site(
    app: Flask, client: FormClient, next_url: str
) -> None:
    with app.app_context():
        member = make_user(verified=True)
    landed = _sign_in_with_next(client, app, member, next_url)
    assert landed == "/"
    assert "evil.example" not in landed


def test_signing_in_returns_to_the_page_that_asked_for_it(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user(verified=True)
    asked = client.get("/account")
    path, query = redirect_target(asked)
    assert (path, query["next"]) == ("/sign-in", ["/account"])

    landed = _sign_in_with_next(client, app, member, "/account")

    assert landed == "/account"
    assert client.get(landed).status_code == 200

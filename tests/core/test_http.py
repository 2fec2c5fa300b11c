"""HTTP policy: security headers, no caching of member pages, cookies, and quiet error pages."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from forum.access import public
from forum.accounts.models import Role
from forum.extensions import db
from tests.conftest import FormClient
from tests.core.helpers import text, walked_routes
from tests.factories import make_user, sign_in, sign_in_password

INTERNALS = ("Traceback", "werkzeug", "sqlalchemy", "jinja2", 'File "', "/work/", "forum/", ".py")


def csp_directives(response: TestResponse) -> dict[str, list[str]]:
    policy = response.headers.get("Content-Security-Policy", "")
    directives = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


# Pages that show an e-mail exactly as sent: its HTML needs inline CSS, so they run under a
# sandbox that allows no script at all (forum/digest/views.py PREVIEW_POLICY).
EMAIL_PREVIEWS = ("/settings/digest/preview",)


def assert_email_preview_headers(response: TestResponse, where: str) -> None:
    csp = csp_directives(response)
    assert csp.get("script-src") == ["'none'"], where
    assert csp.get("default-src") == ["'none'"], where
    assert csp.get("frame-ancestors") == ["'none'"], where
    assert "sandbox" in csp, where
    assert "unsafe-eval" not in response.headers["Content-Security-Policy"], where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where
    assert response.headers.get("X-Frame-Options") == "DENY", where


def assert_security_headers(response: TestResponse, where: str) -> None:
    if response.request.path in EMAIL_PREVIEWS and response.status_code == 200:
        assert_email_preview_headers(response, where)
        return
    csp = csp_directives(response)
    assert csp.get("script-src") == ["'self'"], where
    assert csp.get("frame-ancestors") == ["'none'"], where
    assert csp.get("object-src") == ["'none'"], where
    assert csp.get("default-src") == ["'self'"], where
    policy = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy, where
    assert "unsafe-eval" not in policy, where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where
    assert response.headers.get("X-Frame-Options") == "DENY", where
    assert response.headers.get("Referrer-Policy") in {
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    }, where


def every_get_page(app: Flask) -> list[str]:
    """Every GET route with dummy arguments, a static file and a missing page."""
    pages = [url for _, method, url in walked_routes(app) if method == "GET"]
    return [*pages, "/static/css/site.css", "/no-such-page"]


# --- Security headers ---------------------------------------------------------------------------


@pytest.mark.parametrize("signed_in_as", [None, Role.ADMIN])
def test_every_page_carries_the_security_headers(
    app: Flask, client: FormClient, signed_in_as: Role | None
) -> None:
    if signed_in_as is not None:
        with app.app_context():
            member = make_user(verified=True, roles=(signed_in_as,))
        sign_in(client, member)
    for url in every_get_page(app):
        response = client.get(url)
        response.close()
        assert_security_headers(response, f"GET {url} -> {response.status_code}")
    refused = client.post("/sign-in", data={}, csrf=False)
    assert_security_headers(refused, "POST /sign-in without a token")


def test_pages_use_no_inline_script_or_style_that_the_policy_would_block(
    app: Flask, client: FormClient
) -> None:
    with app.app_context():
        member = make_user(verified=True, roles=(Role.ADMIN,))
    sign_in(client, member)
    for url in every_get_page(app):
        response = client.get(url)
        response.close()
        if response.mimetype != "text/html" or url in EMAIL_PREVIEWS:
            continue
        page = response.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", page), url
        assert not re.search(r"\son[a-z]+\s*=", page), url
        assert not re.search(r"\sstyle\s*=", page), url
        assert "javascript:" not in page, url


def test_strict_transport_security_is_sent_over_https_only(client: FormClient) -> None:
    secure = client.get("/", base_url="https://localhost")
    hsts = secure.headers.get("Strict-Transport-Security", "")
    max_age = re.search(r"max-age=(\d+)", hsts)
    assert max_age is not None
    assert int(max_age.group(1)) >= 365 * 24 * 3600

    assert "Strict-Transport-Security" not in client.get("/").headers


# --- Caching ------------------------------------------------------------------------------------


def test_signed_in_pages_are_never_stored_by_browsers_or_proxies(
    app: Flask, client: FormClient
) -> None:
    with app.app_context():
        member = make_user(verified=True)
    sign_in(client, member)
    for url in ("/", "/account", "/verification/", "/about", "/no-such-page"):
        assert client.get(url).headers.get("Cache-Control") == "no-store", url


def test_the_code_step_is_never_stored_either(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user()
    sign_in_password(client, member)
    assert client.get("/two-factor").headers.get("Cache-Control") == "no-store"


def test_static_files_may_be_cached_even_for_members(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user(verified=True)
    sign_in(client, member)
    response = client.get("/static/css/site.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    response.close()


# --- Cookies ------------------------------------------------------------------------------------


def session_cookie(response: TestResponse) -> str:
    cookies = [
        c for c in response.headers.getlist("Set-Cookie") if c.startswith("curbside_session=")
    ]
    assert len(cookies) == 1, response.headers.getlist("Set-Cookie")
    return cookies[0]


def cookie_flags(cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}


def test_the_session_cookie_is_http_only_and_same_site_lax(app: Flask, client: FormClient) -> None:
    cookie = session_cookie(client.get("/sign-in"))
    assert "httponly" in cookie_flags(cookie)
    assert re.search(r";\s*SameSite=Lax", cookie)
    assert "secure" not in cookie_flags(cookie)  # a plain-http development site

    with app.app_context():
        member = make_user()
    signed_in = sign_in_password(client, member)
    cookie = session_cookie(signed_in)
    assert "httponly" in cookie_flags(cookie)
    assert re.search(r";\s*SameSite=Lax", cookie)


@pytest.mark.parametrize(
    "settings",
    [{"SESSION_COOKIE_SECURE": True}, {"BASE_URL": "https://curbside.example"}],
    ids=["cookie setting", "https base url"],
)
def test_cookies_are_secure_when_the_site_is_served_over_https(
    build_app: Callable[..., Flask], settings: dict[str, object]
) -> None:
    app = build_app(**settings)
    client = app.test_client()
    cookie = session_cookie(client.get("/sign-in", base_url="https://localhost"))
    assert {"secure", "httponly", "samesite"} <= cookie_flags(cookie)


# --- Error pages --------------------------------------------------------------------------------


def assert_reveals_nothing(response: TestResponse) -> None:
    page = response.get_data(as_text=True)
    for word in INTERNALS:
        assert word not in page, word


@pytest.mark.parametrize("token", [None, "forged-token", "IjEyMzQ1Ig.Zz9aAA.forged-signature"])
def test_a_sign_in_without_a_valid_form_token_gets_the_expired_form_page(
    app: Flask, client: FormClient, token: str | None
) -> None:
    with app.app_context():
        member = make_user()
    data = {"email": member.email, "password": member.password}
    if token is not None:
        data["csrf_token"] = token

    response = client.post("/sign-in", data=data, csrf=False)

    assert response.status_code == 400
    assert "The form expired or did not come from this site" in text(response)
    assert_reveals_nothing(response)
    assert client.get("/two-factor").status_code == 302  # not signed in at all
    assert client.get("/two-factor").location.startswith("/sign-in")


def test_a_member_without_access_gets_the_403_page(app: Flask, client: FormClient) -> None:
    with app.app_context():
        member = make_user(verified=True)
    sign_in(client, member)
    response = client.get("/admin/")
    assert response.status_code == 403
    assert "You do not have access to this page" in text(response)
    assert_reveals_nothing(response)


def test_a_missing_page_gets_the_404_page(client: FormClient) -> None:
    response = client.get("/cases/<script>alert(1)</script>")
    assert response.status_code == 404
    assert "Page not found" in text(response)
    assert "<script>" not in response.get_data(as_text=True)
    assert_reveals_nothing(response)


def test_the_wrong_method_gets_the_405_page(client: FormClient) -> None:
    response = client.get("/sign-out")
    assert response.status_code == 405
    assert "That action is not allowed here" in text(response)
    assert "POST" in response.headers.get("Allow", "")
    assert_reveals_nothing(response)


def test_too_many_attempts_get_the_429_page(build_app: Callable[..., Flask]) -> None:
    app = build_app(RATELIMIT_SIGN_IN="2 per minute")
    client: FormClient = app.test_client()  # type: ignore[assignment]
    form = {"email": "nobody@hospital.example", "password": "not the password"}
    answers = [client.post("/sign-in", data=form).status_code for _ in range(3)]

    assert answers == [422, 422, 429]
    response = client.post("/sign-in", data=form)
    assert response.status_code == 429
    assert "Too many attempts" in text(response)
    assert int(response.headers["Retry-After"]) > 0
    assert_reveals_nothing(response)
    assert_security_headers(response, "429")


@pytest.fixture
def exploding_app(build_app: Callable[..., Flask]) -> Flask:
    """An app whose one extra page fails with a message that must stay private."""
    app = build_app(TESTING=False, PROPAGATE_EXCEPTIONS=False)

    @public
    def explode() -> str:
        from forum import audit

        audit.record(None, "test.half_done")  # rolled back by the error handler
        detail = "-".join(("secret", "detail", "xyz"))  # not written out in this source line
        raise RuntimeError(detail)

    app.add_url_rule("/explode", view_func=explode)
    return app


def test_an_unexpected_error_gets_a_500_page_that_reveals_nothing(
    exploding_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = exploding_app.test_client().get("/explode")

    assert response.status_code == 500
    page = text(response)
    assert "Something went wrong on our side" in page
    assert "secret-detail-xyz" not in page
    assert "RuntimeError" not in page
    assert_reveals_nothing(response)
    assert_security_headers(response, "500")


def test_an_unexpected_error_is_logged_by_type_without_its_message(
    exploding_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    exploding_app.test_client().get("/explode")

    assert "RuntimeError" in caplog.text
    assert "explode" in caplog.text  # where it happened
    assert "secret-detail-xyz" not in caplog.text


def test_an_unexpected_error_keeps_nothing_the_request_half_wrote(exploding_app: Flask) -> None:
    from forum.audit import AuditEvent

    exploding_app.test_client().get("/explode")
    with exploding_app.app_context():
        assert db.session.scalars(db.select(AuditEvent)).all() == []

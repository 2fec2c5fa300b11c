"""HTTP policy: security headers, caching of member pages, and error pages."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, abort, render_template, request
from flask import Request as FlaskRequest
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response

from forum.extensions import db

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

ERROR_TITLES = {
    400: "That request could not be understood",
    403: "You do not have access to this page",
    404: "Page not found",
    405: "That action is not allowed here",
    413: "That upload is too large",
    422: "That could not be processed",
    429: "Too many attempts",
    500: "Something went wrong on our side",
}


def _without_nul(value: Any) -> Any:
    return value.replace("\x00", "") if isinstance(value, str) else value


class ParameterValues(ImmutableMultiDict[str, Any]):
    """Query and form values without NUL characters.

    No field of ours needs one, and PostgreSQL refuses NUL in text: one typed or forged into
    any field or query would otherwise turn the request into a server error there (and be
    stored on SQLite). Werkzeug builds `args`, `form` and `files` with this class.
    """

    def __init__(self, mapping: Any = None) -> None:
        if isinstance(mapping, MultiDict):
            mapping = mapping.items(multi=True)
        elif isinstance(mapping, Mapping):
            mapping = mapping.items()
        if mapping is not None:
            mapping = [(_without_nul(key), _without_nul(value)) for key, value in mapping]
        super().__init__(mapping)


class CurbsideRequest(FlaskRequest):
    """A request whose query and form values carry no NUL (see ParameterValues)."""

    parameter_storage_class = ParameterValues


def refuse_nul_in_path() -> None:
    """No address of ours holds NUL; a NUL in a path argument would reach a query as above."""
    if "\x00" in request.path:
        abort(404)


def add_security_headers(response: Response) -> Response:
    """Headers on every response; member pages are never cached by browsers or proxies."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    signed_in = current_user and current_user.is_authenticated
    # Member pages stay out of caches; a view that already said no-store keeps its own wording.
    if (
        request.endpoint != "static"
        and signed_in
        and "no-store" not in headers.get("Cache-Control", "")
    ):
        headers["Cache-Control"] = "no-store"
    return response


def _render_error(code: int, description: str | None = None) -> tuple[str, int]:
    return render_template(
        "errors/error.html",
        code=code,
        title=ERROR_TITLES.get(code, "Error"),
        description=description,
    ), code


def _http_error(error: HTTPException) -> tuple[str, int, list[tuple[str, str]]] | HTTPException:
    code = error.code or 500
    if code < 400:
        return error
    # Only our own abort() descriptions are shown; werkzeug's defaults stay generic.
    custom = error.description if error.description != type(error).description else None
    # Keep the headers the error carries (Allow on a 405, say); the page brings its own type.
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    return (*_render_error(code, custom), headers)


def _csrf_error(_: CSRFError) -> tuple[str, int]:
    return _render_error(
        400,
        "The form expired or did not come from this site. Go back, reload the page and "
        "try again; what you typed may still be in the form.",
    )


def _rate_limited(_: RateLimitExceeded) -> tuple[str, int]:
    return _render_error(429, "Too many attempts from your address. Wait a minute and try again.")


def _server_error(error: InternalServerError) -> tuple[str, int]:
    db.session.rollback()
    original = getattr(error, "original_exception", None)
    log.error(
        "Unhandled error on %s %s: %s",
        request.method,
        request.endpoint,
        type(original).__name__ if original else "InternalServerError",
    )
    return _render_error(500, None)


def register(app: Flask) -> None:
    """Attach the request class, the headers and the error pages to the app."""
    app.request_class = CurbsideRequest
    app.before_request(refuse_nul_in_path)
    app.after_request(add_security_headers)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(RateLimitExceeded, _rate_limited)
    app.register_error_handler(InternalServerError, _server_error)
    app.register_error_handler(HTTPException, _http_error)

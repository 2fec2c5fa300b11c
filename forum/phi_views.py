"""The as-you-type PHI check: a draft's fields in, the gate's findings per field out.

The page's script (static/js/phi-check.js) calls it while the member writes; the write path
checks again on submit, so without JavaScript nothing is lost. It screens exactly as the write
path does (the site allow-list and watched words included). The text is never logged.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers import Response

from forum.access import physician
from forum.extensions import limiter
from forum.moderation import policy

bp = Blueprint("phi", __name__, url_prefix="/phi")

CHECK_LIMIT = "60 per minute"
MAX_CHARACTERS = 60_000
MAX_FIELDS = 40
MAX_NAME_LENGTH = 64
# Every character may arrive JSON-escaped as a surrogate pair ("\ud83d\ude00": 12 bytes).
MAX_BYTES = MAX_CHARACTERS * 12 + 16_384
# The site's wording for a missing or stale token (forum.http), so every refusal reads alike.
CSRF_REFUSED = "The form expired or did not come from this site. Reload the page and try again."
TOO_LONG = f"The draft is too long to check: at most {MAX_CHARACTERS:,} characters in all."

JsonView = tuple[Response, int]


class CheckRefused(Exception):
    """The draft cannot be checked as sent; the message says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _per_member() -> str:
    """Rate-limit key: the member, whatever address they come from."""
    return f"phi-check:{current_user.id}"


def _problem(message: str, status: int) -> JsonView:
    return jsonify({"error": message}), status


def draft_fields(payload: Any) -> dict[str, str]:
    """The {"fields": {name: text}} of a check request, within the limits, or CheckRefused."""
    fields = payload.get("fields") if isinstance(payload, dict) else None
    if not isinstance(fields, dict):
        raise CheckRefused('Send JSON of the form {"fields": {"name": "text"}}.')
    if len(fields) > MAX_FIELDS:
        raise CheckRefused(f"At most {MAX_FIELDS} fields can be checked at once.")
    texts: dict[str, str] = {}
    for name, text in fields.items():
        if not isinstance(text, str) or not name or len(name) > MAX_NAME_LENGTH:
            raise CheckRefused("Each field needs a short name and text.")
        texts[name] = text
    if sum(len(text) for text in texts.values()) > MAX_CHARACTERS:
        raise CheckRefused(TOO_LONG, 413)
    return texts


@bp.route("/check", methods=["POST"])
@physician
@limiter.limit(CHECK_LIMIT, key_func=_per_member)
def check() -> JsonView:
    """The findings the gate would report for each field of a draft (nothing is stored)."""
    if request.content_length is not None and request.content_length > MAX_BYTES:
        return _problem(
            f"The draft is too long to check: at most {MAX_CHARACTERS:,} characters.", 413
        )
    request.max_content_length = MAX_BYTES
    try:
        texts = draft_fields(request.get_json(silent=True))
    except CheckRefused as refused:
        return _problem(refused.message, refused.status)
    result = policy.screen(texts)
    findings = {
        name: [finding.as_dict() for finding in result.findings.get(name, [])] for name in texts
    }
    return jsonify({"verdict": str(result.verdict), "findings": findings}), 200


@bp.errorhandler(CSRFError)
def _csrf_refused(_: CSRFError) -> JsonView:
    return _problem(CSRF_REFUSED, 400)


@bp.errorhandler(RateLimitExceeded)
def _too_many(_: RateLimitExceeded) -> JsonView:
    return _problem("Too many checks; the next one will run in a minute.", 429)

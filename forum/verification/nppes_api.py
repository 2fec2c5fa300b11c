"""An optional lookup of one NPI in the NPPES Registry API (version 2.1 JSON).

Used only for an NPI missing from the registry copy, and only when FORUM_NPPES_API_URL is set.
Anything but a clean answer raises NppesUnavailable and the claim goes to a verifier.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import current_app

from forum.verification.models import RegistryProvider
from forum.verification.taxonomy import physician_codes

log = logging.getLogger(__name__)

API_VERSION = "2.1"
# A single NPI's record is a few kilobytes; anything far larger is not the API answering.
MAX_RESPONSE_BYTES = 1_000_000
_CHUNK_BYTES = 65_536
_ENTITY_TYPES = {"NPI-1": 1, "NPI-2": 2}
# The API writes "--" for an empty name prefix or suffix.
_EMPTY_VALUES = {"", "--"}
_OUR_PARAMETERS = {"version", "number"}


class NppesUnavailable(RuntimeError):
    """The NPPES API gave no usable answer: unreachable, slow, an error status or bad JSON."""


def lookup_configured(npi: str) -> RegistryProvider | None:
    """Look an NPI up in the API named by FORUM_NPPES_API_URL; None when unset or unknown."""
    base_url = current_app.config.get("NPPES_API_URL")
    if not base_url:
        return None
    return lookup(npi, base_url, float(current_app.config["NPPES_API_TIMEOUT"]))


def lookup(npi: str, base_url: str, timeout: float) -> RegistryProvider | None:
    """A transient RegistryProvider built from the API's record for `npi`, or None if none."""
    started = time.monotonic()
    try:
        payload = _fetch(_query_url(base_url, npi), timeout)
        provider = _provider_from(payload, npi)
    except NppesUnavailable as error:
        # The NPI, names and licences stay out of the log, and so does the URL that holds the NPI.
        log.warning("NPPES API lookup of an NPI failed: %s", error)
        raise
    log.info(
        "NPPES API lookup of an NPI: %s in %.0f ms",
        "found" if provider else "not found",
        (time.monotonic() - started) * 1000,
    )
    return provider


def _query_url(base_url: str, npi: str) -> str:
    """The base URL with version=2.1 and number=NPI added to any query it already has."""
    try:
        parts = urlsplit(base_url)
    except ValueError as error:
        raise NppesUnavailable("the configured API address is not a URL") from error
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise NppesUnavailable("the configured API address is not an http(s) URL")
    kept = [(key, value) for key, value in parse_qsl(parts.query) if key not in _OUR_PARAMETERS]
    query = [*kept, ("version", API_VERSION), ("number", npi)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _fetch(url: str, timeout: float) -> Any:
    """The decoded JSON at url, read within about `timeout` seconds overall."""
    request = urllib.request.Request(  # noqa: S310 (_query_url allows http and https only)
        url, headers={"Accept": "application/json", "User-Agent": "Curbside NPI check"}
    )
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            if response.status != 200:
                raise NppesUnavailable(f"HTTP status {response.status}")
            body = _read_body(response, deadline)
    except urllib.error.HTTPError as error:
        error.close()  # it holds the connection open otherwise
        raise NppesUnavailable(f"HTTP status {error.code}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        # TimeoutError is an OSError; URLError wraps refused connections and DNS failures.
        raise NppesUnavailable(f"{type(error).__name__} reaching the API") from None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # bad bytes, bad JSON, or absurdly deep nesting
        raise NppesUnavailable("the answer is not JSON") from None


def _read_body(response: http.client.HTTPResponse, deadline: float) -> bytes:
    """Read in chunks so a server that trickles bytes cannot hold the claim past the deadline."""
    chunks: list[bytes] = []
    size = 0
    # read1 makes at most one socket read, each bounded by the socket timeout.
    while chunk := response.read1(_CHUNK_BYTES):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise NppesUnavailable("the answer is too large")
        if time.monotonic() > deadline:
            raise NppesUnavailable("TimeoutError reading the answer")
        chunks.append(chunk)
    return b"".join(chunks)


# --- From the API's JSON to a RegistryProvider ---------------------------------------------------


def _provider_from(payload: Any, npi: str) -> RegistryProvider | None:
    """The record for `npi` in an API answer; None when the API knows no such NPI."""
    if not isinstance(payload, dict):
        raise NppesUnavailable("the answer is not a JSON object")
    if payload.get("Errors"):
        raise NppesUnavailable("the API answered with an error")
    count = payload.get("result_count")
    results = payload.get("results") or []
    if count == 0 or (count is None and results == []):
        return None
    if not isinstance(results, list) or not results or not isinstance(results[0], dict):
        raise NppesUnavailable("the answer has no results list")
    record = results[0]
    if str(record.get("number", "")) != npi:
        raise NppesUnavailable("the answer is about another NPI")
    try:
        return _build(record, npi, payload)
    except (AttributeError, TypeError, ValueError):
        raise NppesUnavailable("the answer's record is malformed") from None


def _build(record: dict[str, Any], npi: str, payload: Any) -> RegistryProvider:
    basic = _dict(record.get("basic"))
    taxonomies = _slots(record.get("taxonomies"))
    codes = physician_codes()
    deactivated, reactivated = _activity(basic)
    return RegistryProvider(
        npi=npi,
        entity_type=_ENTITY_TYPES.get(str(record.get("enumeration_type", ""))),
        last_name=_text(basic.get("last_name")),
        first_name=_text(basic.get("first_name")),
        middle_name=_text(basic.get("middle_name")),
        name_suffix=_text(basic.get("name_suffix")),
        credential=_text(basic.get("credential")),
        organisation_name=_text(basic.get("organization_name") or basic.get("name")),
        other_names=_other_names(record.get("other_names")),
        taxonomies=taxonomies,
        practice_state=_practice_state(record.get("addresses")),
        deactivated_on=deactivated,
        reactivated_on=reactivated,
        last_updated_on=_date(basic.get("last_updated")),
        has_physician_taxonomy=any(slot["code"] in codes for slot in taxonomies),
        # Never stored; the hash only fills the column the way an import would.
        row_hash=hashlib.md5(
            json.dumps(payload, sort_keys=True).encode(), usedforsecurity=False
        ).hexdigest(),
        import_id=None,
    )


def _dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError("expected an object")
    return value


def _list(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise TypeError("expected a list of objects")
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return None if text in _EMPTY_VALUES else text


def _date(value: Any) -> date | None:
    """An API date: ISO (2007-07-08), or MM/DD/YYYY as in the downloadable file."""
    text = _text(value)
    if text is None:
        return None
    for pattern in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise ValueError("unreadable date")


def _activity(basic: dict[str, Any]) -> tuple[date | None, date | None]:
    """Deactivation and reactivation dates; a status other than A without dates is deactivated."""
    deactivated = _date(basic.get("deactivation_date"))
    reactivated = _date(basic.get("reactivation_date"))
    status = (_text(basic.get("status")) or "A").upper()
    if status != "A" and deactivated is None:
        # Not active, yet undated: inactive from the last update (or today), never active.
        deactivated = _date(basic.get("last_updated")) or date.today()
        reactivated = None
    return deactivated, reactivated


def _slots(value: Any) -> list[dict[str, Any]]:
    """Taxonomy slots in the registry copy's shape."""
    slots: list[dict[str, Any]] = []
    for item in _list(value):
        code = _text(item.get("code"))
        if not code:
            continue
        slots.append(
            {
                "slot": len(slots) + 1,
                "code": code.upper(),
                "primary": item.get("primary") is True,
                "licence": _text(item.get("license")),
                "state": (_text(item.get("state")) or "").upper() or None,
            }
        )
    return slots


def _other_names(value: Any) -> list[dict[str, str]]:
    """A person's other names, empty parts dropped; organisations' other names are not kept."""
    names: list[dict[str, str]] = []
    for item in _list(value):
        parts = {
            "first": _text(item.get("first_name")),
            "middle": _text(item.get("middle_name")),
            "last": _text(item.get("last_name")),
        }
        kept = {key: text for key, text in parts.items() if text}
        if kept:
            names.append(kept)
    return names


def _practice_state(value: Any) -> str | None:
    """The state of the practice location address."""
    for address in _list(value):
        if str(address.get("address_purpose", "")).upper() == "LOCATION":
            return (_text(address.get("state")) or "").upper() or None
    return None

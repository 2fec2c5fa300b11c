"""The optional NPPES Registry API lookup, against a real local HTTP server speaking its v2.1 JSON.

No database: the records built are transient RegistryProvider objects.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from sqlalchemy import inspect

from forum.config import ConfigError, load
from forum.verification import nppes_api
from forum.verification.matching import Claim, Outcome, match
from forum.verification.nppes_api import NppesUnavailable, lookup, lookup_configured

PHYSICIAN_NPI = "1679576722"
ORGANISATION_NPI = "1497758544"
DEACTIVATED_NPI = "1306849450"
REACTIVATED_NPI = "1215930367"
UNKNOWN_NPI = "1234567893"

# The shape the NPPES Registry API v2.1 answers with for ?version=2.1&number=NPI.
PHYSICIAN = {
    "result_count": 1,
    "results": [
        {
            "created_epoch": "1116806400000",
            "enumeration_type": "NPI-1",
            "last_updated_epoch": "1183852800000",
            "number": PHYSICIAN_NPI,
            "addresses": [
                {
                    "country_code": "US",
                    "country_name": "United States",
                    "address_purpose": "MAILING",
                    "address_type": "DOM",
                    "address_1": "PO BOX 1000",
                    "city": "LINCOLN",
                    "state": "NE",
                    "postal_code": "685010000",
                    "telephone_number": "402-555-0100",
                },
                {
                    "country_code": "US",
                    "country_name": "United States",
                    "address_purpose": "LOCATION",
                    "address_type": "DOM",
                    "address_1": "3219 CENTRAL AVE",
                    "city": "KEARNEY",
                    "state": "ne",
                    "postal_code": "688472945",
                    "telephone_number": "308-555-0100",
                },
            ],
            "practiceLocations": [],
            "basic": {
                "first_name": "DAVID",
                "last_name": "WIEBE",
                "middle_name": "A",
                "credential": "M.D.",
                "sole_proprietor": "NO",
                "sex": "M",
                "enumeration_date": "2005-05-23",
                "last_updated": "2007-07-08",
                "status": "A",
                "name_prefix": "--",
                "name_suffix": "--",
            },
            "taxonomies": [
                {
                    "code": "174400000X",
                    "taxonomy_group": "",
                    "desc": "Specialist",
                    "state": None,
                    "license": None,
                    "primary": False,
                },
                {
                    "code": "207X00000X",
                    "taxonomy_group": "",
                    "desc": "Orthopaedic Surgery",
                    "state": "NE",
                    "license": "12637",
                    "primary": True,
                },
            ],
            "identifiers": [
                {
                    "code": "01",
                    "desc": "Other (non-Medicare)",
                    "issuer": "BCBS",
                    "identifier": "1553",
                    "state": "NE",
                }
            ],
            "endpoints": [],
            "other_names": [
                {
                    "type": "Former Name",
                    "code": "1",
                    "first_name": "DAVID",
                    "last_name": "WEBB",
                    "middle_name": "",
                    "prefix": "--",
                    "credential": "MD",
                }
            ],
        }
    ],
}
ORGANISATION = {
    "result_count": 1,
    "results": [
        {
            "created_epoch": "1152057600000",
            "enumeration_type": "NPI-2",
            "last_updated_epoch": "1436227200000",
            "number": ORGANISATION_NPI,
            "addresses": [
                {
                    "country_code": "US",
                    "country_name": "United States",
                    "address_purpose": "LOCATION",
                    "address_type": "DOM",
                    "address_1": "1638 OWEN DR",
                    "city": "FAYETTEVILLE",
                    "state": "NC",
                    "postal_code": "283043424",
                    "telephone_number": "910-555-0100",
                }
            ],
            "practiceLocations": [],
            "basic": {
                "organization_name": "CUMBERLAND COUNTY HOSPITAL SYSTEM, INC",
                "organizational_subpart": "NO",
                "enumeration_date": "2006-07-05",
                "last_updated": "2015-07-07",
                "status": "A",
                "authorized_official_first_name": "MICHAEL",
                "authorized_official_last_name": "NAGOWSKI",
                "authorized_official_telephone_number": "9106096700",
                "authorized_official_title_or_position": "CEO",
                "authorized_official_name_prefix": "MR.",
            },
            "taxonomies": [
                {
                    "code": "251G00000X",
                    "taxonomy_group": "",
                    "desc": "Hospice Care, Community Based",
                    "state": "NC",
                    "license": "HC0283",
                    "primary": True,
                }
            ],
            "identifiers": [],
            "endpoints": [],
            "other_names": [
                {
                    "organization_name": "CAPE FEAR VALLEY HOME HEALTH AND HOSPICE",
                    "type": "Doing Business As",
                    "code": "3",
                }
            ],
        }
    ],
}
DEACTIVATED = {
    "result_count": 1,
    "results": [
        {
            "created_epoch": "1117670400000",
            "enumeration_type": "NPI-1",
            "last_updated_epoch": "1551484800000",
            "number": DEACTIVATED_NPI,
            "addresses": [],
            "practiceLocations": [],
            "basic": {
                "first_name": "HAROLD",
                "last_name": "SMITSON",
                "middle_name": "LEROY",
                "name_suffix": "II",
                "credential": "M.D.",
                "last_updated": "2019-03-02",
                "status": "D",
                "deactivation_date": "2019-03-02",
            },
            "taxonomies": [
                {
                    "code": "2085R0202X",
                    "desc": "Radiology, Diagnostic Radiology",
                    "state": "TX",
                    "license": "E5444",
                    "primary": True,
                }
            ],
            "identifiers": [],
            "endpoints": [],
            "other_names": [],
        }
    ],
}
REACTIVATED = {
    "result_count": 1,
    "results": [
        {
            "enumeration_type": "NPI-1",
            "number": REACTIVATED_NPI,
            "addresses": [{"address_purpose": "LOCATION", "state": "TX"}],
            "basic": {
                "first_name": "LAURENT",
                "last_name": "GRESSOT",
                "credential": "M.D.",
                "last_updated": "2021-01-04",
                "status": "A",
                "deactivation_date": "05/01/2020",
                "reactivation_date": "01/04/2021",
            },
            "taxonomies": [
                {"code": "207RH0003X", "state": "TX", "license": "H6257", "primary": True}
            ],
            "other_names": [],
        }
    ],
}
NOT_FOUND = {"result_count": 0, "results": []}
INVALID_REQUEST = {
    "Errors": [{"description": "Field number must be 10 digits", "field": "number", "number": "01"}]
}
RECORDS = {
    PHYSICIAN_NPI: PHYSICIAN,
    ORGANISATION_NPI: ORGANISATION,
    DEACTIVATED_NPI: DEACTIVATED,
    REACTIVATED_NPI: REACTIVATED,
}
SLOW_SECONDS = 3.0


class FakeNppes(ThreadingHTTPServer):
    """A local NPPES API; the first path segment picks how it misbehaves."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), NppesHandler)
        self.requests: list[str] = []
        self.stopping = threading.Event()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up closes the socket under a slow handler: expected here."""


class NppesHandler(BaseHTTPRequestHandler):
    server: FakeNppes

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        parts = urlsplit(self.path)
        mode = parts.path.strip("/").split("/")[0]
        number = parse_qs(parts.query).get("number", [""])[0]
        if mode == "slow":
            self.server.stopping.wait(SLOW_SECONDS)
            self.send_json(RECORDS.get(number, NOT_FOUND))
        elif mode == "error":
            self.send_body(500, b"<html>Internal Server Error</html>", "text/html")
        elif mode == "garbage":
            self.send_body(200, b'{"result_count": 1, "results": [', "application/json")
        elif mode == "html":
            self.send_body(200, b"<!doctype html><title>Maintenance</title>", "text/html")
        elif mode == "errors":
            self.send_json(INVALID_REQUEST)
        elif mode == "mixup":
            self.send_json(RECORDS[ORGANISATION_NPI])  # whatever was asked
        elif mode == "huge":
            self.send_body(200, b" " * (nppes_api.MAX_RESPONSE_BYTES + 10), "application/json")
        elif mode == "trickle":
            self.trickle(json.dumps(RECORDS.get(number, NOT_FOUND)).encode())
        elif mode == "no-content":
            self.send_response(204)
            self.end_headers()
        elif mode == "list":
            self.send_json([PHYSICIAN])
        elif mode == "bad-record":
            self.send_json({"result_count": 1, "results": [{"number": number, "basic": "DAVID"}]})
        else:
            self.send_json(RECORDS.get(number, NOT_FOUND))

    def send_json(self, payload: Any) -> None:
        self.send_body(200, json.dumps(payload).encode(), "application/json")

    def send_body(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def trickle(self, body: bytes) -> None:
        """A byte every 50 ms: never idle long enough for a socket timeout."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for index in range(len(body)):
            if self.server.stopping.wait(0.05):
                return
            self.wfile.write(body[index : index + 1])
            self.wfile.flush()


@pytest.fixture
def nppes() -> Iterator[FakeNppes]:
    server = FakeNppes()
    # A short poll interval lets shutdown() return at once rather than after half a second.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server
    server.stopping.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def api(server: FakeNppes, mode: str = "api") -> str:
    return f"{server.base}/{mode}/"


# --- Records -------------------------------------------------------------------------------------


def test_a_physician_becomes_a_transient_registry_record(nppes: FakeNppes) -> None:
    provider = lookup(PHYSICIAN_NPI, api(nppes), 2)

    assert provider is not None
    assert inspect(provider).transient  # built, never added to a session
    assert provider.npi == PHYSICIAN_NPI
    assert provider.entity_type == 1
    assert (provider.first_name, provider.middle_name, provider.last_name) == (
        "DAVID",
        "A",
        "WIEBE",
    )
    assert provider.name_suffix is None  # the API writes "--" for none
    assert provider.credential == "M.D."
    assert provider.organisation_name is None
    assert provider.other_names == [{"first": "DAVID", "last": "WEBB"}]
    assert provider.taxonomies == [
        {"slot": 1, "code": "174400000X", "primary": False, "licence": None, "state": None},
        {"slot": 2, "code": "207X00000X", "primary": True, "licence": "12637", "state": "NE"},
    ]
    assert provider.practice_state == "NE"  # the LOCATION address, not the mailing one
    assert provider.deactivated_on is None
    assert provider.last_updated_on == date(2007, 7, 8)
    assert provider.has_physician_taxonomy is True
    assert provider.import_id is None
    assert len(provider.row_hash) == 32
    assert provider.is_active_physician
    assert provider.primary_taxonomy == "207X00000X"


def test_the_request_asks_for_version_2_1_and_the_number(nppes: FakeNppes) -> None:
    lookup(PHYSICIAN_NPI, api(nppes), 2)
    assert len(nppes.requests) == 1
    query = parse_qs(urlsplit(nppes.requests[0]).query)
    assert query == {"version": ["2.1"], "number": [PHYSICIAN_NPI]}


def test_a_query_already_in_the_base_url_is_kept_and_ours_wins(nppes: FakeNppes) -> None:
    lookup(PHYSICIAN_NPI, f"{api(nppes)}?pretty=on&version=1.0&number=1", 2)
    query = parse_qs(urlsplit(nppes.requests[0]).query)
    assert query == {"pretty": ["on"], "version": ["2.1"], "number": [PHYSICIAN_NPI]}


def test_the_physician_found_online_matches_a_claim(nppes: FakeNppes) -> None:
    provider = lookup(PHYSICIAN_NPI, api(nppes), 2)
    claim = Claim(PHYSICIAN_NPI, "Dave", "Wiebe", "NE", "12637", "NE")
    result = match(claim, provider, source="nppes_api")
    assert result.outcome is Outcome.MATCH
    assert result.evidence(None)["source"] == "nppes_api"
    former = match(Claim(PHYSICIAN_NPI, "David", "Webb", "NE"), provider, source="nppes_api")
    assert former.outcome is Outcome.MATCH


def test_an_organisation_becomes_an_organisation_record(nppes: FakeNppes) -> None:
    provider = lookup(ORGANISATION_NPI, api(nppes), 2)

    assert provider is not None
    assert provider.entity_type == 2
    assert provider.organisation_name == "CUMBERLAND COUNTY HOSPITAL SYSTEM, INC"
    assert provider.first_name is None
    assert provider.last_name is None
    assert provider.other_names == []  # an organisation's other names are not people's
    assert provider.practice_state == "NC"
    assert provider.has_physician_taxonomy is False
    claim = Claim(ORGANISATION_NPI, "Michael", "Nagowski", "NC")
    assert match(claim, provider, source="nppes_api").outcome is Outcome.ORGANISATION


def test_a_deactivated_npi_is_inactive(nppes: FakeNppes) -> None:
    provider = lookup(DEACTIVATED_NPI, api(nppes), 2)

    assert provider is not None
    assert provider.deactivated_on == date(2019, 3, 2)
    assert provider.reactivated_on is None
    assert not provider.is_active
    assert provider.name_suffix == "II"
    assert provider.practice_state is None  # no addresses
    claim = Claim(DEACTIVATED_NPI, "Harold", "Smitson", "TX")
    assert match(claim, provider, source="nppes_api").outcome is Outcome.INACTIVE


def test_a_reactivated_npi_with_file_style_dates_is_active(nppes: FakeNppes) -> None:
    provider = lookup(REACTIVATED_NPI, api(nppes), 2)

    assert provider is not None
    assert provider.deactivated_on == date(2020, 5, 1)
    assert provider.reactivated_on == date(2021, 1, 4)
    assert provider.is_active
    claim = Claim(REACTIVATED_NPI, "Laurent", "Gressot", "TX", "H6257", "TX")
    assert match(claim, provider, source="nppes_api").outcome is Outcome.MATCH


def test_a_status_other_than_active_without_dates_is_still_inactive() -> None:
    record = json.loads(json.dumps(PHYSICIAN["results"][0]))  # type: ignore[index]
    record["basic"]["status"] = "D"
    provider = nppes_api._provider_from({"result_count": 1, "results": [record]}, PHYSICIAN_NPI)
    assert provider is not None
    assert provider.deactivated_on == date(2007, 7, 8)  # from its last update
    assert not provider.is_active


def test_an_unknown_npi_is_none(nppes: FakeNppes) -> None:
    assert lookup(UNKNOWN_NPI, api(nppes), 2) is None
    assert parse_qs(urlsplit(nppes.requests[0]).query)["number"] == [UNKNOWN_NPI]


# --- Failures fall back to review ----------------------------------------------------------------


def test_a_slow_server_times_out_quickly(nppes: FakeNppes) -> None:
    started = time.monotonic()
    with pytest.raises(NppesUnavailable, match="Timeout"):
        lookup(PHYSICIAN_NPI, api(nppes, "slow"), 0.3)
    elapsed = time.monotonic() - started
    assert elapsed < 1.5, elapsed
    assert elapsed >= 0.25


def test_a_server_that_trickles_bytes_is_cut_off_at_the_deadline(nppes: FakeNppes) -> None:
    started = time.monotonic()
    with pytest.raises(NppesUnavailable, match="Timeout"):
        lookup(PHYSICIAN_NPI, api(nppes, "trickle"), 0.4)
    assert time.monotonic() - started < 1.5


def test_http_500_is_unavailable(nppes: FakeNppes) -> None:
    with pytest.raises(NppesUnavailable, match="HTTP status 500"):
        lookup(PHYSICIAN_NPI, api(nppes, "error"), 2)


def test_a_200_without_content_is_unavailable(nppes: FakeNppes) -> None:
    with pytest.raises(NppesUnavailable, match="HTTP status 204"):
        lookup(PHYSICIAN_NPI, api(nppes, "no-content"), 2)


@pytest.mark.parametrize("mode", ["garbage", "html"])
def test_an_answer_that_is_not_json_is_unavailable(nppes: FakeNppes, mode: str) -> None:
    with pytest.raises(NppesUnavailable, match="not JSON"):
        lookup(PHYSICIAN_NPI, api(nppes, mode), 2)


def test_an_api_error_answer_is_unavailable(nppes: FakeNppes) -> None:
    with pytest.raises(NppesUnavailable, match="error"):
        lookup(PHYSICIAN_NPI, api(nppes, "errors"), 2)


def test_an_answer_about_another_npi_is_unavailable(nppes: FakeNppes) -> None:
    with pytest.raises(NppesUnavailable, match="another NPI"):
        lookup(PHYSICIAN_NPI, api(nppes, "mixup"), 2)


def test_json_of_the_wrong_shape_is_unavailable(nppes: FakeNppes) -> None:
    with pytest.raises(NppesUnavailable, match="not a JSON object"):
        lookup(PHYSICIAN_NPI, api(nppes, "list"), 2)
    with pytest.raises(NppesUnavailable, match="malformed"):
        lookup(PHYSICIAN_NPI, api(nppes, "bad-record"), 2)


def test_an_oversized_answer_is_unavailable(nppes: FakeNppes) -> None:
    with pytest.raises(NppesUnavailable, match="too large"):
        lookup(PHYSICIAN_NPI, api(nppes, "huge"), 5)


def test_a_closed_port_is_unavailable(nppes: FakeNppes) -> None:
    base = api(nppes)
    nppes.stopping.set()
    nppes.shutdown()
    nppes.server_close()
    with pytest.raises(NppesUnavailable, match="URLError"):
        lookup(PHYSICIAN_NPI, base, 2)


@pytest.mark.parametrize(
    "base_url", ["file:///etc/passwd", "ftp://example.org/api/", "npiregistry", "http://[::1"]
)
def test_only_http_and_https_addresses_are_asked(base_url: str) -> None:
    with pytest.raises(NppesUnavailable, match="address"):
        lookup(PHYSICIAN_NPI, base_url, 2)


@pytest.mark.parametrize(
    ("payload", "found"),
    [
        ({"result_count": 0}, False),
        ({"results": []}, False),
        ({"result_count": 1, "results": []}, None),
        ({"result_count": 1, "results": ["x"]}, None),
        ({"result_count": 1, "results": [{"number": PHYSICIAN_NPI, "taxonomies": "x"}]}, None),
        (
            {
                "result_count": 1,
                "results": [{"number": PHYSICIAN_NPI, "basic": {"last_updated": "x"}}],
            },
            None,
        ),
        ({"result_count": 1, "results": [{"number": PHYSICIAN_NPI}]}, True),
    ],
)
def test_odd_answers_are_either_a_record_none_or_unavailable(
    payload: dict[str, Any], found: bool | None
) -> None:
    if found is None:
        with pytest.raises(NppesUnavailable):
            nppes_api._provider_from(payload, PHYSICIAN_NPI)
    else:
        provider = nppes_api._provider_from(payload, PHYSICIAN_NPI)
        assert (provider is not None) is found


# --- Logs ----------------------------------------------------------------------------------------


def test_the_logs_hold_no_npi_url_name_or_licence(
    nppes: FakeNppes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    lookup(PHYSICIAN_NPI, api(nppes), 2)
    lookup(UNKNOWN_NPI, api(nppes), 2)
    for mode in ["error", "garbage", "mixup"]:
        with pytest.raises(NppesUnavailable):
            lookup(PHYSICIAN_NPI, api(nppes, mode), 2)

    logged = caplog.text
    assert "NPPES API lookup of an NPI: found" in logged
    assert "NPPES API lookup of an NPI failed: HTTP status 500" in logged
    for private in [PHYSICIAN_NPI, UNKNOWN_NPI, nppes.base, "127.0.0.1", "WIEBE", "DAVID", "12637"]:
        assert private not in logged


def test_the_error_message_holds_no_url_or_npi(nppes: FakeNppes) -> None:
    with pytest.raises(NppesUnavailable) as raised:
        lookup(PHYSICIAN_NPI, api(nppes, "error"), 2)
    assert PHYSICIAN_NPI not in str(raised.value)
    assert nppes.base not in str(raised.value)


# --- Configuration -------------------------------------------------------------------------------


def bare_app(**config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    return app


def test_lookup_configured_is_off_without_an_address(nppes: FakeNppes) -> None:
    for url in [None, ""]:
        with bare_app(NPPES_API_URL=url, NPPES_API_TIMEOUT=3).app_context():
            assert lookup_configured(PHYSICIAN_NPI) is None
    assert nppes.requests == []


def test_lookup_configured_asks_the_configured_api(nppes: FakeNppes) -> None:
    with bare_app(NPPES_API_URL=api(nppes), NPPES_API_TIMEOUT=2).app_context():
        provider = lookup_configured(PHYSICIAN_NPI)
        assert provider is not None
        assert provider.last_name == "WIEBE"
        assert lookup_configured(UNKNOWN_NPI) is None


def test_lookup_configured_uses_the_configured_timeout(nppes: FakeNppes) -> None:
    started = time.monotonic()
    app = bare_app(NPPES_API_URL=api(nppes, "slow"), NPPES_API_TIMEOUT=0.2)
    with app.app_context(), pytest.raises(NppesUnavailable):
        lookup_configured(PHYSICIAN_NPI)
    assert time.monotonic() - started < 1.5


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FORUM_"):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("clean_environment")
def test_the_online_lookup_is_off_by_default_with_a_3_second_timeout(tmp_path: Path) -> None:
    values = load({"FORUM_INSTANCE_PATH": str(tmp_path)}, None, tmp_path)
    assert values["NPPES_API_URL"] is None
    assert values["NPPES_API_TIMEOUT"] == 3


@pytest.mark.usefixtures("clean_environment")
def test_the_online_lookup_settings_are_read_from_the_environment(tmp_path: Path) -> None:
    environ = {
        "FORUM_INSTANCE_PATH": str(tmp_path),
        "FORUM_NPPES_API_URL": " https://npiregistry.cms.hhs.gov/api/ ",
        "FORUM_NPPES_API_TIMEOUT": "1.5",
    }
    values = load(environ, None, tmp_path)
    assert values["NPPES_API_URL"] == "https://npiregistry.cms.hhs.gov/api/"
    assert values["NPPES_API_TIMEOUT"] == 1.5


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize("value", ["0", "-2", "soon", "nan", "inf", "3s"])
def test_a_timeout_that_is_not_a_positive_number_names_its_variable(
    tmp_path: Path, value: str
) -> None:
    environ = {"FORUM_INSTANCE_PATH": str(tmp_path), "FORUM_NPPES_API_TIMEOUT": value}
    with pytest.raises(ConfigError, match="FORUM_NPPES_API_TIMEOUT"):
        load(environ, None, tmp_path)


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize("value", [0, -1.0, "3"])
def test_a_timeout_given_as_an_override_is_checked_too(tmp_path: Path, value: Any) -> None:
    overrides = {"INSTANCE_PATH": str(tmp_path), "NPPES_API_TIMEOUT": value}
    with pytest.raises(ConfigError, match="FORUM_NPPES_API_TIMEOUT"):
        load({}, overrides, tmp_path)


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize(
    "value", ["file:///etc/passwd", "npiregistry.cms.hhs.gov/api", "https://", "http://[::1"]
)
def test_an_api_address_that_is_not_http_names_its_variable(tmp_path: Path, value: str) -> None:
    environ = {"FORUM_INSTANCE_PATH": str(tmp_path), "FORUM_NPPES_API_URL": value}
    with pytest.raises(ConfigError, match="FORUM_NPPES_API_URL"):
        load(environ, None, tmp_path)

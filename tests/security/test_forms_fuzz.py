"""Every form, and the search page, under random input: never a server error, nothing half-written.

Each POST endpoint of the site has a TARGET below saying who may use it, where, and which fields
it reads with values that are plausible for each; a test checks no endpoint is forgotten.
Hypothesis then sends, per target, random Unicode (control characters, NUL, right-to-left marks,
emoji, combining marks), huge values, empty and missing fields, repeated fields, wrong types and
bytes that are not UTF-8, always with a valid CSRF token so that the request reaches validation.

Every answer must be below 500. A refusal (4xx) must leave every table's row count and the stored
files as they were, and a form sent back with 422 must say what is wrong. After each form's run
the data must hold together: one opening post a thread, two options a poll, a row for every
stored file and a file for every row.

Examples per form are few, so that the suite stays quick; every run draws new ones (no example
database), and CURBSIDE_FUZZ_SCALE=10 multiplies them for a deeper run.
"""

from __future__ import annotations

import json
import os
import random
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import pytest
import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from forum.accounts.models import Role
from forum.cases.models import AgeBand, Post, Setting, Sex
from forum.digest.forms import WEEKDAYS, time_zone_choices
from forum.extensions import db, limiter
from forum.moderation.models import FlagReason, WatchAction
from forum.notifications.models import KIND_RULES
from forum.verification.states import STATES
from forum.verification.taxonomy import SPECIALTIES
from tests.conftest import FormClient
from tests.core.helpers import walked_routes
from tests.security.conftest import World, inconsistencies, row_counts, stored_files
from tests.verification.member_helpers import WIEBE

# CURBSIDE_FUZZ_SCALE=10 sends ten times as many examples, for a deeper run than CI's.
SCALE = float(os.environ.get("CURBSIDE_FUZZ_SCALE", "1"))


def scaled(examples: int) -> int:
    return max(1, round(examples * SCALE))


# --- Values ------------------------------------------------------------------------------------

MISSING = "\x00missing\x00"  # the field is left out of the request
NOT_UTF8 = "\x00not-utf-8\x00"  # the field's bytes are not UTF-8 at all

ANY_CHARACTER = st.characters(exclude_categories=["Cs"])  # surrogates cannot be sent
ODD_TEXT = [
    "",
    " ",
    "\t\r\n",
    "\x00",
    "before\x00after",
    "\u202eevil\u202c right-to-left \u200f\u061c",
    "\u200b\u200c\u200d\ufeff",
    "😀🧑🏽‍⚕️🇺🇸" * 3,
    "e\u0301" * 60,
    "Z\u0334\u0321\u031b\u0353a\u0337l\u0336g\u0335o",
    "<script>alert(1)</script>",
    "' OR 1=1; DROP TABLE post; --",
    "%s %n {0} {{7*7}} ${7*7}",
    "../../../etc/passwd",
    "\x1b[31mred\x1b[0m\x07\x08",
    "١٢٣٤",
    "\U0001d7d7\U0001d7d0",  # mathematical bold 9 and 2
    "-1",
    "0",
    "99999999999999999999999999",
    "1e309",
    "NaN",
    "null",
    "on",
    " 7 ",
    "0x1F",
]
HUGE = st.builds(
    lambda unit, times: unit * times,
    st.sampled_from(["x", "é", "😀", "\u202e", "\x00", "a b ", "\n", "<b>"]),
    # Just past the limits the forms set (40, 80, 254, 500, 2,000, 5,000, 20,000), and far past.
    st.sampled_from([41, 81, 255, 501, 2_001, 5_001, 20_001, 100_000]),
)
# Query strings stay short of the 4 KB request line that gunicorn (and most proxies) accept.
LONG = st.builds(
    lambda unit, times: unit * times,
    st.sampled_from(["x", "é", "\u202e", "\x00", "a b "]),
    st.sampled_from([41, 201, 501, 1_001]),
)
RANDOM_TEXT = st.text(ANY_CHARACTER, max_size=120)


def wild(
    plausible: st.SearchStrategy[str], huge: st.SearchStrategy[str] = HUGE
) -> st.SearchStrategy[Any]:
    """A field's value: often plausible, otherwise anything, left out, or sent several times."""
    one = st.one_of(plausible, RANDOM_TEXT, st.sampled_from(ODD_TEXT), huge, st.just(NOT_UTF8))
    return st.one_of(plausible, one, st.just(MISSING), st.lists(one, min_size=2, max_size=3))


TEXT = st.text(ANY_CHARACTER, min_size=1, max_size=400)
LINE = st.text(ANY_CHARACTER, min_size=1, max_size=40)
BOOL = st.sampled_from(["y", "on", "1", "true", ""])
STATE = st.sampled_from(["on", "off"])
EMAIL = st.one_of(st.emails(), st.builds("{}@hospital.example".format, LINE))
PASSWORD = st.one_of(st.just("correct horse battery staple"), TEXT)
CODE = st.one_of(st.text(string.digits, min_size=6, max_size=6), LINE)


def choice(values: Any) -> st.SearchStrategy[str]:
    return st.sampled_from([str(value) for value in values])


def number(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(str)


CASE_FIELDS = {
    "title": LINE,
    "age_band": choice(AgeBand),
    "sex": choice(Sex),
    "setting": choice(Setting),
    "presenting": TEXT,
    "history": TEXT,
    "examination": TEXT,
    "management": TEXT,
    "question": TEXT,
    "tags": st.one_of(st.just("syncope, ecg"), LINE),
}
POLL_FIELDS = {
    "poll_question": LINE,
    "poll_option": LINE,
    "poll_closes": st.one_of(st.just("2099-01-31 18:00"), LINE),
    "poll_multiple": BOOL,
}
DISCUSSION_FIELDS = {"title": LINE, "body": TEXT, "tags": LINE}
CLAIM_FIELDS = {
    "npi": st.one_of(st.just(WIEBE), st.text(string.digits, min_size=10, max_size=10)),
    "first_name": st.one_of(st.just("David"), LINE),
    "last_name": st.one_of(st.just("Wiebe"), LINE),
    "practice_state": choice(code for code, _ in STATES),
    "licence_number": st.one_of(st.just("12637"), LINE),
    "licence_state": choice(code for code, _ in STATES),
    "specialty": choice(item.slug for item in SPECIALTIES),
    "documents": LINE,  # a file field sent as text
}


# --- Targets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One POST endpoint: who sends it, to which address, with which fields."""

    endpoint: str
    actor: str
    url: Callable[[World], str]
    fields: Mapping[str, st.SearchStrategy[str]] = field(default_factory=dict)
    fresh: bool = False  # the form ends the session or its second factor: a new one each time
    examples: int = 6

    @property
    def name(self) -> str:
        return f"{self.endpoint} as {self.actor}"


def _opening(world: World) -> int:
    case_id = world.case_id
    with world.app.app_context():
        return int(
            db.session.scalar(
                sa.select(Post.id).where(Post.thread_id == case_id, Post.is_opening.is_(True))
            )
            or 0
        )


ACCOUNT_TARGETS = [
    Target(
        "accounts.sign_in",
        "anonymous",
        lambda w: "/sign-in",
        {"email": EMAIL, "password": PASSWORD},
    ),
    Target(
        "accounts.sign_up",
        "anonymous",
        lambda w: "/sign-up",
        {
            "email": EMAIL,
            "display_name": LINE,
            "first_name": LINE,
            "last_name": LINE,
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
    ),
    Target("accounts.forgot_password", "anonymous", lambda w: "/password/forgot", {"email": EMAIL}),
    Target(
        "accounts.reset_password",
        "resetting",
        lambda w: "/password/reset",
        {"password": PASSWORD, "password_confirm": PASSWORD},
    ),
    Target("accounts.totp_verify", "password_only", lambda w: "/two-factor", {"code": CODE}),
    Target("accounts.totp_setup", "not_enrolled", lambda w: "/two-factor/setup", {"code": CODE}),
    Target(
        "accounts.resend_confirmation",
        "unconfirmed",
        lambda w: "/account/confirm-email/resend",
        examples=3,
    ),
    Target("accounts.sign_out", "password_only", lambda w: "/sign-out", fresh=True, examples=2),
    Target(
        "accounts.reauthenticate",
        "member",
        lambda w: "/account/reauthenticate",
        {"password": PASSWORD, "code": CODE},
    ),
    Target(
        "accounts.change_password",
        "reauthenticated",
        lambda w: "/account/password",
        {"password": PASSWORD, "password_confirm": PASSWORD},
    ),
    Target(
        "accounts.change_email", "reauthenticated", lambda w: "/account/email", {"email": EMAIL}
    ),
    Target(
        "accounts.recovery_codes",
        "reauthenticated",
        lambda w: "/account/recovery-codes",
        examples=3,
    ),
    Target(
        "accounts.totp_reset",
        "reauthenticated",
        lambda w: "/account/two-factor/reset",
        fresh=True,
        examples=2,
    ),
    Target(
        "accounts.sign_out_everywhere",
        "member",
        lambda w: "/account/sign-out-everywhere",
        fresh=True,
        examples=2,
    ),
    Target(
        "notifications.mark_read",
        "member",
        lambda w: f"/notifications/{w.notification_id}/read",
        {"page": number(-5, 10**20)},
    ),
    Target(
        "notifications.mark_all_read",
        "member",
        lambda w: "/notifications/read-all",
        {"page": number(-5, 10**20)},
        examples=3,
    ),
    Target(
        "notifications.preferences",
        "member",
        lambda w: "/settings/notifications",
        {str(kind): choice(rule.channels) for kind, rule in KIND_RULES.items()},
    ),
]

CASE_TARGETS = [
    Target(
        "cases.new_case",
        "admin",
        lambda w: "/c/cardiology/new-case",
        {**CASE_FIELDS, "anonymous": BOOL, **POLL_FIELDS},
        examples=10,
    ),
    Target(
        "cases.new_discussion",
        "admin",
        lambda w: "/c/cardiology/new-discussion",
        {**DISCUSSION_FIELDS, "anonymous": BOOL, **POLL_FIELDS},
        examples=10,
    ),
    Target(
        "cases.reply",
        "admin",
        lambda w: f"/t/{w.case_id}/reply",
        {"body": TEXT, "anonymous": BOOL, "quoted_post_id": number(-1, 10**15)},
        examples=10,
    ),
    Target("cases.edit", "admin", lambda w: f"/p/{_opening(w)}/edit", CASE_FIELDS),
    Target(
        "cases.edit", "admin", lambda w: f"/p/{w.reply('own', by='admin')}/edit", {"body": TEXT}
    ),
    Target(
        "cases.flag",
        "admin",
        lambda w: f"/p/{w.reply('flagged')}/flag",
        {"reason": choice(FlagReason), "note": TEXT},
    ),
    Target(
        "cases.reveal",
        "admin",
        lambda w: f"/p/{w.reply('masked', anonymous=True)}/reveal",
        {"reason": LINE},
    ),
    Target("cases.outcome", "admin", lambda w: f"/t/{w.case_id}/outcome", {"outcome": TEXT}),
    Target("cases.follow", "admin", lambda w: f"/t/{w.case_id}/follow", {"state": STATE}),
    Target("cases.helpful", "admin", lambda w: f"/p/{w.reply('liked')}/helpful", {"state": STATE}),
    Target(
        "cases.bookmark",
        "admin",
        lambda w: f"/p/{w.reply('kept')}/bookmark",
        {"state": STATE, "next": st.sampled_from(["/bookmarks", "//evil.example"])},
    ),
    Target("cases.accept", "admin", lambda w: f"/p/{w.reply('answer')}/accept", {"state": STATE}),
    Target("cases.delete", "admin", lambda w: f"/p/{w.reply('deleted')}/delete", examples=2),
    Target(
        "media.vote", "admin", lambda w: f"/polls/{w.poll_id}/vote", {"option": number(-1, 10**13)}
    ),
]

STAFF_TARGETS = [
    Target(
        "moderation.approve",
        "admin",
        lambda w: f"/moderation/items/{w.review_item('approve')}/approve",
        examples=2,
    ),
    Target(
        "moderation.edit_approve",
        "admin",
        lambda w: f"/moderation/items/{w.review_item('edit')}/edit",
        {"body": TEXT, "title": LINE},
    ),
    Target(
        "moderation.reject",
        "admin",
        lambda w: f"/moderation/items/{w.review_item('reject')}/reject",
        {"reason": LINE},
    ),
    Target(
        "moderation.allow_term",
        "admin",
        lambda w: f"/moderation/items/{w.review_item('allow')}/allow",
        {
            "field": st.sampled_from(["body", "title"]),
            "start": number(-5, 10**6),
            "end": number(-5, 10**6),
        },
    ),
    Target(
        "moderation.watched_words",
        "admin",
        lambda w: "/moderation/watched-words",
        {"pattern": LINE, "is_regex": BOOL, "action": choice(WatchAction)},
    ),
    Target(
        "moderation.try_pattern",
        "admin",
        lambda w: "/moderation/watched-words/try",
        {"pattern": LINE, "is_regex": BOOL, "sample": TEXT},
    ),
    Target(
        "moderation.delete_watched_word",
        "admin",
        lambda w: f"/moderation/watched-words/{w.watched_word_id}/delete",
        examples=2,
    ),
    Target(
        "moderation.delete_allowed_term",
        "admin",
        lambda w: f"/moderation/allowed-terms/{w.allowed_term_id}/delete",
        examples=2,
    ),
    Target(
        "moderation.lock",
        "admin",
        lambda w: f"/moderation/threads/{w.thread('locked')}/lock",
        {"reason": LINE},
    ),
    Target(
        "moderation.unlock",
        "admin",
        lambda w: f"/moderation/threads/{w.thread('locked')}/unlock",
        examples=2,
    ),
    Target(
        "moderation.move",
        "admin",
        lambda w: f"/moderation/threads/{w.thread('moved')}/move",
        {"community": number(-1, 10**12)},
    ),
    Target(
        "moderation.hide",
        "admin",
        lambda w: f"/moderation/posts/{w.reply('hidden')}/hide",
        {"reason": LINE},
    ),
    Target(
        "moderation.restore",
        "admin",
        lambda w: f"/moderation/posts/{w.reply('hidden')}/restore",
        examples=2,
    ),
    Target(
        "moderation.member",
        "admin",
        lambda w: f"/moderation/members/{w.target.id}",
        {"days": number(-10, 10**12), "reason": LINE},
    ),
    Target(
        "moderation.unsuspend",
        "admin",
        lambda w: f"/moderation/members/{w.target.id}/unsuspend",
        examples=2,
    ),
    Target(
        "admin.set_roles",
        "admin",
        lambda w: f"/admin/members/{w.target.id}/roles",
        {role.value: BOOL for role in Role},
    ),
    Target(
        "admin.suspend",
        "admin",
        lambda w: f"/admin/members/{w.target.id}/suspend",
        {"reason": TEXT},
    ),
    Target(
        "admin.unsuspend", "admin", lambda w: f"/admin/members/{w.target.id}/unsuspend", examples=2
    ),
    Target(
        "admin.reset_two_factor",
        "admin",
        lambda w: f"/admin/members/{w.target.id}/reset-two-factor",
        examples=2,
    ),
    Target(
        "review.decide",
        "admin",
        lambda w: f"/verification/queue/{w.claim('reviewed')}/decision",
        {"decision": st.sampled_from(["approve", "reject", "more_info"]), "reason": TEXT},
    ),
    Target(
        "verification.hospital_domains",
        "admin",
        lambda w: "/verification/hospital-domains",
        {"domain": st.one_of(st.just("clinic.example"), LINE), "organisation": LINE},
    ),
    Target(
        "verification.remove_hospital_domain",
        "admin",
        lambda w: f"/verification/hospital-domains/{w.hospital_domain_id}/remove",
        examples=2,
    ),
]

MEMBER_TARGETS = [
    Target("verification.claim", "newcomer", lambda w: "/verification/claim", CLAIM_FIELDS),
    Target(
        "verification.upload_document",
        "claimant",
        lambda w: f"/verification/claim/{w.claim('claimant')}/documents",
        {"document": LINE},
    ),
    Target(
        "verification.answer",
        "asked",
        lambda w: f"/verification/claim/{w.claim('asked')}/answer",
        {"answer": TEXT, "documents": LINE},
    ),
    Target(
        "digest.settings",
        "admin",
        lambda w: "/settings/digest",
        {
            "subscribed": BOOL,
            "weekday": number(0, len(WEEKDAYS) - 1),
            "hour": number(0, 23),
            "time_zone": st.sampled_from([str(c.value) for c in time_zone_choices()]),
        },
    ),
    Target(
        "digest.unsubscribe",
        "anonymous",
        lambda w: w.unsubscribe_path(),
        {"List-Unsubscribe": st.sampled_from(["One-Click", "one-click", "Two-Click"])},
        examples=3,
    ),
]

# Endpoints fuzzed elsewhere: the PHI check takes JSON (below); every one is named here.
JSON_ENDPOINTS = {"phi.check"}
GROUPS = {
    "accounts and notifications": ACCOUNT_TARGETS,
    "cases": CASE_TARGETS,
    "moderation, administration and review": STAFF_TARGETS,
    "verification and the digest": MEMBER_TARGETS,
}


# --- Sending and judging -----------------------------------------------------------------------

POST_ANSWERS = {200, 302, 303, 400, 403, 404, 409, 413, 422}
# Refused sign-ins, codes and the like are recorded on purpose: an audit row is no half-write.
WRITTEN_ON_REFUSAL = {"audit_event"}
MESSAGE_MARKS = ('role="alert"', 'class="field-errors"', "flash--error", 'class="notice"')


def encode(token: str, fields: Mapping[str, Any]) -> bytes:
    """A urlencoded body, fields in order, repeated fields repeated, NOT_UTF8 as raw bytes."""
    parts = [f"csrf_token={quote_plus(token)}"]
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            if item == MISSING:
                continue
            encoded = "%ED%A0%80%FF%C3%28" if item == NOT_UTF8 else quote_plus(item)
            parts.append(f"{quote_plus(name)}={encoded}")
    return "&".join(parts).encode("ascii")


def judge(
    app: Flask, where: str, response: TestResponse, before: dict[str, int], files_before: list[Any]
) -> None:
    """Below 500; a refusal wrote nothing; a form sent back says why."""
    status = response.status_code
    assert status < 500, where
    assert status in POST_ANSWERS, f"{where}: unexpected {status}"
    if status >= 400:
        with app.app_context():
            after = row_counts()
        changed = {
            t: (before[t], after[t])
            for t in before
            if before[t] != after[t] and t not in WRITTEN_ON_REFUSAL
        }
        assert changed == {}, f"{where}: refused with {status} yet rows changed: {changed}"
        assert stored_files(app) == files_before, f"{where}: refused yet files changed"
    if status == 422:
        page = response.get_data(as_text=True)
        assert any(mark in page for mark in MESSAGE_MARKS), f"{where}: 422 without a message"


def fuzz(world: World, target: Target) -> None:
    """Send the target's form under Hypothesis; one world for all, then check it holds together."""
    app = world.app
    url = target.url(world)
    extra = st.dictionaries(
        st.text(ANY_CHARACTER, min_size=1, max_size=12), RANDOM_TEXT, max_size=2
    )
    fields = st.fixed_dictionaries({name: wild(value) for name, value in target.fields.items()})

    @settings(
        max_examples=scaled(target.examples),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(fields=fields, extra=extra)
    def attempt(fields: dict[str, Any], extra: dict[str, str]) -> None:
        client = world.fresh(target.actor) if target.fresh else world.client(target.actor)
        limiter.reset()  # fixed limits (claims, uploads) would stop the run, not the input
        # Hypothesis seeds `random` the same for every example; Whoosh names its segments with
        # it, and a name used twice breaks the index writer. The site's randomness is no input.
        random.seed()
        sent = {**{k: v for k, v in extra.items() if k != "csrf_token"}, **fields}
        with app.app_context():
            before = row_counts()
        files_before = stored_files(app)
        response = client.post(
            url,
            data=encode(client.csrf_token(), sent),
            content_type="application/x-www-form-urlencoded",
            csrf=False,
        )
        response.close()
        judge(app, f"{target.name} at {url} with {sent!r:.300}", response, before, files_before)

    attempt()
    assert inconsistencies(app) == [], target.name


@pytest.mark.parametrize("group", list(GROUPS))
def test_every_form_answers_random_input_without_a_server_error_or_a_half_write(
    world: World, group: str
) -> None:
    for target in GROUPS[group]:
        fuzz(world, target)


def test_every_post_endpoint_has_a_fuzz_target(app: Flask) -> None:
    posting = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if "POST" in (rule.methods or ()) and rule.endpoint != "static"
    }
    fuzzed = {target.endpoint for targets in GROUPS.values() for target in targets}
    assert posting - fuzzed - JSON_ENDPOINTS == set()
    assert fuzzed | JSON_ENDPOINTS <= posting


# --- The as-you-type PHI check (JSON) ----------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | RANDOM_TEXT | HUGE,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(RANDOM_TEXT, inner, max_size=3),
    max_leaves=8,
)


def test_the_phi_check_answers_any_json_without_a_server_error(world: World) -> None:
    client = world.client("admin")
    token = client.csrf_token()
    bodies = st.one_of(
        st.builds(lambda f: {"fields": f}, st.dictionaries(RANDOM_TEXT, JSON_VALUES, max_size=4)),
        JSON_VALUES,
    )

    @settings(
        max_examples=scaled(20),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=bodies, raw=st.booleans())
    def attempt(body: Any, raw: bool) -> None:
        limiter.reset()  # the check allows 60 a minute
        data = json.dumps(body).encode() if not raw else json.dumps(body).encode()[:-1] + b"\xff"
        response = client.post(
            "/phi/check",
            data=data,
            content_type="application/json",
            headers={"X-CSRFToken": token},
            csrf=False,
        )
        assert response.status_code in {200, 400, 413, 415, 422}, (body, response.status_code)

    attempt()


# --- The search page and every page's query string ---------------------------------------------

SEARCH_PARAMS = {
    "q": st.one_of(
        st.sampled_from(["syncope", "echo OR ecg", '"heart failure"', "-x", "ab*"]), RANDOM_TEXT
    ),
    "community": st.sampled_from(["cardiology", "astrology", ""]),
    "author": st.sampled_from(["Dr Admin", "Dr Nobody", ""]),
    "tag": st.sampled_from(["syncope", "#ecg", ""]),
    "kind": st.sampled_from(["case", "discussion", "poll", ""]),
    "age_band": choice(AgeBand),
    "status": st.sampled_from(["open", "solved", ""]),
    "has_poll": BOOL,
    "has_images": BOOL,
    "since": st.one_of(st.dates().map(str), LINE),
    "until": st.one_of(st.dates().map(str), LINE),
    "sort": st.sampled_from(["newest", "relevance", ""]),
    "page": number(-3, 10**20),
}


def query_string(params: Mapping[str, Any]) -> str:
    parts = []
    for name, value in params.items():
        for item in value if isinstance(value, list) else [value]:
            if item == MISSING:
                continue
            encoded = "%ED%A0%80%FF" if item == NOT_UTF8 else quote_plus(item)
            parts.append(f"{quote_plus(name)}={encoded}")
    return "&".join(parts)


def test_the_search_page_answers_any_query_and_filters(world: World) -> None:
    client = world.client("admin")
    world.case_id  # noqa: B018 - something to find

    @settings(
        max_examples=scaled(30),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(params=st.fixed_dictionaries({k: wild(v, LONG) for k, v in SEARCH_PARAMS.items()}))
    def attempt(params: dict[str, Any]) -> None:
        response = client.get("/search?" + query_string(params))
        assert response.status_code == 200, (params, response.status_code)
        assert "Search" in response.get_data(as_text=True)

    attempt()


COMMON_PARAMS = [
    "page",
    "before",
    "q",
    "quote",
    "next",
    "asked_page",
    "action",
    "actor",
    "target",
    "ip",
    "since",
    "until",
    "sort",
]


def test_every_page_answers_any_query_string(world: World) -> None:
    client = world.client("admin")
    world.case_id  # noqa: B018 - the dummy id 1 is the admin, the case and its opening post
    pages = [url for _, method, url in walked_routes(world.app) if method == "GET"]
    params = st.dictionaries(
        st.one_of(st.sampled_from(COMMON_PARAMS), st.text(ANY_CHARACTER, min_size=1, max_size=8)),
        wild(st.one_of(number(-5, 10**20), LINE), LONG),
        max_size=4,
    )
    for url in pages:
        _fuzz_query(client, url, params)


def _fuzz_query(client: FormClient, url: str, params: st.SearchStrategy[dict[str, Any]]) -> None:
    @settings(
        max_examples=scaled(2),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(params=params)
    def attempt(params: dict[str, Any]) -> None:
        response = client.get(f"{url}?{query_string(params)}")
        response.close()
        assert response.status_code in {200, 302, 400, 404}, (url, params, response.status_code)

    attempt()


# --- What the fuzz found, pinned down ----------------------------------------------------------


def test_nul_characters_never_reach_the_database(world: World) -> None:
    """PostgreSQL refuses NUL in text: forms, queries and paths used to fail there with a 500."""
    client = world.client("admin")
    reply = client.post(f"/t/{world.case_id}/reply", data={"body": "Consider\x00 an echo."})
    assert reply.status_code == 302
    with world.app.app_context():
        newest = db.session.scalars(sa.select(Post).order_by(Post.id.desc())).first()
        assert newest is not None
        assert newest.source == "Consider an echo."

    anonymous = world.client("anonymous")
    refused = anonymous.post("/sign-in", data={"email": "a\x00@b.example", "password": "x" * 12})
    assert refused.status_code == 422
    for url in ("/admin/?q=a%00b", "/admin/audit?actor=%00&target=x%00", "/search?q=a&author=%00"):
        assert client.get(url).status_code == 200, url
    for url in ("/c/%00", "/c/card%00iology/new-case", "/confirm/%00", "/t/1%00"):
        assert client.get(url).status_code == 404, url


def test_a_form_sent_from_an_old_page_says_why_it_was_refused(world: World) -> None:
    """Once the member, claim or item moved on, the page that comes back has no form to show
    the error beside; it says what happened instead."""
    admin = world.client("admin")
    target_id = world.target.id
    suspended = admin.post(f"/admin/members/{target_id}/suspend", data={"reason": "Spam, twice."})
    assert suspended.status_code == 302
    again = admin.post(
        f"/admin/members/{target_id}/suspend", data={"reason": ""}, follow_redirects=True
    )
    assert "This member is already suspended." in again.get_data(as_text=True)

    claim_id = world.claim("reviewed")
    url = f"/verification/queue/{claim_id}/decision"
    assert admin.post(url, data={"decision": "reject", "reason": "Not you."}).status_code == 302
    late = admin.post(url, data={"decision": "", "reason": ""}, follow_redirects=True)
    assert "This claim was already decided; nothing was changed." in late.get_data(as_text=True)

    member = world.client("claimant")
    answer = member.post(
        f"/verification/claim/{world.claim('claimant')}/answer", data={"answer": ""}
    )
    assert answer.status_code == 422
    assert "This claim is not waiting for an answer from you." in answer.get_data(as_text=True)

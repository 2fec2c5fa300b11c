"""Search in a real browser: a member searches a phrase with a filter, sees the highlighted
snippet, and lands on the post in its thread."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from forum.cases.communities import ensure_communities
from tests.e2e.test_cases_journey import physician, submit, thread_id_of
from tests.e2e.test_verification_journey import sign_in

pytestmark = pytest.mark.e2e

REPLY = "Think of cardiac amyloidosis when the voltage is low and the wall is thick."


def test_a_member_searches_a_phrase_in_a_community_and_lands_on_the_post(
    app: Flask, open_page: Callable[..., Page]
) -> None:
    with app.app_context():
        ensure_communities()
    author = physician(app, "Dr Ada Okafor", "cardiology")
    reader = physician(app, "Dr Chen Li", "neurology")

    page = open_page()
    sign_in(page, author, "/c/cardiology/new-discussion")
    page.get_by_label("Title").fill("Low voltage with thick walls")
    page.get_by_label("Your message").fill("What should we rule out first?")
    submit(page, page.get_by_role("button", name="Post the discussion"))
    thread_id = thread_id_of(page)
    page.get_by_label("Your reply").fill(REPLY)
    submit(page, page.get_by_role("button", name="Post the reply"))

    theirs = open_page()
    sign_in(theirs, reader, "/")
    theirs.get_by_role("link", name="Search").click()
    theirs.get_by_label("Search for").fill('"cardiac amyloidosis"')
    theirs.get_by_text("Filters").click()
    theirs.get_by_label("Community").select_option(label="Cardiology")
    submit(theirs, theirs.get_by_role("button", name="Search"))

    expect(theirs.get_by_role("heading", name="1 result")).to_be_visible()
    result = theirs.locator(".search-result")
    expect(result.locator("mark")).to_have_text(["cardiac", "amyloidosis"])
    expect(result).to_contain_text("Reply by Dr Ada Okafor in Cardiology")
    submit(theirs, result.get_by_role("link", name="Low voltage with thick walls"))
    expect(theirs).to_have_url(re.compile(rf"/t/{thread_id}#p\d+$"))
    anchor = theirs.url.rsplit("#", 1)[1]
    expect(theirs.locator(f"#{anchor}")).to_contain_text(REPLY)

    # The same phrase in another community finds nothing.
    theirs.goto(theirs.url.split("/t/")[0] + '/search?q="cardiac+amyloidosis"&community=neurology')
    expect(theirs.get_by_role("heading", name="0 results")).to_be_visible()

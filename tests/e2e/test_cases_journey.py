"""A case from start to finish in a real browser: posted with a poll and an image, held for a
moderator and approved from the review queue, answered anonymously, voted on, marked helpful,
solved and given its outcome; what each member sees is checked along the way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from PIL import Image
from playwright.sync_api import Locator, Page, expect

from forum.accounts.models import Role, User
from forum.cases.communities import ensure_communities
from forum.cases.models import Post
from forum.extensions import db
from tests.conftest import Mailbox
from tests.e2e.conftest import LiveServer
from tests.e2e.test_verification_journey import sign_in
from tests.factories import Member, make_user

pytestmark = pytest.mark.e2e

AUTHOR = "Dr Ada Okafor"
COLLEAGUE = "Dr Ben Ruiz"  # replies anonymously: this name must never reach another member
OBSERVER = "Dr Chen Li"
TITLE = "Exertional syncope with a soft murmur"
ALIAS = "Anonymous emergency physician 1"
REPLY = (
    "An echocardiogram first: a soft murmur with exertional syncope is aortic stenosis "
    "until shown otherwise."
)
OWN_REPLY = "Agree that an echo comes first; keep exercise testing off the table until then."
VOTERS = re.compile(r"\d+ members? voted")  # the results line, shown only after voting
OUTCOME = "The echo on day 4 showed severe aortic stenosis; valve replacement went well."


def physician(
    app: Flask, display_name: str, specialty: str, roles: tuple[Role, ...] = ()
) -> Member:
    """A verified member whose verified specialty picks their home community."""
    with app.app_context():
        member = make_user(display_name=display_name, verified=True, roles=roles)
        user = db.session.get(User, member.id)
        assert user is not None
        user.specialty = specialty
        db.session.commit()
    return member


def post_of(page: Page, author_label: str) -> Locator:
    """The post on the thread page whose author is shown with this label."""
    return page.locator("article.post").filter(
        has=page.locator(".post__author", has_text=re.compile(f"^{re.escape(author_label)}$"))
    )


def status(page: Page) -> Locator:
    return page.get_by_role("status")


def submit(page: Page, button: Locator) -> None:
    with page.expect_navigation():
        button.click()


def present_the_case(page: Page, scan: Path) -> None:
    """The new-case form, filled by its labels: the case, a poll and an image."""
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Age band").select_option(label="60s")
    page.get_by_label("Sex", exact=True).select_option(label="Female")
    page.get_by_label("Setting").select_option(label="Outpatient")
    page.get_by_label("Presenting problem").fill("Two faints while climbing stairs, none at rest.")
    page.get_by_label("History", exact=True).fill("Day 3: a further near-faint on exertion.")
    page.get_by_label("Examination and investigations").fill(
        "Soft ejection systolic murmur at the right upper sternal edge; ECG shows LVH."
    )
    page.get_by_label("Current management").fill("Advised to avoid exertion pending tests.")
    page.get_by_label("The question for colleagues").fill("Echo first, or exercise testing?")
    page.get_by_label("Tags (optional)").fill("syncope, murmur")
    page.get_by_label("Question", exact=True).fill("Which test would you order first?")
    page.get_by_label("Option 1", exact=True).fill("Echocardiogram")
    page.get_by_label("Option 2", exact=True).fill("Exercise test")
    page.get_by_label("Option 3", exact=True).fill("Holter monitor")
    page.get_by_label("Images (optional, up to 4)").set_input_files(scan)
    submit(page, page.get_by_role("button", name="Post the case"))


def thread_id_of(page: Page) -> int:
    found = re.search(r"/t/(\d+)", page.url)
    assert found, page.url
    return int(found.group(1))


def image_answer(page: Page, within: Locator | None = None) -> tuple[int, str]:
    """What the case's image URL answers this browser's session."""
    source = (within or page).locator(".post-images img").first.get_attribute("src")
    assert source
    answer = page.request.get(source)
    return answer.status, answer.headers.get("content-type", "")


@pytest.fixture
def scan(tmp_path: Path) -> Path:
    """A small PNG, as a member would attach an ECG strip."""
    path = tmp_path / "ecg-strip.png"
    Image.new("RGB", (48, 32), (240, 240, 235)).save(path, format="PNG")
    return path


def test_a_case_with_a_poll_and_an_image_is_answered_solved_and_closed_with_its_outcome(
    app: Flask,
    open_page: Callable[..., Page],
    live_server: LiveServer,
    mailbox: Mailbox,
    scan: Path,
) -> None:
    with app.app_context():
        ensure_communities()
    author = physician(app, AUTHOR, "cardiology")
    colleague = physician(app, COLLEAGUE, "emergency-medicine")
    observer = physician(app, OBSERVER, "cardiology")
    moderator = physician(app, "Dr Moderator", "cardiology", roles=(Role.MODERATOR,))

    # The author presents the case from their feed; the image holds it for a moderator.
    mine = open_page()
    sign_in(mine, author, "/")
    expect(mine.get_by_role("heading", name="Your feed")).to_be_visible()
    mine.get_by_role("link", name="Present a case").click()
    expect(mine.get_by_role("heading", name="Present a case")).to_be_visible()
    present_the_case(mine, scan)
    expect(status(mine)).to_contain_text("waiting for a moderator")
    thread_id = thread_id_of(mine)
    expect(mine.get_by_role("heading", name=TITLE)).to_be_visible()
    expect(mine.get_by_role("main")).to_contain_text("waiting for a moderator's review")
    expect(mine.locator(".post-images")).to_contain_text("Waiting for moderator review")
    assert image_answer(mine) == (200, "image/png")
    image_url = mine.locator(".post-images img").first.get_attribute("src")
    assert image_url
    expect(mine.get_by_role("region", name=re.compile("^Poll:"))).to_contain_text(
        "Which test would you order first?"
    )

    # Nobody else sees it yet: not in the community, not at its address, nor its image.
    theirs = open_page()
    sign_in(theirs, colleague, "/c/cardiology")
    expect(theirs.get_by_role("heading", name="Cardiology")).to_be_visible()
    expect(theirs.get_by_role("main")).not_to_contain_text(TITLE)
    assert theirs.request.get(f"/t/{thread_id}").status == 404
    assert theirs.request.get(image_url).status == 404

    # The moderator finds the case in the review queue, held for its image, and approves it.
    desk = open_page()
    sign_in(desk, moderator, "/")
    desk.get_by_role("navigation", name="Main").get_by_role(
        "link", name=re.compile("^Review queue")
    ).click()
    expect(desk.get_by_role("heading", name="Review queue")).to_be_visible()
    item = desk.get_by_role("article", name=f"Opening of “{TITLE}”")
    expect(item).to_contain_text("Image")
    assert image_answer(desk, item) == (200, "image/png")
    submit(desk, item.get_by_role("button", name="Approve"))
    expect(status(desk)).to_contain_text("Approved and published")
    expect(desk.get_by_role("main")).to_contain_text("Nothing is waiting.")
    (told,) = mailbox.to(author.email)
    assert told["Subject"] == "Your post is published"

    # The colleague finds it, sees the image and the ballot (no results before voting), votes.
    theirs.reload()
    theirs.get_by_role("link", name=TITLE).click()
    expect(theirs).to_have_url(live_server(f"/t/{thread_id}"))
    expect(theirs.get_by_role("heading", name=TITLE)).to_be_visible()
    expect(theirs.get_by_role("main")).not_to_contain_text("waiting for a moderator")
    assert image_answer(theirs) == (200, "image/png")
    poll = theirs.get_by_role("region", name=re.compile("^Poll:"))
    expect(poll).not_to_contain_text(VOTERS)
    expect(poll.locator("meter")).to_have_count(0)
    poll.get_by_label("Echocardiogram").check()
    submit(theirs, poll.get_by_role("button", name="Vote"))
    expect(status(theirs)).to_contain_text("Your vote is counted")
    poll = theirs.get_by_role("region", name=re.compile("^Poll:"))
    expect(poll).to_contain_text("100% · 1 vote")
    expect(poll).to_contain_text("1 member voted. You voted.")
    expect(poll.get_by_role("button", name="Vote")).to_have_count(0)

    # A third member replies under their own name; they have not voted, so no results for them.
    third = open_page()
    sign_in(third, observer, f"/t/{thread_id}")
    expect(third.get_by_role("region", name=re.compile("^Poll:"))).not_to_contain_text(VOTERS)
    third.get_by_label("Your reply").fill(OWN_REPLY)
    submit(third, third.get_by_role("button", name="Post the reply"))
    expect(post_of(third, OBSERVER)).to_contain_text(OWN_REPLY)

    # The colleague replies anonymously and marks the third member's reply helpful.
    theirs.reload()
    theirs.get_by_label("Your reply").fill(REPLY)
    theirs.get_by_label("Post this reply anonymously").check()
    submit(theirs, theirs.get_by_role("button", name="Post the reply"))
    expect(post_of(theirs, ALIAS)).to_contain_text("aortic stenosis until shown otherwise")
    assert COLLEAGUE not in post_of(theirs, ALIAS).inner_html()
    helpful = post_of(theirs, OBSERVER)
    submit(theirs, helpful.get_by_role("button", name="Helpful", exact=True))
    expect(status(theirs)).to_contain_text("Marked as helpful.")
    expect(post_of(theirs, OBSERVER)).to_contain_text("1 found this helpful")
    expect(
        post_of(theirs, OBSERVER).get_by_role("button", name="Remove helpful mark")
    ).to_be_visible()

    # The author sees the alias, never the name, and accepts the anonymous reply.
    mine.reload()
    expect(mine.locator(".status")).to_have_text("Answered")
    answer = post_of(mine, ALIAS)
    expect(answer).to_contain_text("aortic stenosis until shown otherwise")
    assert COLLEAGUE not in mine.content()
    submit(mine, answer.get_by_role("button", name="Accept as the answer"))
    expect(status(mine)).to_contain_text("Answer accepted: the case is solved.")
    expect(mine.locator(".status")).to_have_text("Solved")
    expect(post_of(mine, ALIAS)).to_contain_text("Accepted answer")

    # ... and adds the outcome.
    mine.get_by_role("link", name="Add the outcome: how did the patient do?").click()
    expect(mine.get_by_role("heading", name="How did the patient do?")).to_be_visible()
    mine.get_by_label("Outcome").fill(OUTCOME)
    submit(mine, mine.get_by_role("button", name="Save the outcome"))
    expect(status(mine)).to_contain_text("The outcome is saved.")
    expect(mine.get_by_role("region", name="Outcome")).to_contain_text(OUTCOME)

    # What the others see now: solved, the accepted answer under its alias, the outcome.
    for page in (third, theirs):
        page.reload()
        expect(page.locator(".status")).to_have_text("Solved")
        expect(page.get_by_role("main")).to_contain_text("read the accepted answer")
        expect(post_of(page, ALIAS)).to_contain_text("Accepted answer")
        expect(page.get_by_role("region", name="Outcome")).to_contain_text(OUTCOME)
    assert COLLEAGUE not in third.content()
    expect(third.get_by_role("region", name=re.compile("^Poll:"))).not_to_contain_text(VOTERS)
    expect(post_of(third, OBSERVER)).to_contain_text("1 found this helpful")

    # The community lists it as solved, labelled by its author's own name (not anonymous).
    third.goto("/c/cardiology")
    row = third.get_by_role("listitem").filter(has=third.get_by_role("link", name=TITLE))
    expect(row).to_contain_text("Solved")
    expect(row).to_contain_text(AUTHOR)
    expect(row).to_contain_text("2 replies")
    assert COLLEAGUE not in third.content()

    with app.app_context():
        replies = db.session.scalars(
            sa.select(Post).where(Post.thread_id == thread_id, Post.is_opening.is_(False))
        ).all()
        anonymous = [reply for reply in replies if reply.anonymous]
        assert [reply.author_id for reply in anonymous] == [colleague.id]  # stored, never shown

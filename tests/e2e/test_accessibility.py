"""Accessibility in a real browser: the main pages pass axe-core, and the forms work by keyboard.

axe-core comes from the npm registry at the exact version in tests/e2e/axe/package-lock.json
(`make test` installs it; by hand: `npm ci --prefix tests/e2e/axe`) and is injected from disk, so
nothing is fetched while the tests run. Each page is checked against WCAG 2.0 and 2.1 A and AA and
axe's best practices, in the state a member meets it: with content, with errors, with findings.
The page contexts bypass the site's Content-Security-Policy, which would otherwise refuse the
injected script; nothing else differs. The pages are checked on SQLite only (their markup does not
depend on the engine); the keyboard journey runs on both.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Locator, Page, expect

from forum.accounts.models import Role
from forum.cases import polls, services
from forum.cases.communities import community_by_slug, ensure_communities
from forum.moderation.services import flag_post
from forum.search import service as search
from tests.cases.conftest import Kit
from tests.e2e.conftest import Watch
from tests.e2e.test_cases_journey import status, submit
from tests.e2e.test_verification_journey import sign_in
from tests.factories import Member, code_at
from tests.verification.test_review import add_claim, add_document, add_registry, png_bytes

pytestmark = pytest.mark.e2e

PACKAGE = Path(__file__).parent / "axe"
AXE = PACKAGE / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
BLOCKING = ("critical", "serious")

TITLE = "Exertional syncope with a soft murmur"
PHONE = "415-555-0132"
HELD = "Saw Shravyo today about the biopsy results; she is keen on a DEXA scan."
REPLY = "An echocardiogram first: aortic stenosis until shown otherwise."


# --- axe ----------------------------------------------------------------------------------------


@dataclass
class Audit:
    """What axe found on each page checked, by page name."""

    violations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def check(self, page: Page, name: str) -> None:
        """Run axe on the page as it is now."""
        page.add_script_tag(path=AXE)
        results = page.evaluate(
            """tags => axe.run(document, {
                runOnly: {type: "tag", values: tags},
                resultTypes: ["violations"],
            })""",
            TAGS,
        )
        self.violations[name] = results["violations"]

    def serious(self) -> list[str]:
        """Every serious or critical violation, one line per rule and page, with its nodes."""
        return [
            f"{name}: [{violation['impact']}] {violation['id']}: {violation['help']} "
            f"at {', '.join(' '.join(node['target']) for node in violation['nodes'])}"
            for name, found in self.violations.items()
            for violation in found
            if violation["impact"] in BLOCKING
        ]


@pytest.fixture
def audit() -> Audit:
    assert AXE.is_file(), f"{AXE} is missing: `make test` installs it (npm ci --prefix {PACKAGE})"
    return Audit()


# --- Content ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Forum:
    """The members and content the pages are checked with."""

    author: Member
    colleague: Member
    moderator: Member
    verifier: Member
    thread_id: int
    reply_id: int
    claim_id: int


def populate(app: Flask) -> Forum:
    """A case with a poll, replies (one anonymous, one held), a flag and a verification claim."""
    with app.app_context():
        ensure_communities()
    kit = Kit(app)
    author = kit.member("cardiology", display_name="Dr Ada Okafor")
    colleague = kit.member("emergency-medicine", display_name="Dr Ben Ruiz")
    observer = kit.member("cardiology", display_name="Dr Chen Li")
    moderator = kit.member(display_name="Dr Mo Derator", roles=(Role.MODERATOR,))
    verifier = kit.member(display_name="Dr Vera Fier", roles=(Role.VERIFIER,))
    with kit.db():
        community = community_by_slug("cardiology")
        assert community is not None
        poll = polls.PollDraft(
            question="Which test would you order first?",
            options=("Echocardiogram", "Exercise test", "Holter monitor"),
            multiple=False,
            closes_at=None,
        )
        draft = services.CaseDraft(
            title=TITLE,
            age_band="60s",
            sex="female",
            setting="outpatient",
            sections={
                "presenting": "Two faints while climbing stairs, none at rest.",
                "history": "Day 3: a further near-faint on exertion.",
                "examination": "Soft ejection systolic murmur; ECG shows LVH.",
                "question": "Echo first, or exercise testing?",
            },
            tags="syncope, murmur",
        )
        thread_id = services.open_case(
            kit.user(author), community, draft, services.Extras(poll=poll)
        ).id
    reply_id = kit.reply(observer, thread_id, REPLY)
    kit.reply(colleague, thread_id, "Agreed; and check the gradient.", anonymous=True)
    kit.reply(colleague, thread_id, HELD)  # held for review: a possible name
    kit.discussion(observer, title="Anticoagulation after falls")
    with kit.db():
        flag_post(kit.user(colleague), kit.post(reply_id), "misinformation", "Not the gradient.")
        search.drain()
        add_registry()
        claimant = kit.member(None, display_name="Dr David Wiebe", verified=False)
        claim_id = add_claim(claimant)
    add_document(app, claim_id, png_bytes())
    return Forum(author, colleague, moderator, verifier, thread_id, reply_id, claim_id)


def signed_in(open_page: Callable[..., Page], member: Member, path: str) -> Page:
    page = open_page(bypass_csp=True)
    sign_in(page, member, path)
    return page


# --- The pages ----------------------------------------------------------------------------------


# The markup is the same on both engines (search snippets too: escaped text and <mark> from
# either backend), and axe takes most of a second a page, so the pages are checked on SQLite.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_main_pages_have_no_serious_or_critical_accessibility_violations(
    app: Flask, open_page: Callable[..., Page], watch: Watch, audit: Audit
) -> None:
    forum = populate(app)
    watch.allow_status(422)

    # The way in: joining (also with errors), the password step and the code step.
    page = open_page(bypass_csp=True)
    page.goto("/sign-up")
    audit.check(page, "sign-up")
    submit(page, page.get_by_role("button", name="Create account"))
    expect(page.get_by_role("heading", name="Please check the form")).to_be_visible()
    audit.check(page, "sign-up with errors")
    page.goto("/sign-in?next=/")
    audit.check(page, "sign-in")
    page.get_by_label("E-mail address").fill(forum.author.email)
    page.get_by_label("Password", exact=True).fill(forum.author.password)
    submit(page, page.get_by_role("button", name="Continue"))
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    audit.check(page, "two-factor")
    assert forum.author.totp_secret
    page.get_by_label("Code", exact=True).fill(code_at(forum.author.totp_secret))
    submit(page, page.get_by_role("button", name="Sign in"))

    # A member's pages.
    expect(page.get_by_role("heading", name="Your feed")).to_be_visible()
    audit.check(page, "feed")
    page.goto("/c/cardiology")
    audit.check(page, "community")
    page.goto(f"/t/{forum.thread_id}")
    expect(page.get_by_role("region", name=re.compile("^Poll:"))).to_be_visible()
    audit.check(page, "thread with a ballot")
    poll = page.get_by_role("region", name=re.compile("^Poll:"))
    poll.get_by_label("Echocardiogram").check()
    submit(page, poll.get_by_role("button", name="Vote"))
    expect(status(page)).to_contain_text("Your vote is counted")
    audit.check(page, "thread with poll results")
    page.goto("/c/cardiology/new-case")
    audit.check(page, "new case")
    submit(page, page.get_by_role("button", name="Post the case"))
    expect(page.locator(".field-errors").first).to_be_visible()
    audit.check(page, "new case with errors")
    page.get_by_label("Title").fill("Falls at home")
    page.get_by_label("Age band").select_option(label="70s")
    page.get_by_label("Sex", exact=True).select_option(label="Female")
    page.get_by_label("Setting").select_option(label="Outpatient")
    page.get_by_label("Presenting problem").fill(f"Her daughter asks us to call {PHONE}.")
    page.get_by_label("The question for colleagues").fill("What would you stop first?")
    submit(page, page.get_by_role("button", name="Post the case"))
    expect(page.locator(".phi-findings mark")).to_have_text(PHONE)
    audit.check(page, "new case blocked for PHI")
    page.goto("/c/cardiology/new-discussion")
    audit.check(page, "new discussion")
    page.goto("/search?q=echocardiogram")
    expect(page.locator(".search-result").first).to_be_visible()
    audit.check(page, "search results")
    page.goto("/notifications")
    audit.check(page, "notifications")

    theirs = signed_in(open_page, forum.colleague, f"/p/{forum.reply_id}/flag")
    audit.check(theirs, "flag")

    desk = signed_in(open_page, forum.moderator, "/moderation/queue")
    expect(desk.locator(".phi-text mark")).to_have_text("Shravyo")
    audit.check(desk, "review queue")

    verifier = signed_in(open_page, forum.verifier, "/verification/queue/")
    expect(verifier.get_by_role("main")).to_contain_text("Wiebe")
    audit.check(verifier, "verification queue")
    verifier.goto(f"/verification/queue/{forum.claim_id}")
    audit.check(verifier, "verification claim")

    serious = audit.serious()
    assert not serious, "axe found serious or critical violations:\n" + "\n".join(serious)


# --- By keyboard alone --------------------------------------------------------------------------

# Whether a sighted keyboard user can see where the focus is: the focused element shows a ring
# (site.css styles :focus-visible with an outline of 2px or more and a box shadow; unfocused,
# nothing has either) with at least 3:1 contrast against the background around it, and is on
# screen. Returns [the problem or null, whether the focus is on `target`].
FOCUS_CHECK = """target => [(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;  // past the last stop: the browser's own
  const label = el.getAttribute("aria-label") || el.textContent || el.name || el.id || "";
  const name = `<${el.tagName.toLowerCase()}> ${label.trim().replace(/\\s+/g, " ").slice(0, 40)}`;
  const rgb = text => (text.match(/rgba?\\([^)]*\\)/) || [""])[0].match(/[\\d.]+/g);
  const opaque = text => {
    const c = rgb(text);
    return c && (c.length < 4 || +c[3] > 0) ? c : null;
  };
  const luminance = c => c.slice(0, 3).map(v => v / 255)
    .map(v => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4))
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const contrast = (a, b) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  let around = null;
  for (let up = el.parentElement; up && !around; up = up.parentElement) {
    around = opaque(getComputedStyle(up).backgroundColor);
  }
  around = around || ["255", "255", "255"];
  const style = getComputedStyle(el);
  const rings = [];
  if (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2) {
    rings.push(opaque(style.outlineColor));
  }
  if (style.boxShadow !== "none") rings.push(opaque(style.boxShadow));
  const best = Math.max(0, ...rings.filter(Boolean).map(c => contrast(c, around)));
  if (best < 3) return `${name}: focus ring contrast ${best.toFixed(2)}:1 against rgb(${around})`;
  const box = el.getBoundingClientRect();
  if (!box.width || !box.height || box.right <= 0 || box.bottom <= 0
      || box.left >= innerWidth || box.top >= innerHeight) return `${name}: off screen`;
  return null;
})(), target === document.activeElement]"""


def press(page: Page, key: str, target: Locator | None = None) -> bool:
    """Press a key and check the focus, wherever it went, can be seen; is it on the target?"""
    page.keyboard.press(key)
    problem, reached = target.evaluate(FOCUS_CHECK) if target else page.evaluate(FOCUS_CHECK)
    assert problem is None, f"after {key} on {page.url}: {problem}"
    return bool(reached)


def tab_to(page: Page, target: Locator, limit: int = 150) -> None:
    """Tab forwards until the target has the focus; every stop on the way must show it."""
    for _ in range(limit):
        if press(page, "Tab", target):
            return
    raise AssertionError(f"{limit} presses of Tab never reached {target}")


def activate(page: Page, key: str = "Enter") -> None:
    """Press Enter or Space on what has the focus and wait for the page it leads to."""
    with page.expect_navigation():
        page.keyboard.press(key)


def choose(page: Page, label: str, typed: str, chosen: str) -> None:
    """Pick from a closed list by typing: it selects the first option starting so."""
    choice = page.get_by_label(label, exact=True)
    if not choice.evaluate("element => element === document.activeElement"):
        tab_to(page, choice)
    page.keyboard.type(typed)
    expect(choice.locator("option:checked")).to_have_text(chosen)


def test_a_member_signs_in_replies_and_presents_a_case_by_keyboard_alone(
    app: Flask, page: Page, watch: Watch
) -> None:
    forum = populate(app)
    watch.allow_status(422)  # the case form, answered with what is missing
    assert forum.author.totp_secret
    nav = page.get_by_role("navigation", name="Main")

    # Signing in: the header's link, the address and password, then the code (already focused).
    page.goto("/")
    tab_to(page, nav.get_by_role("link", name="Sign in"))
    activate(page)
    tab_to(page, page.get_by_label("E-mail address"))
    page.keyboard.type(forum.author.email)
    press(page, "Tab")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    page.keyboard.type(forum.author.password)
    tab_to(page, page.get_by_role("button", name="Continue"))
    activate(page)
    code = page.get_by_label("Code", exact=True)
    expect(code).to_be_focused()
    page.keyboard.type(code_at(forum.author.totp_secret))
    activate(page)
    expect(page.get_by_role("heading", name="Your feed")).to_be_visible()

    # A reply, anonymously: the skip link first, then on through the thread to its form.
    tab_to(page, page.get_by_role("link", name=TITLE))
    activate(page)
    expect(page.get_by_role("heading", name=TITLE)).to_be_visible()
    press(page, "Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("main")).to_be_focused()
    tab_to(page, page.get_by_label("Your reply"))
    page.keyboard.type("Keyboard only: I would also repeat the ECG.")
    press(page, "Tab")
    anonymous = page.get_by_label("Post this reply anonymously")
    expect(anonymous).to_be_focused()
    press(page, "Space")
    expect(anonymous).to_be_checked()
    tab_to(page, page.get_by_role("button", name="Post the reply"))
    activate(page, "Space")
    mine = page.locator("article.post").filter(has_text="Keyboard only: I would also repeat")
    expect(mine.locator(".post__author")).to_have_text(re.compile("^Anonymous cardiologist"))

    # A new case from the community page: text fields, choices by typing, the submit button.
    tab_to(page, page.get_by_role("main").get_by_role("link", name="Cardiology", exact=True))
    activate(page)
    tab_to(page, page.get_by_role("link", name="Present a case"))
    activate(page)
    tab_to(page, page.get_by_label("Title"))
    page.keyboard.type("Palpitations on a night shift")
    for label, typed, chosen in (("Age band", "3", "30s"), ("Sex", "m", "Male")):
        choose(page, label, typed, chosen)
    tab_to(page, page.get_by_label("Presenting problem"))
    page.keyboard.type("Palpitations after a run of night shifts; no syncope.")
    tab_to(page, page.get_by_label("The question for colleagues"))
    page.keyboard.type("Would you start a beta blocker?")
    tab_to(page, page.get_by_role("button", name="Post the case"))
    activate(page)

    # The setting was left out: the summary's link leads to the field, and the case goes.
    tab_to(page, page.get_by_role("link", name="Setting: Choose a setting."))
    page.keyboard.press("Enter")
    expect(page.get_by_label("Setting")).to_be_focused()
    choose(page, "Setting", "e", "Emergency")
    tab_to(page, page.get_by_role("button", name="Post the case"))
    activate(page)
    expect(page.get_by_role("heading", name="Palpitations on a night shift")).to_be_visible()
    expect(status(page)).to_contain_text("Your thread is published.")

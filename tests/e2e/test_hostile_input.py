"""Cross-site scripting payloads through every text field, rendered in a real browser.

Every payload in xss_payloads.txt goes into every field people type text into: titles, case
sections, outcomes, discussion bodies, poll questions and options, replies and their edits, tags,
flag notes, display names, image file names, search queries, the sign-up form, a verification
answer; and what staff write back (a moderator's redaction and reasons, a verifier's reasons).
Content goes in through the real write path (the service functions the forms call, PHI gate and
cooking included) or is typed into the real forms; each page that shows it is then rendered by
Chromium with the Content-Security-Policy bypassed, so that escaping alone is on trial. On every
page: no dialog and no console or page error (the `watch` fixture), `window.__xss` never set
(print() sets it too), no event-handler attribute, no script but the site's own, no frame,
object, style, SVG or MathML, no javascript:, data: or vbscript: URL; and each payload, named by
its marker (xss007), shown as text where its field is shown: exactly as typed for plain-text
fields, exactly what the sanitiser kept for Markdown.

A navigation costs Chromium ~50 ms of CPU beyond rendering, so pages that only show stored text
are fetched with the browser's own session and written into its document (Playwright's
set_content: document.open/write), which Chromium parses and runs just as it would a navigated
page; forms are filled and submitted by real navigations. Payloads share pages: posts share a
thread page, several payloads (each with its marker) share a title or a poll question, and all of
them share one form submission.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import FilePayload, Page

from forum import text
from forum.accounts.models import Role, User
from forum.cases import attachments, polls, services
from forum.cases.communities import community_by_slug, ensure_communities
from forum.cases.models import Community, Post, Thread
from forum.extensions import db
from forum.moderation import policy
from forum.moderation import services as moderation
from forum.moderation.models import FlagReason, ReviewItem, WatchAction
from forum.search import service as search_service
from forum.verification import review_services as review
from forum.verification import services as verification
from forum.verification.models import VerificationClaim
from tests.e2e.conftest import Watch
from tests.e2e.test_cases_journey import physician
from tests.e2e.test_verification_journey import sign_in
from tests.factories import Member, make_user

pytestmark = pytest.mark.e2e

PAYLOAD_FILE = Path(__file__).with_name("xss_payloads.txt")
Numbered = Sequence[tuple[int, str]]
WATCHED = "quarantine"  # a watched word that holds a post for the moderators
SEARCHED = "zebra"  # a word every post of a test carries, to list them all in search
_FOLDERS = re.compile(r"[/\\]")  # what divides folders in a file name
AUTHOR = "Dr Ada Okafor"
READER = "Colleague"  # a display name a post can mention without the gate taking it for a patient's


def load_payloads() -> list[str]:
    """The payloads, one a line; "#" lines are comments and the two characters \\n a line break."""
    lines = PAYLOAD_FILE.read_text(encoding="utf-8").splitlines()
    return [
        line.replace("\\n", "\n") for line in lines if line.strip() and not line.startswith("#")
    ]


PAYLOADS = load_payloads()
NUMBERED: list[tuple[int, str]] = list(enumerate(PAYLOADS))


def marker(number: int) -> str:
    """The word that names payload `number` wherever its text is shown."""
    return f"xss{number:03d}"


def one_line(value: str) -> str:
    return " ".join(value.split())


def squeezed(value: str) -> str:
    """The text without whitespace: where member HTML is misnested, the browser may place the
    whitespace between elements differently from the sanitiser's own reading; the rest must
    match, character for character."""
    return "".join(value.split())


def file_name(numbered: Numbered) -> str:
    """Payloads as one file name: each as much of it as a file name keeps (what follows its
    last "/" or "\\", which divide folders), followed by its marker."""
    return " ".join(
        f"{_FOLDERS.split(one_line(payload))[-1]} {marker(number)}" for number, payload in numbered
    )


def lines(numbered: Numbered) -> str:
    """Payloads a line each, each after its marker (for notes shown line by line)."""
    return "\n".join(inline([item]) for item in numbered)


def inline(numbered: Numbered) -> str:
    """Payloads on one line, each after its marker (for titles, poll questions, notes)."""
    return " ".join(f"{marker(number)} {one_line(payload)}" for number, payload in numbered)


def blocks(numbered: Numbered, template: str = "{mark}\n\n{payload}") -> str:
    """Payloads as Markdown blocks, each with its marker, separated by blank lines."""
    return "\n\n".join(
        template.format(mark=marker(number), payload=payload) for number, payload in numbered
    )


def packed(
    numbered: Numbered, limit: int, joined: Callable[[Numbered], str] = inline
) -> list[list[tuple[int, str]]]:
    """The payloads in groups whose joined text (inline() unless told) fits in `limit`."""
    groups: list[list[tuple[int, str]]] = []
    for item in numbered:
        if groups and len(joined([*groups[-1], item])) <= limit:
            groups[-1].append(item)
        else:
            assert len(joined([item])) <= limit, f"payload {item[0]} is too long for {limit}"
            groups.append([item])
    return groups


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def markers_in(value: str) -> set[str]:
    return set(re.findall(r"xss\d{3}", value))


def all_markers(numbered: Numbered) -> set[str]:
    return {marker(number) for number, _ in numbered}


def test_the_payload_file_has_over_a_hundred_distinct_payloads_that_fit_every_field() -> None:
    assert len(PAYLOADS) >= 100
    assert len(set(PAYLOADS)) == len(PAYLOADS)
    assert all(len(inline([item])) <= polls.OPTION_MAX for item in NUMBERED)
    assert not [payload for payload in PAYLOADS if WATCHED in payload or SEARCHED in payload]


# --- Looking at a page --------------------------------------------------------------------------

# Run in the page once it has loaded: every way a payload could have become live markup, and the
# texts of the regions the test names (the value, for form fields; an attribute, after "@").
# The site's templates use none of what is refused here, so anything found came from member text.
INSPECT = """
(regions) => {
  const problems = [];
  const origin = location.origin;
  const note = (element, why) => problems.push(why + ": " + element.outerHTML.slice(0, 200));
  if (window.__xss !== undefined) problems.push("window.__xss was set");
  const forbidden = new Set(["iframe", "frame", "frameset", "object", "embed", "applet", "base",
    "style", "template", "svg", "math", "video", "audio", "source", "track", "marquee", "xmp",
    "noscript", "isindex", "portal", "animate", "set", "foreignobject", "keygen", "bgsound",
    "plaintext", "listing"]);
  const urlAttributes = new Set(["href", "src", "action", "formaction", "xlink:href", "data",
    "poster", "background", "cite", "ping", "codebase", "dynsrc", "lowsrc", "longdesc",
    "manifest", "icon", "usemap"]);
  const resolved = (value) => {
    try { return new URL(value || "", document.baseURI); } catch (error) { return new URL("x:"); }
  };
  for (const element of document.getElementsByTagName("*")) {
    const tag = element.localName.toLowerCase();
    if (forbidden.has(tag)) note(element, "forbidden element");
    if (tag === "script") {
      const source = element.getAttribute("src");
      if (!resolved(source).href.startsWith(origin + "/static/")) note(element, "script");
      if (element.textContent.trim()) note(element, "inline script");
    }
    if (tag === "meta" && element.hasAttribute("http-equiv")) note(element, "meta http-equiv");
    if (tag === "link" && !(element.getAttribute("href") || "").startsWith("/static/")) {
      note(element, "link");
    }
    const image = resolved(element.getAttribute("src"));
    if (tag === "img" && (image.origin !== origin || !/^\\/images\\/\\d+$/.test(image.pathname))) {
      note(element, "image");
    }
    for (const attribute of element.attributes) {
      const name = attribute.name.toLowerCase();
      if (name.startsWith("on")) note(element, "event handler " + name);
      if (["style", "srcdoc", "srcset"].includes(name)) note(element, name);
      if (urlAttributes.has(name)) {
        const url = resolved(attribute.value);
        if (!["http:", "https:", "mailto:"].includes(url.protocol)) {
          note(element, name + " with " + url.protocol);
        }
        if ((name === "action" || name === "formaction") && url.origin !== origin) {
          note(element, "form to another site");
        }
      }
    }
  }
  if (document.baseURI !== location.href) problems.push("base URI changed: " + document.baseURI);
  const texts = {};
  for (const [key, selector] of Object.entries(regions)) {
    const [css, attribute] = selector.split("@");
    texts[key] = Array.from(document.querySelectorAll(css), (node) =>
      attribute ? node.getAttribute(attribute)
        : ["textarea", "input"].includes(node.localName) ? node.value : node.textContent);
  }
  return { problems, texts, title: document.title };
}
"""

# Regions that show member text as plain text: an element inside them is member markup.
PLAIN_TEXT = (
    "h1 :not(.muted), .thread-row__title *, .poll__choice label *, #poll-title *, "
    ".post__author *, .notification a *, .notification__reason *, .search-result__title *, "
    ".search-result__snippet :not(mark), .phi-text :not(mark), .revision__source *, "
    ".field-errors li *"
)


@dataclass(frozen=True)
class Seen:
    """What one page showed: the texts of the regions asked for, and its document title."""

    path: str
    texts: dict[str, list[str]]
    title: str

    def all(self, region: str) -> list[str]:
        """Each match of the region, whitespace collapsed."""
        return [one_line(found) for found in self.texts[region]]

    def joined(self, region: str) -> str:
        return " ".join(self.all(region))


@dataclass
class Browser:
    """One member's browser, the CSP bypassed so only escaping stands between text and script."""

    page: Page

    def look(self, where: str, regions: dict[str, str]) -> Seen:
        """Check the document now in the browser; return the regions' texts."""
        found: dict[str, Any] = self.page.evaluate(INSPECT, {"markup": PLAIN_TEXT, **regions})
        assert not found["problems"], f"{where}:\n" + "\n".join(found["problems"])
        assert not found["texts"]["markup"], f"{where}: member markup in a plain-text region"
        return Seen(where, found["texts"], found["title"])

    def see(self, path: str, **regions: str) -> Seen:
        """Fetch the page with this browser's session and render it here; check it."""
        answer = self.page.request.get(path, max_redirects=0)
        assert answer.status == 200, (path, answer.status)
        self.page.set_content(answer.text())
        return self.look(path, regions)

    def go(self, path: str, **regions: str) -> Seen:
        """Navigate to the page; check it."""
        answer = self.page.goto(path)
        assert answer is not None
        assert answer.status == 200, (path, answer.status)
        assert urlsplit(self.page.url).path == urlsplit(path).path, f"{path}: at {self.page.url}"
        return self.look(path, regions)

    def submit(self, button: str, values: dict[str, str], **regions: str) -> Seen:
        """Set the form's fields (past their maxlength, as a hand-made request could), submit."""
        self.page.evaluate(
            """(values) => { for (const [selector, value] of Object.entries(values)) {
                 const field = document.querySelector(selector);
                 if (field.type === "datetime-local") field.type = "text";
                 field.value = value; } }""",
            values,
        )
        with self.page.expect_navigation():
            self.page.get_by_role("button", name=button, exact=True).click()
        return self.look(self.page.url, regions)

    def pages(self, path: str, **regions: str) -> list[Seen]:
        """Every page of a paged list: ?page=1, 2, ... while a page links to the next."""
        seen: list[Seen] = []
        while True:
            separator = "&" if "?" in path else "?"
            shown = self.see(
                f"{path}{separator}page={len(seen) + 1}", nxt='a[rel="next"]', **regions
            )
            seen.append(shown)
            if not shown.texts["nxt"]:
                return seen


@pytest.fixture
def browse(open_page: Callable[..., Page]) -> Callable[..., Browser]:
    """A browser for a member (signed in) or a visitor, print() watched, the CSP bypassed."""

    def opened(member: Member | None, first_path: str = "/") -> Browser:
        page = open_page(bypass_csp=True)
        page.add_init_script("window.print = () => { window.__xss = 1; };")
        if member is None:
            page.goto(first_path)
        else:
            sign_in(page, member, first_path)
        return Browser(page)

    return opened


# --- Writing through the real write path --------------------------------------------------------


@dataclass
class Writer:
    """Service calls as the forms make them, each in its own app context."""

    app: Flask

    def user(self, member: Member) -> User:
        found = db.session.get(User, member.id)
        assert found is not None
        return found

    def thread(self, thread_id: int) -> Thread:
        found = db.session.get(Thread, thread_id)
        assert found is not None
        return found

    def post(self, post_id: int) -> Post:
        found = db.session.get(Post, post_id)
        assert found is not None
        return found

    def community(self) -> Community:
        found = community_by_slug("cardiology")
        assert found is not None
        return found

    def discussion(self, author: Member, title: str, body: str, group: Numbered = ()) -> int:
        """A discussion, with a poll asking the group's payloads when a group is given."""
        extras = services.Extras()
        if group:
            options = [inline([item]) for item in group]
            if len(options) < polls.MIN_OPTIONS:
                options.append(f"{one_line(group[0][1])} {marker(group[0][0])}")
            extras = services.Extras(
                poll=polls.PollDraft(inline(group), tuple(options), False, None)
            )
        with self.app.app_context():
            draft = services.DiscussionDraft(title=title, body=body, tags="hostile-input")
            return services.open_discussion(self.user(author), self.community(), draft, extras).id

    def case(self, author: Member, title: str, group: Numbered) -> int:
        """A case with the group's payloads in every section (in five Markdown settings, two of
        them in reverse order) and in its outcome; the watched word holds it for the moderators."""
        with self.app.app_context():
            draft = services.CaseDraft(
                title=title,
                age_band="50s",
                sex="female",
                setting="outpatient",
                sections={
                    "presenting": blocks(group),
                    "history": blocks(group, "{mark} {payload}"),
                    "examination": blocks(group[::-1], "{payload}\n\n{mark}"),
                    "management": blocks(group[::-1], "> {mark}\n\n{payload}"),
                    "question": f"{SEARCHED} {WATCHED}?\n\n{blocks(group)}",
                },
                tags="hostile-input",
            )
            user = self.user(author)
            thread = services.open_case(user, self.community(), draft, services.Extras())
            services.set_outcome(user, thread, blocks(group))
            return thread.id

    def reply(self, author: Member, thread_id: int, body: str) -> int:
        with self.app.app_context():
            return services.reply(self.user(author), self.thread(thread_id), body).id

    def opening(self, thread_id: int) -> int:
        with self.app.app_context():
            post_id = db.session.scalar(
                sa.select(Post.id).where(Post.thread_id == thread_id, Post.is_opening.is_(True))
            )
            assert post_id is not None
            return int(post_id)

    def kept(self, thread_id: int) -> dict[str, str]:
        """What the sanitiser kept of a case's sections and outcome, as plain text."""
        with self.app.app_context():
            thread = self.thread(thread_id)
            found = {name: text.plain_text(s.html) for name, s in thread.section_map().items()}
            found["outcome"] = text.plain_text(thread.outcome_html or "")
            return found

    def post_text(self, post_id: int) -> str:
        """What the sanitiser kept of a post, as plain text."""
        with self.app.app_context():
            return text.plain_text(self.post(post_id).html)

    def source(self, post_id: int) -> str:
        with self.app.app_context():
            return self.post(post_id).source

    def quote(self, post_id: int) -> str:
        """The Markdown the reply form is prefilled with to quote the post."""
        with self.app.app_context():
            return services.quote_source(self.post(post_id), f"/p/{post_id}")

    def thread_of(self, item_id: int) -> int:
        with self.app.app_context():
            item = db.session.get(ReviewItem, item_id)
            assert item is not None
            return item.thread_id

    def queue(self) -> list[int]:
        with self.app.app_context():
            return [item.id for item in moderation.queue()]

    def decide(
        self, moderator: Member, item_ids: Sequence[int], reasons: Sequence[str] = ()
    ) -> None:
        """Approve the items, or reject them with the reasons when reasons are given."""
        with self.app.app_context():
            for item_id, reason in zip(item_ids, reasons or [""] * len(item_ids), strict=True):
                item = db.session.get(ReviewItem, item_id)
                assert item is not None
                if reason:
                    moderation.reject(self.user(moderator), item, reason)
                else:
                    moderation.approve(self.user(moderator), item)

    def watch_word(self, moderator: Member) -> None:
        with self.app.app_context():
            moderation.add_watched_word(self.user(moderator), WATCHED, False, WatchAction.HOLD)

    def passes_gate(self, value: str) -> bool:
        with self.app.app_context():
            return not policy.screen({"text": value}).findings

    def drain(self) -> None:
        with self.app.app_context():
            search_service.drain()


@pytest.fixture
def cast(app: Flask) -> dict[str, Member]:
    """An author, a reader in the same specialty and a moderator, all verified physicians.

    Mail goes to files: what moderators' decisions send is not on trial here."""
    app.config["MAIL_BACKEND"] = "file"
    with app.app_context():
        ensure_communities()
    return {
        "author": physician(app, AUTHOR, "cardiology"),
        "reader": physician(app, READER, "cardiology"),
        "moderator": physician(app, "Dr Mo Derator", "cardiology", roles=(Role.MODERATOR,)),
    }


def work_through_the_queue(writer: Writer, moderator: Browser, cast: dict[str, Member]) -> str:
    """The moderator reads each page of the queue and approves every item on it; returns the
    text of every item seen."""
    seen: list[str] = []
    while item_ids := writer.queue():
        shown = moderator.see("/moderation/queue", items=".review-item")
        assert len(shown.all("items")) == len(item_ids)
        seen.extend(shown.all("items"))
        writer.decide(cast["moderator"], item_ids)
    return " ".join(seen)


def captured(rows: Sequence[str], pattern: str) -> set[str]:
    """What the one group of `pattern` captures in each line that matches it."""
    return {found.group(1) for row in rows if (found := re.search(pattern, row))}


# --- Threads ------------------------------------------------------------------------------------


def test_payloads_in_titles_polls_bodies_cases_and_outcomes_show_as_text_on_every_page(
    app: Flask, cast: dict[str, Member], browse: Callable[..., Browser]
) -> None:
    writer = Writer(app)
    writer.watch_word(cast["moderator"])
    # A discussion per group of payloads, in its title, its poll and its body, which mentions
    # the reader (so the title reaches their notifications); and cases, held for the moderators
    # by the watched word in their question, so the queue shows every payload highlighted.
    groups = packed(NUMBERED, services.TITLE_MAX)
    discussions = {
        writer.discussion(
            cast["author"], inline(group), f"{SEARCHED} @{READER}\n\n{blocks(group)}", group
        ): group
        for group in groups
    }
    cases = {
        writer.case(cast["author"], f"Hostile case {index}", batch): batch
        for index, batch in enumerate(chunks(NUMBERED, 16))
    }

    # The moderator opens the first held discussion (held for a web address) and redacts it
    # with every payload at once; then reads the whole queue and approves everything.
    moderator = browse(cast["moderator"], "/moderation/queue")
    item_id = writer.queue()[0]
    first = writer.thread_of(item_id)
    shown = moderator.go(
        f"/moderation/items/{item_id}", title="input#edit-title", body="#edit-body"
    )
    assert shown.texts["title"] == [inline(discussions[first])]
    assert markers_in(shown.texts["body"][0]) == all_markers(discussions[first])
    # The group's own payloads lead (they must still show in the search snippet), then all.
    redaction = f"{SEARCHED} {inline(discussions[first])}\n\n{blocks(NUMBERED)}"
    moderator.submit("Save and approve", {"#edit-body": redaction}, flash=".flash")
    queued = work_through_the_queue(writer, moderator, cast)
    assert all_markers(NUMBERED) <= markers_in(queued)
    writer.drain()

    # Each discussion: its title, poll and body; opened to quote the body into the reply form.
    author = browse(cast["author"])
    for thread_id, group in discussions.items():
        opening = writer.opening(thread_id)
        shown = author.see(
            f"/t/{thread_id}?quote={opening}",
            heading="h1",
            poll="#poll-title",
            choices=".poll__choice label",
            body=".post__body",
            quote="textarea#body",
        )
        title = inline(group)
        assert shown.all("heading") == [title]
        assert one_line(shown.title) == f"{title} · Curbside"
        assert shown.all("poll") == [f"Poll: {title}"]
        assert shown.all("choices")[: len(group)] == [inline([item]) for item in group]
        assert [squeezed(body) for body in shown.all("body")] == [
            squeezed(writer.post_text(opening))
        ]
        assert shown.texts["quote"][0].strip() == writer.quote(opening).strip()
    assert writer.source(writer.opening(first)) == redaction  # the redaction was published

    # Each case: every section and the outcome show exactly what the sanitiser kept.
    for thread_id, batch in cases.items():
        shown = author.see(f"/t/{thread_id}", sections=".case-section", outcome="#outcome")
        kept = writer.kept(thread_id)
        sections = shown.all("sections")
        assert len(sections) == len(services.CASE_SECTIONS)
        for (name, label), section in zip(services.CASE_SECTIONS, sections, strict=True):
            assert squeezed(section) == squeezed(f"{label} {kept[name]}")
        # Some payloads swallow what follows them (an unclosed quote into an attribute the
        # sanitiser drops, an unclosed raw <table>): lost, never live. The sections also run in
        # reverse order, so each payload shows in one of them.
        assert markers_in(" ".join(sections)) == all_markers(batch)
        assert squeezed(kept["outcome"]) in squeezed(shown.joined("outcome"))

    # Published now: the community, the feed, search results, the reader's notifications.
    titles = {inline(group) for group in groups}
    listed = author.pages("/c/cardiology", rows=".thread-row__title")
    assert titles <= {title for shown in listed for title in shown.all("rows")}
    fed = author.pages("/", rows=".thread-row__title")
    assert titles <= {title for shown in fed for title in shown.all("rows")}
    reader = browse(cast["reader"])
    found = reader.pages(
        f"/search?q={SEARCHED}", results=".search-result__title", snippets=".search-result__snippet"
    )
    assert titles <= {title for shown in found for title in shown.all("results")}
    assert all_markers(NUMBERED) <= markers_in(
        " ".join(shown.joined("snippets") for shown in found)
    )
    told = reader.pages("/notifications", rows=".notification a")
    rows = [row for shown in told for row in shown.all("rows")]
    assert titles <= captured(rows, rf"^{AUTHOR} mentioned you in “(.*)”$")


# --- Replies, edits, names, bookmarks, flags and reasons ----------------------------------------


def test_payloads_in_replies_edits_names_flag_notes_and_reasons_show_as_text_on_every_page(
    app: Flask, cast: dict[str, Member], browse: Callable[..., Browser]
) -> None:
    writer = Writer(app)
    writer.watch_word(cast["moderator"])
    thread_id = writer.discussion(cast["author"], "Hostile replies", "Replies below.")
    # A reply per payload, each by a member whose display name is the payload (as far as 40
    # characters go): names the sign-up form refuses, as an older rule or an import might store.
    names: dict[int, str] = {}
    replies: dict[int, int] = {}
    with app.app_context():
        thread = writer.thread(thread_id)
        for number, payload in NUMBERED:
            names[number] = one_line(inline([(number, payload)])[:40])
            member = make_user(display_name=names[number], verified=True)
            body = f"{marker(number)} {SEARCHED}\n\n{payload}"
            replies[number] = services.reply(writer.user(member), thread, body).id
        # One more reply, rewritten batch after batch: its history holds every payload.
        editor = writer.user(cast["reader"])
        edited = services.reply(editor, thread, "Edited below.").id
        for batch in chunks(NUMBERED, 12):
            services.edit_post(editor, writer.post(edited), blocks(batch))
    # The author flags published replies with notes (those the gate lets through), and writes
    # replies the watched word holds, which the moderator rejects with payloads for reasons.
    quiet = [item for item in NUMBERED if writer.passes_gate(inline([item]))]
    notes = packed(quiet, moderation.NOTE_MAX)
    reasons = [inline(group) for group in packed(NUMBERED, moderation.REASON_MAX)]
    with app.app_context():
        owner = writer.user(cast["author"])
        for group, (number, _) in zip(notes, quiet, strict=False):
            post = writer.post(replies[number])
            moderation.flag_post(owner, post, str(FlagReason.OTHER), inline(group))
    for _ in reasons:
        writer.reply(cast["author"], thread_id, f"Held for the moderators: {WATCHED}.")

    # The moderator reads the flag notes and the held replies; rejects those, keeps the rest.
    moderator = browse(cast["moderator"], "/moderation/queue")
    queued = moderator.see("/moderation/queue", items=".review-item").joined("items")
    assert all(inline(group) in queued for group in notes)
    held = set(writer.queue())
    with app.app_context():
        rejected = [
            item.id
            for item in moderation.queue()
            if item.post and item.post.author_id == cast["author"].id
        ]
    writer.decide(cast["moderator"], rejected, reasons)
    writer.decide(cast["moderator"], sorted(held - set(rejected)))
    # The moderation log shows each rejection with its reason (the newest 50 events suffice).
    logged = moderator.see("/moderation/log", details=".detail").all("details")
    assert all(f"reason={reason}" in logged for reason in reasons)
    with app.app_context():  # the author bookmarks every reply, now all published
        owner = writer.user(cast["author"])
        for post_id in replies.values():
            services.set_bookmark(owner, writer.post(post_id), True)
    writer.drain()

    # The thread, page by page: every reply as the sanitiser left it, under its author's name.
    author = browse(cast["author"])
    bodies: dict[str, tuple[str, str]] = {}
    thread_pages = author.pages(
        f"/t/{thread_id}", ids="article.post@id", posts=".post__body", authors=".post__author"
    )
    for shown in thread_pages:
        posts = zip(shown.texts["ids"], shown.all("posts"), shown.all("authors"), strict=True)
        bodies.update({post: (squeezed(body), label) for post, body, label in posts})
    for number, post_id in replies.items():
        assert bodies[f"p{post_id}"] == (squeezed(writer.post_text(post_id)), names[number])

    # The edited reply's history, as its author sees it: every earlier text, verbatim.
    reader = browse(cast["reader"])
    shown = reader.see(f"/p/{edited}/history", sources=".revision__source")
    expected = ["Edited below.", *(blocks(batch) for batch in chunks(NUMBERED, 12))]
    assert sorted(source.strip() for source in shown.texts["sources"]) == sorted(expected)

    # Bookmarks; notifications (each reply named by its author; each rejection with its reason);
    # search results (snippets, and each reply's author).
    saved = author.pages("/bookmarks", bodies=".bookmark__body")
    assert all_markers(NUMBERED) <= markers_in(" ".join(shown.joined("bodies") for shown in saved))
    told = author.pages("/notifications", rows=".notification a", why=".notification__reason")
    rows = [row for shown in told for row in shown.all("rows")]
    assert set(names.values()) <= captured(rows, r"^(.*) replied in “Hostile replies”$")
    assert sorted(reasons) == sorted(
        why.removeprefix("Reason: ") for shown in told for why in shown.all("why")
    )
    found = reader.pages(
        f"/search?q={SEARCHED}", snippets=".search-result__snippet", by=".search-result .muted"
    )
    assert all_markers(NUMBERED) <= markers_in(
        " ".join(shown.joined("snippets") for shown in found)
    )
    by = " ".join(shown.joined("by") for shown in found)
    assert all(f"Reply by {name} in Cardiology" in by for name in names.values())


# --- Verification -------------------------------------------------------------------------------


def test_verifier_reasons_and_member_answers_show_as_text(
    app: Flask, browse: Callable[..., Browser]
) -> None:
    """A verifier asks for more with payloads for reasons; the member answers with them."""
    app.config["MAIL_BACKEND"] = "file"
    with app.app_context():
        applicant = make_user(display_name="Dr Applicant")
        verifier = make_user(display_name="Dr Verifier", verified=True, roles=(Role.VERIFIER,))
        details = verification.ClaimDetails(
            npi="1750384806",  # a valid NPI the registry copy does not hold: a verifier decides
            first_name="Ada",
            last_name="Okafor",
            practice_state="TX",
            specialty="cardiology",
        )
        user = db.session.get(User, applicant.id)
        assert user is not None
        claim_id = verification.submit_claim(user, details).id
    member = browse(applicant, "/verification/")
    desk = browse(verifier, "/verification/queue/")
    for group in packed(NUMBERED, review.REASON_MAX_LENGTH, lines):
        note = lines(group)
        with app.app_context():
            claim = db.session.get(VerificationClaim, claim_id)
            checker = db.session.get(User, verifier.id)
            assert claim is not None
            assert checker is not None
            review.decide(checker, claim, review.Decision.MORE_INFO, note)
        shown = member.see("/verification/", reason="blockquote")
        assert shown.all("reason") == [one_line(note)]
        with app.app_context():
            claim = db.session.get(VerificationClaim, claim_id)
            assert claim is not None
            verification.answer_more_info(claim.user, claim, note)
        shown = desk.see(f"/verification/queue/{claim_id}", facts="dd")
        facts = [squeezed(fact) for fact in shown.all("facts")]  # lines end in <br>, not spaces
        assert facts.count(squeezed(note)) == 2  # the reason given, and the member's answer


# --- Search queries -----------------------------------------------------------------------------


def test_search_queries_and_filters_are_echoed_as_text(
    app: Flask, cast: dict[str, Member], browse: Callable[..., Browser]
) -> None:
    writer = Writer(app)
    writer.discussion(cast["author"], "Something to find", f"A {SEARCHED} among horses.")
    writer.drain()
    reader = browse(cast["reader"], "/search")
    for group in packed(NUMBERED, 480):
        query = inline(group)
        filters = {"tag": query[:40], "author": query[-40:]}
        shown = reader.go(
            "/search?" + urlencode({"q": query, **filters}),
            box="input#q",
            tag="input#tag",
            author="input#author",
            problems=".error-summary li",
        )
        assert shown.texts["box"] == [query]
        assert shown.texts["tag"] == [query[:40]]
        assert shown.texts["author"] == [query[-40:]]
        assert f"No member goes by the name “{one_line(query[-40:])}”." in shown.all("problems")
        assert one_line(shown.title) == one_line(f"Search: {query[:80]} · Curbside")


# --- Forms typed into in the browser ------------------------------------------------------------


def test_payloads_typed_into_forms_come_back_escaped(
    app: Flask, cast: dict[str, Member], browse: Callable[..., Browser], watch: Watch
) -> None:
    watch.allow_status(422)
    writer = Writer(app)
    line, area = inline(NUMBERED), blocks(NUMBERED)
    author = browse(cast["author"], "/c/cardiology/new-case")

    # The case form with every payload in every field: too long to accept, so it comes back.
    sections = ["presenting", "history", "examination", "management", "question"]
    values = {f"#{name}": area for name in sections}
    values.update({"#title": line, "#tags": line, "#poll_question": line, "#poll_closes": line})
    values.update({f"#poll_option_{number}": line for number in range(1, 11)})
    # (A datetime-local input drops a value that is no date: its attribute still holds it.)
    kept = {
        selector: f"{selector}@value" if "closes" in selector else selector for selector in values
    }
    shown = author.submit("Post the case", values, errors=".field-errors li", **kept)
    assert shown.texts["errors"]
    for selector, value in values.items():
        assert shown.all(selector) == [one_line(value)], selector

    # Image file names, four files a time, each named back in the error for a file that is
    # no image.
    author.go("/c/cardiology/new-case")
    case = {"#title": "Files", "#presenting": "Chest pain.", "#question": "Next?"}
    case.update({"#age_band": "50s", "#sex": "female", "#setting": "outpatient"})
    for four in chunks(packed(NUMBERED, attachments.LABEL_MAX, file_name), attachments.MAX_IMAGES):
        files: list[FilePayload] = [
            {"name": f"{file_name(group)}.png", "mimeType": "image/png", "buffer": b"not an image"}
            for group in four
        ]
        author.page.locator("#images").set_input_files(files)
        shown = author.submit("Post the case", case, errors="#images-error li")
        assert [markers_in(error) for error in shown.all("errors")] == [
            all_markers(group) for group in four
        ]

    # A discussion the PHI gate blocks: the text comes back highlighted, and in the form.
    author.go("/c/cardiology/new-discussion")
    body = f"{area}\n\nSSN 123-45-6789"
    shown = author.submit(
        "Post the discussion",
        {"#title": "Blocked", "#body": body},
        highlighted=".phi-text",
        kept="textarea#body",
    )
    assert shown.all("highlighted") == [one_line(body)]
    assert one_line(shown.texts["kept"][0]) == one_line(body)

    # The same text as a reply: checked as it is typed (static/js/phi-check.js), then blocked.
    thread_id = writer.discussion(cast["author"], "Forms", "Reply below.")
    author.go(f"/t/{thread_id}")
    author.page.locator("textarea#body").fill(body)
    author.page.locator("#body-phi-live .phi-text").wait_for()
    shown = author.look("the live check", {"live": "#body-phi-live .phi-text"})
    assert shown.all("live") == [one_line(body)]
    shown = author.submit("Post the reply", {"textarea#body": body}, highlighted=".phi-text")
    assert shown.all("highlighted") == [one_line(body)]

    # The flag form, its note too long: kept as typed.
    reader = browse(cast["reader"], f"/p/{writer.opening(thread_id)}/flag")
    shown = reader.submit("Flag the post", {"#note": area}, note="textarea#note")
    assert one_line(shown.texts["note"][0]) == one_line(area)

    # Signing up with every payload in the name fields: refused, and shown back as typed.
    visitor = browse(None, "/sign-up")
    names = {"#display_name": line, "#first_name": line, "#last_name": line}
    account = {"#email": "newcomer@hospital.example", "#password": "x", "#password_confirm": "y"}
    shown = visitor.submit("Create account", {**names, **account}, kept=", ".join(names))
    assert shown.all("kept") == [line, line, line]

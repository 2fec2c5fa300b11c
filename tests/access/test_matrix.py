"""Who reads what: every endpoint, every link and every e-mail, for every kind of visitor.

tests/core/test_access.py proves each endpoint's declared level against dummy ids. Here the ids
are real: a world of content in every state (see conftest.py), and for each visitor

1. every GET route of app.url_map, with its variables filled with the ids of other members'
   content of every kind (and a few query strings: quoting, paging, searching);
2. a crawl from the front page and from everything step 1 answered, following every same-site
   link, image, stylesheet, redirect and GET form, breadth first;
3. every answer (body and headers) and every e-mail the world sent, read for the markers.

A marker met by a visitor outside its audience is a leak; every leak is listed at once. Each
audience is also shown to meet its markers, so the test cannot pass by reading nothing.
"""

from __future__ import annotations

import html
import itertools
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import markupsafe
import sqlalchemy as sa
from flask import Flask
from werkzeug.exceptions import HTTPException
from werkzeug.routing import MapAdapter, Rule
from werkzeug.test import TestResponse

from forum.audit import AuditEvent
from forum.cases.models import Post, Thread
from forum.extensions import db
from tests.access.conftest import (
    ANONYMOUS,
    ANONYMOUS_AUTHOR_NAME,
    CLINICAL,
    MEMBER,
    MODERATOR,
    NOBODY,
    PASSWORD_ONLY,
    SEARCH_WORD,
    VISITORS,
    Values,
    World,
)
from tests.conftest import FormClient, Mailbox
from tests.factories import sign_in, sign_in_password

SITE_HOSTS = {"", "localhost", "curbside.example"}
LINKS_PER_KIND = 4  # links followed of each endpoint and set of query names


# --- Visitors -----------------------------------------------------------------------------------


def arrive(app: Flask, world: World, name: str) -> FormClient:
    """A client for the visitor, signed in as far as their kind goes."""
    client: FormClient = app.test_client()  # type: ignore[assignment]
    if name == ANONYMOUS:
        return client
    member = world.members[name]
    response = (sign_in_password if name == PASSWORD_ONLY else sign_in)(client, member)
    assert response.status_code == 302, f"{name} could not sign in"
    return client


def relax_rate_limits(app: Flask) -> None:
    for setting in ("SIGN_IN", "SIGN_UP", "PASSWORD_RESET", "TOTP"):
        app.config[f"RATELIMIT_{setting}"] = "10000 per minute"


# --- Reading answers ----------------------------------------------------------------------------


class Links(HTMLParser):
    """Same-page references a visitor could follow: links, images, stylesheets, GET forms."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._form: tuple[str, list[tuple[str, str]]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "a" and "href" in values:
            self.found.append(values["href"])
        elif tag in ("img", "script") and "src" in values:
            self.found.append(values["src"])
        elif tag == "link" and "href" in values:
            self.found.append(values["href"])
        elif tag == "form" and values.get("method", "get").lower() == "get":
            self._form = (values.get("action", ""), [])
        elif tag == "input" and self._form is not None and values.get("name"):
            kind = values.get("type", "text").lower()
            if kind not in ("checkbox", "radio", "submit") or "checked" in values:
                self._form[1].append((values["name"], values.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._form is not None:
            action, fields = self._form
            filled = [(name, value) for name, value in fields if value]
            self.found.append(action + ("?" + urlencode(filled) if filled else ""))
            self._form = None


def same_site(base: str, reference: str) -> str | None:
    """The path and query a reference points at on this site, or None (elsewhere, static)."""
    parts = urlsplit(urljoin("http://localhost" + base, reference.strip()))
    if parts.scheme not in ("http", "https") or parts.hostname not in SITE_HOSTS:
        return None
    if parts.path.startswith("/static/"):
        return None
    # The way back after signing in makes every page a new sign-in URL: the form is the same.
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "next"])
    return parts.path + (f"?{query}" if query else "")


def echoed_input(url: str) -> list[str]:
    """The visitor's own query values as a form echoes them back: value="..." attributes."""
    return [f'value="{markupsafe.escape(value)}"' for _, value in parse_qsl(urlsplit(url).query)]


def own_next_removed(location: str, url: str) -> str:
    """A redirect without the visitor's own URL as its `next` (the way back, not a leak)."""
    parts = urlsplit(location)
    kept = [(k, v) for k, v in parse_qsl(parts.query) if not (k == "next" and v == url)]
    return parts._replace(query=urlencode(kept)).geturl()


def readable(raw: str, url: str) -> str:
    """The text to search for markers: the visitor's echoed input out, entities decoded."""
    for echo in echoed_input(url):
        raw = raw.replace(echo, 'value=""')
    return html.unescape(raw).lower()


def mail_text(message: EmailMessage) -> str:
    parts = [str(message["Subject"] or "")]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(str(part.get_content()))
    return html.unescape("\n".join(parts)).lower()


# --- The probe ----------------------------------------------------------------------------------


@dataclass
class Probe:
    """Reads answers for one world and remembers what each visitor met."""

    world: World
    seen: dict[str, set[str]] = field(default_factory=dict)
    leaks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def read(self, visitor: str, where: str, text: str, path: str = "") -> None:
        """Note every marker in the text; one outside its audience is a leak."""
        exempt = self.world.exempt.get((visitor, path), frozenset())
        for marker, audience in self.world.audience.items():
            if marker in text:
                self.seen.setdefault(marker, set()).add(visitor)
                if visitor not in audience and marker not in exempt:
                    self.leaks.append(f"{visitor} met {marker!r} in {where}")

    def answer(self, visitor: str, method: str, url: str, response: TestResponse) -> str:
        """Check one answer; returns its body as text (for links)."""
        where = f"{method} {url} ({response.status_code})"
        if response.status_code >= 500:
            self.errors.append(f"{visitor}: {where}")
        data = response.get_data()
        response.close()  # a served file stays open until its answer is closed
        text_type = (response.mimetype or "").startswith("text/")
        raw = data.decode("utf-8", "replace") if text_type else ""
        location = response.headers.get("Location")
        if location:  # a redirect's body repeats its Location, read below
            raw = raw.replace(str(markupsafe.escape(location)), "")
        headers = "\n".join(
            f"{name}: {own_next_removed(value, url) if name == 'Location' else value}"
            for name, value in response.headers.items()
        )
        path = urlsplit(url).path
        self.read(visitor, where, readable(raw, url) + "\n" + headers.lower(), path)
        if response.status_code == 200:
            self.read(visitor, where, self.served_file(url))
        return raw

    def served_file(self, url: str) -> str:
        """An image or document is as secret as its marker: serving it shows the marker."""
        path = urlsplit(url).path
        last = path.rsplit("/", 1)[-1]
        if not last.isdigit():
            return ""
        if path.startswith("/images/"):
            return self.world.image_markers.get(int(last), "")
        if path.startswith("/verification/queue/documents/"):
            return self.world.document_markers.get(int(last), "")
        return ""


# --- Step 1: every route, with other members' ids -----------------------------------------------


def filled_urls(app: Flask, rule: Rule, values: World | Values) -> Iterator[str]:
    """The rule's URL once for each combination of the values for its variables."""
    known = values.values if isinstance(values, World) else values
    names = sorted(rule.arguments)
    choices = [known.get(name, ["x"]) for name in names]
    adapter = app.url_map.bind("localhost")
    for combination in itertools.product(*choices):
        yield adapter.build(rule.endpoint, dict(zip(names, combination, strict=True)))


def extra_urls(world: World) -> list[str]:
    """Query strings that reach more: quoting, later pages, searches of every kind."""
    # Quoting prefills the reply form with the post's text and its author's label.
    quoted = world.held_posts | world.anonymous_posts
    urls = [f"/t/{world.post_threads[post]}?quote={post}" for post in sorted(quoted)]
    urls += ["/?page=2", "/c/cardiology?page=2", "/notifications?page=2", "/bookmarks?page=2"]
    searches: list[dict[str, str]] = [
        {"q": SEARCH_WORD},
        {"q": SEARCH_WORD, "page": "2"},
        {"q": SEARCH_WORD, "has_images": "1"},
        {"q": SEARCH_WORD, "has_poll": "1"},
        {"q": SEARCH_WORD, "kind": "discussion"},
        {"q": "holdqz"},
        {"author": ANONYMOUS_AUTHOR_NAME},
        {"q": SEARCH_WORD, "author": ANONYMOUS_AUTHOR_NAME},
        {"author": "Dr Bravo Author"},
    ]
    urls += ["/search?" + urlencode(search) for search in searches]
    return urls


def route_urls(app: Flask, world: World) -> list[str]:
    urls: list[str] = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint != "static" and "GET" in (rule.methods or ()):
            urls.extend(filled_urls(app, rule, world))
    return urls + extra_urls(world)


# --- Step 2: the crawl --------------------------------------------------------------------------


def kind_of(adapter: MapAdapter, url: str) -> tuple[str, tuple[str, ...]]:
    """A link's kind: its endpoint and the names of its query values."""
    parts = urlsplit(url)
    try:
        endpoint, _ = adapter.match(parts.path, method="GET")
    except HTTPException:
        endpoint = "?"
    return str(endpoint), tuple(sorted({name for name, _ in parse_qsl(parts.query)}))


def visit(
    probe: Probe, visitor: str, client: FormClient, adapter: MapAdapter, start: Iterable[str]
) -> int:
    """Request the start URLs, then follow every link breadth first; returns pages visited.

    Step 1 already asked for every route with every id, so the crawl follows a few links of
    each kind (the other empty communities add nothing but time).
    """
    queue = deque(dict.fromkeys(start))
    done: set[str] = set(queue)
    kinds: Counter[tuple[str, tuple[str, ...]]] = Counter()
    crawled = 0
    while queue:
        url = queue.popleft()
        response = client.get(url)
        raw = probe.answer(visitor, "GET", url, response)
        crawled += 1
        references = [response.headers.get("Location", "")]
        if response.mimetype == "text/html":
            parser = Links()
            parser.feed(raw)
            references += parser.found
        for reference in references:
            target = same_site(url, reference) if reference else None
            if target is None or target in done:
                continue
            done.add(target)
            kind = kind_of(adapter, target)
            if kinds[kind] < LINKS_PER_KIND:
                kinds[kind] += 1
                queue.append(target)
    return crawled


def read_mail(probe: Probe, mailbox: Mailbox) -> int:
    """Every message the world sent, read as its recipient."""
    audience = probe.world.mail_audience
    for message in mailbox.messages:
        to = str(message["To"]).lower()
        recipient = next((name for address, name in audience.items() if address in to), None)
        where = f"the e-mail {message['Subject']!r} to {to}"
        if recipient is None:
            probe.errors.append(f"{where}: to nobody in the world")
            continue
        probe.read(recipient, where, mail_text(message))
    return len(mailbox.messages)


# --- The sweep ----------------------------------------------------------------------------------


def of_audience(world: World, audience: frozenset[str]) -> list[str]:
    return [marker for marker, has in world.audience.items() if has == audience]


def stored_leaks(world: World) -> list[str]:
    """What the tables keep that they should not (call inside an app context).

    Rejected text is purged from every table. No audit row names the author of anonymous
    content as its actor: the moderators' log and the admins' audit page list actors, and a
    reveal is the only way to learn who wrote an anonymous post.
    """
    purged = of_audience(world, NOBODY)
    found: list[str] = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)):
            text = " ".join(str(value) for value in row).lower()
            found += [f"{marker!r} kept in {table.name}" for marker in purged if marker in text]
    for model, kind in ((Post, "post"), (Thread, "thread")):
        anonymous = sa.select(model.id).where(model.anonymous.is_(True))
        named = db.session.execute(
            sa.select(AuditEvent.action, AuditEvent.target_id)
            .join(model, model.id == AuditEvent.target_id)
            .where(
                AuditEvent.target_type == kind,
                AuditEvent.target_id.in_(anonymous),
                AuditEvent.actor_id == model.author_id,
            )
        )
        found += [
            f"the audit row {action} names the author of anonymous {kind} {target}"
            for action, target in named
        ]
    return found


def test_no_visitor_meets_text_outside_its_audience_on_any_route_link_or_mail(
    app: Flask, world: World, mailbox: Mailbox
) -> None:
    relax_rate_limits(app)
    probe = Probe(world)
    start = route_urls(app, world)
    adapter = app.url_map.bind("localhost")
    mails = read_mail(probe, mailbox)
    pages = {}
    for visitor in VISITORS:
        client = arrive(app, world, visitor)
        pages[visitor] = visit(probe, visitor, client, adapter, ["/", *start])
    with app.app_context():
        stored = stored_leaks(world)

    report = [*probe.errors, *probe.leaks, *stored]
    assert report == [], f"{len(report)} problems:\n" + "\n".join(report)

    # Each audience met its markers: the sweep read real pages, not sign-in forms.
    missing = [
        f"{visitor} never met {marker!r}"
        for marker, audience in world.audience.items()
        for visitor in sorted(audience)
        if visitor not in probe.seen.get(marker, set()) and (visitor, marker) not in world.optional
    ]
    assert missing == [], "\n".join(missing)
    assert of_audience(world, NOBODY)
    assert mails > 0
    assert min(pages[visitor] for visitor in CLINICAL) > len(start) + 1  # links beyond step 1

    # The moderator's audited reveal is the one place an anonymous author's name appears.
    moderator = arrive(app, world, MODERATOR)
    reveal_url = f"/p/{world.posts['clinanonreplymk']}/reveal"
    revealed = moderator.post(reveal_url, data={"reason": "Checking a complaint"})
    assert revealed.status_code == 200
    assert ANONYMOUS_AUTHOR_NAME in html.unescape(revealed.get_data(as_text=True))

    # Searching by author finds B's posts, and nothing C wrote anonymously.
    member = arrive(app, world, MEMBER)

    def found(author: str) -> set[str]:
        url = "/search?" + urlencode({"q": SEARCH_WORD, "author": author})
        page = readable(member.get(url).get_data(as_text=True), url)
        return {marker for marker in of_audience(world, CLINICAL) if marker in page}

    assert found(ANONYMOUS_AUTHOR_NAME) == set()
    assert {"clintitlemk", "clindiscussiontitlemk"} <= found("Dr Bravo Author")


# --- Acting on other members' content -----------------------------------------------------------

# Only the content's author, a moderator (or a verifier, an admin) may do these, whatever the id.
NOT_FOR_OTHERS = {
    "cases.accept",
    "cases.delete",
    "cases.edit",
    "cases.outcome",
    "cases.reveal",
    "notifications.mark_read",
    "verification.answer",
    "verification.upload_document",
}
NOT_FOR_OTHERS_PREFIXES = ("moderation.", "review.", "admin.")
# Any physician may do these to published content; held, rejected, removed or deleted content
# is not there for them.
NOT_ON_HELD_CONTENT = {
    "cases.bookmark",
    "cases.flag",
    "cases.follow",
    "cases.helpful",
    "cases.reply",
    "media.vote",
}
FORGED = {
    "body": "forgedmk",
    "reason": "other",  # a flag's reason; any moderator's reason
    "note": "forgedmk",
    "outcome": "forgedmk",
    "answer": "forgedmk",
    "title": "forgedmk",
    "presenting": "forgedmk",
    "question": "forgedmk",
    "age_band": "40s",
    "sex": "female",
    "setting": "outpatient",
    "state": "on",
    "option": "1",
    "days": "3",
    "decision": "approve",
    "community": "1",
    "roles": "moderator",
    "field": "body",
    "start": "0",
    "end": "3",
}


def forged_posts(app: Flask, world: World) -> Iterator[tuple[str, str]]:
    """(endpoint, url) for every POST a member might forge against other members' content."""
    mine = {post for post, author in world.post_authors.items() if author == world.id_of(MEMBER)}
    theirs: Values = dict(world.values)
    theirs["post_id"] = [post for post in world.values["post_id"] if post not in mine]
    held: Values = {
        **theirs,
        "post_id": sorted(world.held_posts),
        "thread_id": sorted(world.held_threads),
        "poll_id": [world.polls["bheldimage"]],
    }
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "POST" not in (rule.methods or ()) or not rule.arguments:
            continue
        if rule.endpoint in NOT_FOR_OTHERS or rule.endpoint.startswith(NOT_FOR_OTHERS_PREFIXES):
            values = theirs
        elif rule.endpoint in NOT_ON_HELD_CONTENT:
            values = held
        else:
            continue
        for url in filled_urls(app, rule, values):
            yield rule.endpoint, url


def snapshot() -> dict[str, list[str]]:
    """Every row of every table, as text (inside an app context)."""
    return {
        table.name: sorted(str(tuple(row)) for row in db.session.execute(sa.select(table)))
        for table in db.metadata.sorted_tables
    }


def test_a_member_cannot_act_on_other_members_content_by_forging_requests(
    app: Flask, world: World, mailbox: Mailbox
) -> None:
    relax_rate_limits(app)
    member = arrive(app, world, MEMBER)
    with app.app_context():
        before = snapshot()
    mails = len(mailbox.messages)

    answered: list[str] = []
    forged = list(forged_posts(app, world))
    for endpoint, url in forged:
        response = member.post(url, data=FORGED)
        if response.status_code not in (403, 404):
            answered.append(f"{endpoint} {url}: {response.status_code} {response.location}")

    with app.app_context():
        after = snapshot()
    changed = [name for name in before if before[name] != after[name]]
    assert answered == [], "\n".join(answered)
    assert changed == []
    assert len(mailbox.messages) == mails
    assert len({endpoint for endpoint, _ in forged}) >= 25

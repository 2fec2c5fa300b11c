"""A forum with content in every state, and visitors at every access level, to probe for leaks.

The world is made through the real services (cases, moderation, verification, notifications,
search and digest), as members, moderators and a verifier would make it. Every text in it
carries a marker: a lower-case nonsense word the PHI gate lets through. `World.audience` says
which visitors may ever meet each marker, on a page, in a header or in an e-mail.

The member called "author" (B) writes under their own name; "anonymous_author" (C) writes only
anonymously, so C's name, legal name or address anywhere but C's own pages is a reveal.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from PIL import Image
from werkzeug.datastructures import FileStorage

from forum.accounts.models import Role, User
from forum.cases import attachments, polls, services
from forum.cases.communities import community_by_slug, ensure_communities
from forum.cases.models import Post, Thread
from forum.digest import schedule
from forum.digest import services as digest
from forum.extensions import db, utcnow
from forum.moderation import services as moderation
from forum.moderation.models import FlagReason, ReviewItem, ReviewStatus, WatchAction
from forum.notifications import services as notifications
from forum.notifications.models import Channel, Kind, Notification
from forum.search import service as search
from forum.verification import review_services
from forum.verification import services as verification
from forum.verification.documents import Upload
from forum.verification.models import ClaimDocument
from tests.conftest import Mailbox
from tests.factories import Member, make_user


@pytest.fixture(autouse=True)
def _clock(early_in_a_totp_step: None) -> None:
    """See tests/conftest.py: early_in_a_totp_step (every visitor signs in with a code)."""


# --- Who visits -----------------------------------------------------------------------------------

ANONYMOUS = "anonymous"  # nobody signed in
PASSWORD_ONLY = "password_only"  # a verified physician who has not typed the code yet
UNVERIFIED = "unverified"  # signed in with both steps, not (yet) a verified physician
SUSPENDED = "suspended"  # a verified physician whose account is suspended
MEMBER = "member"  # A: a verified physician, reading other members' content
AUTHOR = "author"  # B: wrote most of the content, under their own name
ANONYMOUS_AUTHOR = "anonymous_author"  # C: wrote only anonymously
MODERATOR = "moderator"

VISITORS = (
    ANONYMOUS,
    PASSWORD_ONLY,
    UNVERIFIED,
    SUSPENDED,
    MEMBER,
    AUTHOR,
    ANONYMOUS_AUTHOR,
    MODERATOR,
)

# Who may meet what.
CLINICAL = frozenset({MEMBER, AUTHOR, ANONYMOUS_AUTHOR, MODERATOR})
AUTHOR_AND_MODERATORS = frozenset({AUTHOR, MODERATOR})
ANONYMOUS_AUTHOR_AND_MODERATORS = frozenset({ANONYMOUS_AUTHOR, MODERATOR})
NOBODY: frozenset[str] = frozenset()

HOLD_WORD = "holdqz"  # a watched word: posts with it wait for a moderator
SEARCH_WORD = "zqsearch"  # in every post, so one search finds everything searchable
ANONYMOUS_AUTHOR_NAME = "Dr Quasimodo Hiddenname"
ANONYMOUS_AUTHOR_EMAIL = "qhidden.author@hospital.example"


Values = dict[str, Sequence[str | int]]


@dataclass
class World:
    """The members, the ids of their content, and who may read each marker."""

    members: dict[str, Member]
    audience: dict[str, frozenset[str]] = field(default_factory=dict)
    # URL variable name -> values that point at other members' content.
    values: Values = field(default_factory=dict)
    threads: dict[str, int] = field(default_factory=dict)
    posts: dict[str, int] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)
    # What a served file shows: an image's or a document's marker.
    image_markers: dict[int, str] = field(default_factory=dict)
    document_markers: dict[int, str] = field(default_factory=dict)
    # Content only its author and moderators may act on (held, rejected, removed, deleted).
    held_posts: set[int] = field(default_factory=set)
    held_threads: set[int] = field(default_factory=set)
    # E-mail address -> the visitor whose allowances a message to it gets.
    mail_audience: dict[str, str] = field(default_factory=dict)
    # (visitor, marker) pairs the visitor may meet but need not (every other pair must be met).
    optional: set[tuple[str, str]] = field(default_factory=set)
    # Pages where a visitor may meet markers beyond their audience: (visitor, path) -> markers.
    exempt: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    post_threads: dict[int, int] = field(default_factory=dict)
    post_authors: dict[int, int] = field(default_factory=dict)
    anonymous_posts: set[int] = field(default_factory=set)

    def mark(self, audience: frozenset[str], *words: str) -> str:
        """Register marker words; returns them joined, with the search word, as a text."""
        for word in words:
            assert word not in self.audience, f"{word} is used twice"
            self.audience[word] = audience
        return " ".join((*words, SEARCH_WORD))

    def id_of(self, name: str) -> int:
        return self.members[name].id


# --- Files --------------------------------------------------------------------------------------


def png_upload(name: str) -> FileStorage:
    out = io.BytesIO()
    Image.new("RGB", (12, 9), (40, 90, 160)).save(out, "PNG")
    out.seek(0)
    return FileStorage(stream=out, filename=name, content_type="image/png")


def pdf_upload(name: str) -> Upload:
    data = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    return Upload(name, io.BytesIO(data))


# --- Building it --------------------------------------------------------------------------------


def _user(member: Member) -> User:
    user = db.session.get(User, member.id)
    assert user is not None
    return user


def _member(specialty: str | None, **options: object) -> Member:
    made = make_user(**options)  # type: ignore[arg-type]
    user = _user(made)
    user.specialty = specialty
    db.session.commit()
    return made


def _item_for(post_id: int | None = None, thread_id: int | None = None) -> ReviewItem:
    query = sa.select(ReviewItem).where(ReviewItem.status == ReviewStatus.OPEN)
    if post_id is not None:
        query = query.where(ReviewItem.post_id == post_id)
    else:
        query = query.where(ReviewItem.thread_id == thread_id, ReviewItem.post_id.is_(None))
    item = db.session.scalars(query.order_by(ReviewItem.id)).first()
    assert item is not None, "nothing waits for a moderator"
    return item


def _case(
    world: World,
    author: Member,
    audience: frozenset[str],
    name: str,
    *,
    anonymous: bool = False,
    image: str | None = None,
    poll: tuple[str, str, str] | None = None,
    hold: bool = False,
) -> Thread:
    """A case whose every field carries a marker `<name><field>mk`."""
    words = {part: f"{name}{part}mk" for part in ("title", "presenting", "history", "question")}
    sections = {
        "presenting": world.mark(audience, words["presenting"]),
        "history": world.mark(audience, words["history"]),
        "question": world.mark(audience, words["question"]) + (f" {HOLD_WORD}" if hold else ""),
    }
    tag = f"{name}tagmk"
    world.mark(audience, tag)
    extras = services.Extras()
    if image is not None or poll is not None:
        images: list[attachments.PreparedImage] = []
        if image is not None:
            world.mark(audience, image)
            images, errors = attachments.prepare([png_upload(f"{image}.png")])
            assert errors == []
        draft_poll = None
        if poll is not None:
            question, *options = poll
            world.mark(audience, *poll)
            draft_poll = polls.PollDraft(question, tuple(options), False, None)
        extras = services.Extras(draft_poll, tuple(images))
    community = community_by_slug("cardiology")
    assert community is not None
    draft = services.CaseDraft(
        title=f"Case {world.mark(audience, words['title'])}",
        age_band="40s",
        sex="female",
        setting="outpatient",
        sections=sections,
        tags=tag,
        anonymous=anonymous,
    )
    thread = services.open_case(_user(author), community, draft, extras)
    world.threads[name] = thread.id
    opening = services.opening_post(thread)
    assert opening is not None
    world.posts[name] = opening.id
    if thread.poll is not None:
        world.polls[name] = thread.poll.id
    for found in opening.images:
        world.image_markers[found.id] = found.label
    return thread


def _reply(
    world: World,
    author: Member,
    thread: Thread,
    audience: frozenset[str],
    name: str,
    *,
    anonymous: bool = False,
    hold: bool = False,
    prefix: str = "",
    quoted: int | None = None,
) -> Post:
    body = prefix + world.mark(audience, name) + (f" {HOLD_WORD}" if hold else "")
    post = services.reply(_user(author), thread, body, anonymous=anonymous, quoted_post_id=quoted)
    world.posts[name] = post.id
    return post


def _prepare_members(world: World) -> None:
    for name in (MEMBER, AUTHOR, ANONYMOUS_AUTHOR):
        user = _user(world.members[name])
        notifications.set_preferences(
            user,
            {
                Kind.REPLY: Channel.EMAIL,
                Kind.MENTION: Channel.EMAIL,
                Kind.ACCEPTED: Channel.EMAIL,
                Kind.SPECIALTY_ALERT: Channel.EMAIL,
                Kind.POLL_CLOSED: Channel.EMAIL,
            },
        )
    anonymous_author = _user(world.members[ANONYMOUS_AUTHOR])
    anonymous_author.first_name, anonymous_author.last_name = ANONYMOUS_AUTHOR_NAME.split()[1:]
    db.session.commit()
    identity = ("quasimodo", "hiddenname", ANONYMOUS_AUTHOR_EMAIL.split("@")[0])
    for word in identity:
        world.audience[word] = frozenset({ANONYMOUS_AUTHOR})
    # A moderator's page about a member, opened by the member's id, names them; it says
    # nothing of what they wrote anonymously.
    member_page = f"/moderation/members/{anonymous_author.id}"
    world.exempt[(MODERATOR, member_page)] = frozenset(identity)
    world.audience["bravo.private"] = frozenset({AUTHOR})  # B's address
    world.audience["alpha.private"] = frozenset({MEMBER})  # A's address


def _verify_the_author(world: World, verifier: Member) -> None:
    """B sends a claim with a licence document; a verifier approves it."""
    author = _user(world.members[AUTHOR])
    document = "bravodocmk"
    world.audience[document] = frozenset({AUTHOR})
    world.optional.add((AUTHOR, document))  # an approved claim's page lists no documents
    details = verification.ClaimDetails(
        npi="1234567893",
        first_name="Bravo",
        last_name="Author",
        practice_state="NE",
        specialty="cardiology",
    )
    claim = verification.submit_claim(author, details, [pdf_upload(f"{document}.pdf")])
    claim_id = claim.id
    reason = world.mark(frozenset({AUTHOR}), "bverifyreasonmk")
    review_services.decide(_user(verifier), claim, review_services.Decision.APPROVE, reason)
    world.values["claim_id"] = [claim_id]
    documents = db.session.scalars(
        sa.select(ClaimDocument.id).where(ClaimDocument.claim_id == claim_id)
    ).all()
    assert documents
    world.values["document_id"] = list(documents)
    for document_id in documents:
        world.document_markers[document_id] = document


def _write_content(world: World) -> None:
    members = world.members
    member, author = members[MEMBER], members[AUTHOR]
    anonymous_author, moderator = members[ANONYMOUS_AUTHOR], members[MODERATOR]
    held = AUTHOR_AND_MODERATORS

    # B's case, published, with a poll; replies in every state.
    first = _case(
        world, author, CLINICAL, "clin", poll=("clinpollmk", "clinoptionamk", "clinoptionbmk")
    )
    answer = _reply(world, member, first, CLINICAL, "clinreplyamk")
    anonymous_reply = _reply(
        world, anonymous_author, first, CLINICAL, "clinanonreplymk", anonymous=True
    )
    removed = _reply(world, author, first, held, "bremovedmk")
    revised = _reply(world, author, first, held, "brevisionmk")
    services.edit_post(_user(author), revised, world.mark(CLINICAL, "clineditedmk"))
    pending = _reply(world, author, first, held, "bpendingmk", hold=True)
    rejected = _reply(world, author, first, NOBODY, "purgedreplymk", hold=True)
    # A deleted post is a tombstone, its text for moderators only (its author included).
    deleted = _reply(world, author, first, frozenset({MODERATOR}), "bdeletedmk")
    services.delete_post(_user(author), deleted)
    quote = services.quote_source(anonymous_reply, f"/p/{anonymous_reply.id}")
    _reply(world, member, first, CLINICAL, "clinquotemk", prefix=quote, quoted=anonymous_reply.id)
    world.held_posts |= {removed.id, pending.id, rejected.id, deleted.id}

    services.set_bookmark(_user(member), removed, True)
    services.set_bookmark(_user(member), revised, True)
    services.set_bookmark(_user(author), anonymous_reply, True)
    services.set_helpful(_user(member), revised, True)
    poll = first.poll
    assert poll is not None
    polls.cast_ballot(_user(member), poll, [poll.options[0].id], utcnow())
    services.accept(_user(author), answer)
    services.set_outcome(_user(author), first, world.mark(CLINICAL, "clinoutcomemk"))
    note = "aflagnotemk"
    world.audience[note] = frozenset({MEMBER, MODERATOR})
    world.optional.add((MEMBER, note))  # the flagger is not shown their note again
    moderation.flag_post(_user(member), anonymous_reply, FlagReason.OTHER, note)

    # C's anonymous case, followed by A; C's replies, one held; C's held anonymous discussion.
    second = _case(world, anonymous_author, CLINICAL, "clinanon", anonymous=True)
    services.set_follow(_user(member), second, True)
    _reply(world, anonymous_author, second, CLINICAL, "clinanontwomk", anonymous=True)
    _reply(world, member, second, CLINICAL, "clinreplybmk")
    anonymous_held = ANONYMOUS_AUTHOR_AND_MODERATORS
    held_anonymous_reply = _reply(
        world, anonymous_author, second, anonymous_held, "cpendingmk", anonymous=True, hold=True
    )
    world.held_posts.add(held_anonymous_reply.id)
    community = community_by_slug("neurology")
    assert community is not None
    draft = services.DiscussionDraft(
        title=world.mark(anonymous_held, "cheldtitlemk") + f" {HOLD_WORD}",
        body=world.mark(anonymous_held, "cheldbodymk"),
        anonymous=True,
    )
    held_discussion = services.open_discussion(
        _user(anonymous_author), community, draft, services.Extras()
    )
    world.threads["cheld"] = held_discussion.id
    world.held_threads.add(held_discussion.id)

    # B's cases with images: one approved by a moderator, one still held (with a poll).
    third = _case(world, author, CLINICAL, "climage", image="climagelabelmk")
    moderation.approve(_user(moderator), _item_for(world.posts["climage"]))
    fourth = _case(
        world,
        author,
        held,
        "bheldimage",
        image="bheldimagelabelmk",
        poll=("bheldpollmk", "bheldoptionamk", "bheldoptionbmk"),
    )
    world.held_threads.add(fourth.id)
    world.held_posts.add(world.posts["bheldimage"])
    assert third.is_published
    assert not fourth.is_published

    # B's case with a held outcome; B's named discussion; B's discussion rejected and purged.
    fifth = _case(world, author, CLINICAL, "clinfifth")
    services.set_outcome(_user(author), fifth, world.mark(held, "bheldoutcomemk") + f" {HOLD_WORD}")
    assert fifth.outcome_visibility == "pending"
    community = community_by_slug("cardiology")
    assert community is not None
    discussion = services.open_discussion(
        _user(author),
        community,
        services.DiscussionDraft(
            title=world.mark(CLINICAL, "clindiscussiontitlemk"),
            body=world.mark(CLINICAL, "clindiscussionbodymk"),
        ),
        services.Extras(),
    )
    world.threads["clindiscussion"] = discussion.id
    purged = services.open_discussion(
        _user(author),
        community,
        services.DiscussionDraft(
            title=world.mark(NOBODY, "purgedtitlemk") + f" {HOLD_WORD}",
            body=world.mark(NOBODY, "purgedbodymk"),
        ),
        services.Extras(),
    )
    world.threads["purged"] = purged.id
    world.held_threads.add(purged.id)
    purged_opening = services.opening_post(purged)
    assert purged_opening is not None
    world.held_posts.add(purged_opening.id)

    # The moderator decides: hide one reply, reject another and the held discussion.
    hide_reason = world.mark(held, "bhidereasonmk")
    moderation.hide_post(_user(moderator), removed, hide_reason)
    reject_reason = world.mark(held, "brejectreasonmk")
    moderation.reject(_user(moderator), _item_for(rejected.id), reject_reason)
    moderation.reject(_user(moderator), _item_for(purged_opening.id), reject_reason)


def _send_digests() -> None:
    """Send this week's digests now: the week whose send moment is the next one to come."""
    now = utcnow()
    for days in (0, 7, 14):
        week = schedule.week_of((now + timedelta(days=days)).date())
        send_at = schedule.Schedule().send_at(week)
        if send_at > now:
            digest.send_digests(send_at + timedelta(minutes=5), week=week)
            return
    raise AssertionError("no digest week found")


def _collect_ids(world: World) -> None:
    thread_ids = list(db.session.scalars(sa.select(Thread.id).order_by(Thread.id)))
    rows = db.session.execute(
        sa.select(Post.id, Post.thread_id, Post.author_id, Post.anonymous)
    ).all()
    world.post_threads = {row.id: row.thread_id for row in rows}
    world.post_authors = {row.id: row.author_id for row in rows}
    world.anonymous_posts = {row.id for row in rows if row.anonymous}
    post_ids = sorted(world.post_threads)
    item_ids = list(db.session.scalars(sa.select(ReviewItem.id).order_by(ReviewItem.id)))
    others = (world.id_of(AUTHOR), world.id_of(ANONYMOUS_AUTHOR))
    notification_ids = db.session.scalars(
        sa.select(Notification.id).where(Notification.user_id.in_(others))
    ).all()
    watched = [word.id for word in moderation.watched_words()]
    world.values.update(
        thread_id=list(thread_ids),
        post_id=list(post_ids),
        image_id=list(world.image_markers),
        poll_id=list(world.polls.values()),
        item_id=list(item_ids),
        user_id=[*others, world.id_of(MODERATOR)],
        notification_id=list(notification_ids),
        word_id=watched,
        term_id=[1],
        slug=["cardiology", "neurology"],
        token=["x"],
    )


def build_world(app: Flask) -> World:
    """Make the members and their content (see the module's docstring)."""
    with app.app_context():
        ensure_communities()
        members = {
            MEMBER: _member(
                "cardiology",
                email="alpha.private@hospital.example",
                display_name="Dr Alpha Reader",
                verified=True,
            ),
            AUTHOR: _member(
                None, email="bravo.private@hospital.example", display_name="Dr Bravo Author"
            ),
            ANONYMOUS_AUTHOR: _member(
                "neurology",
                email=ANONYMOUS_AUTHOR_EMAIL,
                display_name=ANONYMOUS_AUTHOR_NAME,
                verified=True,
            ),
            MODERATOR: _member("cardiology", verified=True, roles=(Role.MODERATOR,)),
            PASSWORD_ONLY: _member("cardiology", verified=True),
            UNVERIFIED: _member(None),
            SUSPENDED: _member("cardiology", verified=True, suspended=True),
            "verifier": _member(None, verified=True, roles=(Role.VERIFIER,)),
        }
        world = World(members)
        # Mail reaches the member, whatever their session: a verified physician's inbox may
        # hold clinical text, so the password-only member and the verifier read as A does.
        world.mail_audience = {
            member.email.lower(): name for name, member in members.items() if name in VISITORS
        }
        world.mail_audience[members[PASSWORD_ONLY].email.lower()] = MEMBER
        world.mail_audience[members["verifier"].email.lower()] = MEMBER
        moderation.add_watched_word(_user(members[MODERATOR]), HOLD_WORD, False, WatchAction.HOLD)
        _prepare_members(world)
        _verify_the_author(world, members["verifier"])
        _write_content(world)
        while search.drain():
            pass
        _send_digests()
        _collect_ids(world)
    words = list(world.audience)
    clashes = [(a, b) for a in words for b in words if a != b and a in b]
    assert clashes == [], "a marker inside another cannot be told apart"
    return world


@pytest.fixture
def world(app: Flask, mailbox: Mailbox) -> World:
    """The world, on the test's database (the mailbox is emptied first, so it keeps its mail)."""
    del mailbox
    return build_world(app)

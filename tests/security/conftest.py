"""Hostile-input tests: a small forum with something of every kind, and the members to attack it.

The world is built lazily, piece by piece, so a test pays only for what it asks for. Every
member signs in through the real forms, so tests start early in a fresh TOTP step.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from forum.accounts.models import Role
from forum.accounts.tokens import Purpose, make_token
from forum.cases import services
from forum.cases.communities import community_by_slug
from forum.cases.models import Poll, PollOption, Post, PostImage, Thread, Visibility
from forum.cases.polls import PollDraft
from forum.extensions import db
from forum.moderation import policy
from forum.moderation.models import AllowedTerm, ReviewReason, WatchedWord
from forum.notifications.models import Kind, Notification
from forum.verification.models import ClaimDocument, ClaimStatus, HospitalDomain
from tests.cases.conftest import Kit, kit  # noqa: F401
from tests.conftest import FormClient
from tests.factories import Member, make_user, sign_in, sign_in_password, unused_code
from tests.verification.member_helpers import WIEBE, add_registry, only_claim, set_claim, submit

_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def _clock(early_in_a_totp_step: None) -> None:
    """See tests/conftest.py: early_in_a_totp_step."""


def no_rate_limits(app: Flask) -> None:
    """Hostile tests send hundreds of requests a minute from one address; the limits have tests."""
    for name in list(app.config):
        if name.startswith("RATELIMIT_") and "per" in str(app.config[name]):
            app.config[name] = "1000000 per minute"


def row_counts() -> dict[str, int]:
    """Rows in every table, in one round trip (inside an app context)."""
    query = " UNION ALL ".join(
        f"SELECT '{table.name}', count(*) FROM \"{table.name}\""  # noqa: S608 - our own tables
        for table in db.metadata.sorted_tables
    )
    rows = db.session.execute(sa.text(query)).all()
    db.session.rollback()  # no transaction left open to hold SQLite's lock
    return {str(name): int(count) for name, count in rows}


def stored_files(app: Flask) -> list[Path]:
    """Every private file the site keeps: case images and proof documents."""
    root = Path(app.instance_path)
    return sorted(
        p
        for folder in ("images", "documents")
        if (root / folder).exists()
        for p in (root / folder).iterdir()
    )


def inconsistencies(app: Flask) -> list[str]:
    """What a half-done write would leave: threads without exactly one opening post, polls
    with fewer than two options, files without rows and rows without files."""
    problems = []
    with app.app_context():
        openings = (
            sa.select(sa.func.count())
            .select_from(Post)
            .where(Post.thread_id == Thread.id, Post.is_opening.is_(True))
            .scalar_subquery()
        )
        for thread_id in db.session.scalars(sa.select(Thread.id).where(openings != 1)):
            problems.append(f"thread {thread_id} has no single opening post")
        options = (
            sa.select(sa.func.count())
            .select_from(PollOption)
            .where(PollOption.poll_id == Poll.id)
            .scalar_subquery()
        )
        for poll_id in db.session.scalars(sa.select(Poll.id).where(options < 2)):
            problems.append(f"poll {poll_id} has fewer than two options")
        images = set(db.session.scalars(sa.select(PostImage.storage_name)))
        documents = {
            name
            for name in db.session.scalars(
                sa.select(ClaimDocument.storage_name).where(ClaimDocument.purged_at.is_(None))
            )
            if name
        }
    root = Path(app.instance_path)
    for folder, rows in (("images", images), ("documents", documents)):
        files = {p.name for p in (root / folder).iterdir()} if (root / folder).exists() else set()
        problems += [f"{folder}/{name} has no row" for name in sorted(files - rows)]
        problems += [f"{folder}/{name} is missing" for name in sorted(rows - files)]
    return problems


@dataclass
class World:
    """Members signed in at every level and content of every kind, made when first asked for.

    `admin` holds every staff role, is a verified cardiologist and writes the case, so it can
    reach every clinical and staff form; the others are for forms of particular members.
    """

    app: Flask
    kit: Kit
    _clients: dict[str, FormClient] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)

    # --- Members and their clients --------------------------------------------------------------

    @cached_property
    def admin(self) -> Member:
        roles = (Role.ADMIN, Role.MODERATOR, Role.VERIFIER)
        return self.kit.member("cardiology", roles=roles, display_name="Dr Admin")

    @cached_property
    def colleague(self) -> Member:
        return self.kit.member("cardiology", display_name="Dr Colleague")

    @cached_property
    def target(self) -> Member:
        """A member staff act on (roles, suspensions, two-factor resets)."""
        return self.kit.member("neurology", display_name="Dr Target")

    def client(self, name: str) -> FormClient:
        """A signed-in client by name, made once: see _arrive for the names."""
        if name not in self._clients:
            self._clients[name] = self._arrive(name)
        return self._clients[name]

    def fresh(self, name: str) -> FormClient:
        """A new client of that kind, for forms that end the session or its second factor."""
        self._clients.pop(name, None)
        return self.client(name)

    def _arrive(self, name: str) -> FormClient:
        app = self.app
        if name in ("anonymous", "resetting"):
            fresh: FormClient = app.test_client()  # type: ignore[assignment]
            if name == "resetting":  # followed a reset link (one that no longer works)
                with fresh.session_transaction() as session:
                    session["reset_token"] = "a-link-that-expired"
            return fresh
        if name == "admin":
            return self.kit.client(self.admin)
        if name == "colleague":
            return self.kit.client(self.colleague)
        options: dict[str, Any] = {
            "member": {},
            "reauthenticated": {},
            "claimant": {},
            "asked": {},
            "reviewed": {},
            "newcomer": {},
            "password_only": {},
            "not_enrolled": {"enrolled": False},
            "unconfirmed": {"confirmed": False, "enrolled": False},
        }[name]
        with app.app_context():
            member = make_user(f"hostile-{name}{next(_numbers)}@hospital.example", **options)
        self.members[name] = member
        client: FormClient = app.test_client()  # type: ignore[assignment]
        if name in ("password_only", "not_enrolled", "unconfirmed"):
            assert sign_in_password(client, member).status_code == 302
            return client
        assert sign_in(client, member, app).status_code == 302
        if name == "reauthenticated":
            code = unused_code(app, member)
            again = client.post(
                "/account/reauthenticate", data={"password": member.password, "code": code}
            )
            assert again.status_code == 302, "could not reauthenticate"
        if name in ("claimant", "asked", "reviewed"):
            self.registry  # noqa: B018 - the registry row the claim matches
            assert submit(client).status_code == 302
            if name == "asked":
                claim = only_claim(app, member)
                set_claim(
                    app,
                    claim.id,
                    status=ClaimStatus.MORE_INFO,
                    decision_reason="Your badge, please.",
                )
            self.claims[name] = only_claim(app, member).id
        return client

    @cached_property
    def claims(self) -> dict[str, int]:
        return {}

    @cached_property
    def registry(self) -> int:
        return add_registry(self.app, WIEBE)

    def claim(self, name: str) -> int:
        """The open claim of "claimant" or "reviewed" (pending) or "asked" (more information)."""
        self.client(name)
        return self.claims[name]

    # --- Content --------------------------------------------------------------------------------

    @cached_property
    def case_id(self) -> int:
        """The admin's published case."""
        return self.kit.case(self.admin, title="Exertional syncope in a runner")

    @cached_property
    def poll_id(self) -> int:
        """A discussion by the colleague with an open two-option poll; returns the poll's id."""
        colleague = self.colleague  # made first: kit.member opens its own app context
        with self.kit.db():
            community = community_by_slug("cardiology")
            assert community is not None
            poll = PollDraft("Would you anticoagulate?", ("Yes", "No"), False, None)
            draft = services.DiscussionDraft(title="Anticoagulation", body="Views welcome.")
            author = self.kit.user(colleague)
            thread = services.open_discussion(author, community, draft, services.Extras(poll))
            assert thread.poll is not None
            return thread.poll.id

    def reply(self, key: str, *, by: str = "colleague", anonymous: bool = False) -> int:
        """A published reply on the case, one per key (actions that use it up get their own)."""
        if key not in self._replies:
            author = self.admin if by == "admin" else self.colleague
            self._replies[key] = self.kit.reply(
                author, self.case_id, f"Consider an echo ({key}).", anonymous=anonymous
            )
        return self._replies[key]

    @cached_property
    def _replies(self) -> dict[str, int]:
        return {}

    def thread(self, key: str) -> int:
        """A discussion of the colleague's, one per key (lock, move)."""
        if key not in self._threads:
            self._threads[key] = self.kit.discussion(self.colleague, title=f"Thread {key}")
        return self._threads[key]

    @cached_property
    def _threads(self) -> dict[str, int]:
        return {}

    def review_item(self, key: str) -> int:
        """An open review item holding a pending reply, one per key."""
        post_id = self.reply(f"held {key}")
        with self.kit.db():
            post = db.session.get(Post, post_id)
            assert post is not None
            post.visibility = Visibility.PENDING
            item = policy.enqueue(post.thread, post, [ReviewReason.PHI])
            assert item is not None
            db.session.commit()
            return item.id

    @cached_property
    def watched_word_id(self) -> int:
        with self.kit.db():
            word = WatchedWord(pattern="warfarin", is_regex=False, action="flag")
            db.session.add(word)
            db.session.commit()
            return word.id

    @cached_property
    def allowed_term_id(self) -> int:
        with self.kit.db():
            term = AllowedTerm(term="Dr Example")
            db.session.add(term)
            db.session.commit()
            return term.id

    @cached_property
    def hospital_domain_id(self) -> int:
        with self.kit.db():
            domain = HospitalDomain(domain="general.example", organisation="General Hospital")
            db.session.add(domain)
            db.session.commit()
            return domain.id

    @cached_property
    def notification_id(self) -> int:
        """A notification for the "member" client."""
        self.client("member")
        with self.kit.db():
            note = Notification(user_id=self.members["member"].id, kind=str(Kind.REPLY))
            db.session.add(note)
            db.session.commit()
            return note.id

    def unsubscribe_path(self) -> str:
        """The admin's one-click unsubscribe link."""
        with self.app.app_context():
            token = make_token(Purpose.DIGEST_UNSUBSCRIBE, {"user": self.admin.id})
        return f"/digest/unsubscribe/{token}"


@pytest.fixture
def world(app: Flask, kit: Kit) -> World:  # noqa: F811
    no_rate_limits(app)
    return World(app, kit)

"""Case tests: communities in place, physicians with specialties, and a kit to make content.

Tests sign in with TOTP codes, so each starts early in a fresh TOTP step.
"""

from __future__ import annotations

import html
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.test import TestResponse

from forum.accounts.models import Role, User
from forum.cases import services
from forum.cases.communities import community_by_slug, ensure_communities
from forum.cases.models import Post, Thread
from forum.extensions import db
from forum.phi import Action, Finding, Kind
from tests.conftest import FormClient
from tests.factories import Member, make_user, sign_in

# The module whose scan() the gate calls (forum.phi re-exports the function under the same name).
GATE_MODULE = importlib.import_module("forum.phi.gate")

CASE_FORM = {
    "title": "Recurrent syncope on exertion",
    "age_band": "40s",
    "sex": "female",
    "setting": "outpatient",
    "presenting": "Two episodes of syncope while climbing stairs.",
    "history": "No prior cardiac history. Day 3: a further near-syncope.",
    "examination": "Ejection systolic murmur; ECG shows LVH.",
    "management": "Referred for echocardiography.",
    "question": "Would you proceed to exercise testing?",
    "tags": "syncope, murmur",
}


@pytest.fixture(autouse=True)
def _clock(early_in_a_totp_step: None) -> None:
    """See tests/conftest.py: early_in_a_totp_step."""


def text(response: TestResponse) -> str:
    """The page as text, entities decoded."""
    return html.unescape(response.get_data(as_text=True))


@dataclass
class Kit:
    """Makes members, signs them in and creates content, each step in its own app context."""

    app: Flask

    def member(
        self,
        specialty: str | None = "cardiology",
        *,
        display_name: str | None = None,
        roles: tuple[Role, ...] = (),
        verified: bool = True,
        email: str | None = None,
    ) -> Member:
        with self.app.app_context():
            made = make_user(email, display_name=display_name, roles=roles, verified=verified)
            user = db.session.get(User, made.id)
            assert user is not None
            user.specialty = specialty
            db.session.commit()
        return made

    def client(self, member: Member) -> FormClient:
        client: FormClient = self.app.test_client()  # type: ignore[assignment]
        response = sign_in(client, member, self.app)
        assert response.status_code == 302, "could not sign in"
        return client

    @contextmanager
    def db(self) -> Iterator[None]:
        with self.app.app_context():
            yield

    def user(self, member: Member) -> User:
        """The member's row (call inside kit.db())."""
        user = db.session.get(User, member.id)
        assert user is not None
        return user

    def case(
        self,
        author: Member,
        slug: str = "cardiology",
        *,
        anonymous: bool = False,
        title: str = "Chest pain at rest",
        **sections: str,
    ) -> int:
        """A published case made through the service; returns its thread id."""
        with self.db():
            community = community_by_slug(slug)
            assert community is not None
            draft = services.CaseDraft(
                title=title,
                age_band="50s",
                sex="male",
                setting="emergency",
                sections={"presenting": "Chest pain.", "question": "Next step?", **sections},
                tags="chest-pain",
                anonymous=anonymous,
            )
            return services.open_case(self.user(author), community, draft, services.Extras()).id

    def discussion(
        self, author: Member, slug: str = "cardiology", *, anonymous: bool = False, title: str = ""
    ) -> int:
        with self.db():
            community = community_by_slug(slug)
            assert community is not None
            draft = services.DiscussionDraft(
                title=title or "Anticoagulation after falls",
                body="How do colleagues weigh falls risk?",
                anonymous=anonymous,
            )
            thread = services.open_discussion(
                self.user(author), community, draft, services.Extras()
            )
            return thread.id

    def reply(
        self, author: Member, thread_id: int, body: str = "Consider an echo.", **options: Any
    ) -> int:
        with self.db():
            thread = db.session.get(Thread, thread_id)
            assert thread is not None
            return services.reply(self.user(author), thread, body, **options).id

    def thread(self, thread_id: int) -> Thread:
        """A thread (call inside kit.db())."""
        thread = db.session.get(Thread, thread_id)
        assert thread is not None
        return thread

    def post(self, post_id: int) -> Post:
        """A post (call inside kit.db())."""
        post = db.session.get(Post, post_id)
        assert post is not None
        return post

    def opening(self, thread_id: int) -> Post:
        """A thread's opening post (call inside kit.db())."""
        post = db.session.scalar(
            sa.select(Post).where(Post.thread_id == thread_id, Post.is_opening.is_(True))
        )
        assert post is not None
        return post

    def count(self, model: type[Any], *where: Any) -> int:
        with self.db():
            return int(
                db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0
            )


@pytest.fixture
def kit(app: Flask) -> Kit:
    """The communities exist; the kit makes the rest."""
    with app.app_context():
        ensure_communities()
    return Kit(app)


def finding_for(word: str, action: Action) -> Callable[[str], list[Finding]]:
    """A stand-in scanner that reports every occurrence of `word` with the given action."""

    def scan(source: str) -> list[Finding]:
        found = []
        start = source.find(word)
        while start != -1:
            found.append(
                Finding(
                    start,
                    start + len(word),
                    Kind.NAME,
                    action,
                    reason="This looks like a patient's name.",
                    suggestion="Write 'the patient' instead.",
                )
            )
            start = source.find(word, start + 1)
        return found

    return scan


@pytest.fixture
def scanner(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, Action], None]:
    """Make the PHI gate flag a word (block or review), whatever the real detector does."""

    def flag(word: str, action: Action) -> None:
        monkeypatch.setattr(GATE_MODULE, "scan", finding_for(word, action))

    return flag


@pytest.fixture
def quiet_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gate finds nothing unless a test says otherwise (the detector has its own tests)."""
    monkeypatch.setattr(GATE_MODULE, "scan", lambda source: [])

"""A few demo cases and discussions, written through the real write path and the PHI gate."""

from __future__ import annotations

import sqlalchemy as sa

from forum.accounts.models import User
from forum.cases import services as cases
from forum.cases.communities import community_by_slug
from forum.cases.models import Thread
from forum.extensions import db

DEMO_CASE = cases.CaseDraft(
    title="Recurrent syncope with a normal resting ECG",
    age_band="60s",
    sex="female",
    setting="outpatient",
    sections={
        "presenting": "Three episodes of syncope over two months, each while standing.",
        "history": "Hypertension on amlodipine 10 mg. No known structural heart disease.",
        "examination": "BP 128/76 supine, 104/70 after 3 minutes standing. ECG: sinus, PR 180 ms.",
        "management": "Amlodipine halved on day 3; 14-day patch monitor started.",
        "question": "Would you proceed to tilt-table testing before the monitor result?",
    },
    tags="syncope, ecg",
)
DEMO_DISCUSSION = cases.DiscussionDraft(
    title="High-sensitivity troponin pathways: 0/1 h or 0/2 h?",
    body="Which rule-out pathway does your emergency department use, and why?",
    tags="troponin, chest-pain",
)
DEMO_REPLY = (
    "We would wait for the monitor: orthostatic drop of this size after a dose change is "
    "common. Repeat orthostatic vitals at 2 weeks."
)


def seed_threads(author_email: str, replier_email: str) -> int:
    """Post the demo threads once (matched by title); returns how many were created."""
    author = db.session.scalar(sa.select(User).where(User.email == author_email))
    replier = db.session.scalar(sa.select(User).where(User.email == replier_email))
    if author is None or replier is None:
        return 0
    created = 0
    if _absent(DEMO_CASE.title):
        community = community_by_slug("cardiology")
        if community is not None:
            thread = cases.open_case(author, community, DEMO_CASE, cases.Extras())
            cases.reply(replier, thread, DEMO_REPLY, anonymous=True)
            created += 1
    if _absent(DEMO_DISCUSSION.title):
        community = community_by_slug("emergency-medicine")
        if community is not None:
            cases.open_discussion(replier, community, DEMO_DISCUSSION, cases.Extras())
            created += 1
    return created


def _absent(title: str) -> bool:
    return db.session.scalar(sa.select(Thread.id).where(Thread.title == title)) is None

"""Who hears of what: each kind reaches the right members, once, and never the wrong ones."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa

from forum.accounts.models import Role
from forum.cases import polls
from forum.cases import services as cases
from forum.cases.communities import community_by_slug
from forum.cases.models import Poll, Post
from forum.extensions import db, utcnow
from forum.moderation import services as moderation
from forum.moderation.models import FlagReason, ReviewItem, ReviewStatus
from forum.notifications import fanout, services
from forum.notifications.models import Channel, Decision, Kind, Notification
from forum.phi import Action
from forum.verification import review_services
from forum.verification.models import ClaimStatus, VerificationClaim
from tests.conftest import Mailbox, body_text
from tests.factories import Member
from tests.notifications.conftest import Kit, follow, kinds_of, prefer, told

Scanner = Callable[[str, Action], None]


def _open_item(kit: Kit) -> ReviewItem:
    """The one open review item (call inside kit.db())."""
    item = db.session.scalar(sa.select(ReviewItem).where(ReviewItem.status == ReviewStatus.OPEN))
    assert item is not None
    return item


def _poll_discussion(kit: Kit, author: Member, closes_in: timedelta) -> int:
    with kit.db():
        community = community_by_slug("cardiology")
        assert community is not None
        draft = polls.PollDraft("Anticoagulate?", ("Yes", "No"), False, utcnow() + closes_in)
        thread = cases.open_discussion(
            kit.user(author),
            community,
            cases.DiscussionDraft(title="Falls and anticoagulation", body="How do you weigh it?"),
            cases.Extras(poll=draft),
        )
        return thread.id


def _vote(kit: Kit, member: Member, thread_id: int) -> None:
    with kit.db():
        poll = db.session.scalar(sa.select(Poll).where(Poll.thread_id == thread_id))
        assert poll is not None
        polls.cast_ballot(kit.user(member), poll, [poll.options[0].id], utcnow())


# --- Replies and mentions ------------------------------------------------------------------------


def test_a_reply_tells_the_followers_but_not_its_author_or_strangers(kit: Kit) -> None:
    author, follower, replier, stranger = (kit.member() for _ in range(4))
    thread_id = kit.discussion(author)  # the author follows their own thread
    follow(kit, follower, thread_id)
    follow(kit, replier, thread_id)

    post_id = kit.reply(replier, thread_id)

    for member in (author, follower):
        [note] = told(kit, member)
        assert (note.kind, note.thread_id, note.post_id) == (Kind.REPLY, thread_id, post_id)
        assert note.read_at is None
    assert told(kit, replier) == []
    assert told(kit, stranger) == []


def test_a_follower_who_is_mentioned_hears_once_as_a_mention(kit: Kit) -> None:
    author = kit.member()
    named = kit.member(display_name="Dr Imogen Hart")
    elsewhere = kit.member(display_name="Dr Otto Brand")
    thread_id = kit.discussion(author)
    follow(kit, named, thread_id)

    kit.reply(kit.member(), thread_id, "I agree with @Dr Imogen Hart and @Dr Otto Brand here.")

    assert kinds_of(kit, named) == [Kind.MENTION]
    assert kinds_of(kit, elsewhere) == [Kind.MENTION]
    assert kinds_of(kit, author) == [Kind.REPLY]


def test_an_edit_that_adds_a_mention_tells_only_the_newly_named(kit: Kit) -> None:
    first = kit.member(display_name="Dr Ada Quill")
    second = kit.member(display_name="Dr Ben Rowe")
    writer = kit.member()
    thread_id = kit.discussion(kit.member())
    post_id = kit.reply(writer, thread_id, "Ask @Dr Ada Quill about this.")
    with kit.db():
        cases.edit_post(kit.user(writer), kit.post(post_id), "Ask @Dr Ada Quill and @Dr Ben Rowe.")

    assert kinds_of(kit, first) == [Kind.MENTION]
    assert kinds_of(kit, second) == [Kind.MENTION]


def test_an_anonymous_reply_is_announced_under_its_alias(kit: Kit) -> None:
    author = kit.member()
    replier = kit.member(display_name="Dr Secret Person")
    thread_id = kit.discussion(author)

    kit.reply(replier, thread_id, "Anonymous view.", anonymous=True)

    [note] = told(kit, author)
    assert note.actor_label is not None
    assert note.actor_label.startswith("Anonymous cardiologist")
    assert "Secret" not in note.actor_label


def test_unverified_and_suspended_followers_hear_nothing_clinical(kit: Kit) -> None:
    author, lapsed = kit.member(), kit.member()
    thread_id = kit.discussion(author)
    follow(kit, lapsed, thread_id)
    with kit.db():
        kit.user(lapsed).verified_at = None
        db.session.commit()

    kit.reply(kit.member(), thread_id)

    assert told(kit, lapsed) == []
    assert kinds_of(kit, author) == [Kind.REPLY]


# --- Held, approved, rejected, hidden ------------------------------------------------------------


def test_a_held_reply_tells_nobody_until_a_moderator_approves_it(
    kit: Kit, scanner: Scanner
) -> None:
    author, replier = kit.member(), kit.member()
    moderator = kit.member(roles=(Role.MODERATOR,))
    thread_id = kit.discussion(author)
    scanner("Zebulon", Action.REVIEW)

    post_id = kit.reply(replier, thread_id, "Ask Zebulon about it.")
    assert told(kit, author) == []

    with kit.db():
        moderation.approve(kit.user(moderator), _open_item(kit))

    [reply] = told(kit, author)
    assert (reply.kind, reply.post_id) == (Kind.REPLY, post_id)
    [decision] = told(kit, replier)
    assert (decision.kind, decision.decision) == (Kind.MODERATION, Decision.APPROVED)


def test_a_rejected_reply_never_reaches_followers_and_its_author_hears_why(
    kit: Kit, scanner: Scanner
) -> None:
    author, replier = kit.member(), kit.member()
    moderator = kit.member(roles=(Role.MODERATOR,))
    thread_id = kit.discussion(author)
    scanner("Zebulon", Action.REVIEW)
    kit.reply(replier, thread_id, "Ask Zebulon about it.")

    with kit.db():
        moderation.reject(kit.user(moderator), _open_item(kit), "It names the patient.")

    assert told(kit, author) == []
    [decision] = told(kit, replier)
    assert (decision.kind, decision.decision) == (Kind.MODERATION, Decision.REJECTED)
    assert decision.reason == "It names the patient."


def test_a_post_approved_again_after_flags_hid_it_is_not_announced_twice(kit: Kit) -> None:
    author, replier = kit.member(), kit.member()
    moderator = kit.member(roles=(Role.MODERATOR,))
    thread_id = kit.discussion(author)
    post_id = kit.reply(replier, thread_id)
    with kit.db():
        flagged = kit.post(post_id)
        moderation.flag_post(kit.user(moderator), flagged, FlagReason.PATIENT_IDENTIFIERS, "")
        assert kit.post(post_id).visibility == "pending"
        moderation.approve(kit.user(moderator), _open_item(kit))

    assert kinds_of(kit, author) == [Kind.REPLY]


def test_hiding_a_post_tells_its_author_with_the_reason(kit: Kit) -> None:
    replier = kit.member()
    moderator = kit.member(roles=(Role.MODERATOR,))
    post_id = kit.reply(replier, kit.discussion(kit.member()))

    with kit.db():
        moderation.hide_post(kit.user(moderator), kit.post(post_id), "Off topic.")

    [note] = told(kit, replier)
    assert (note.kind, note.decision) == (Kind.MODERATION, Decision.HIDDEN)
    assert note.reason == "Off topic."


# --- Accepted answers, polls, outcome reminders --------------------------------------------------


def test_an_accepted_answer_tells_its_author_once_under_the_case_authors_alias(kit: Kit) -> None:
    author = kit.member(display_name="Dr Hidden Author")
    replier = kit.member()
    thread_id = kit.case(author, anonymous=True)
    post_id = kit.reply(replier, thread_id)

    with kit.db():
        for _ in range(2):  # accept, withdraw, accept again: one notification
            cases.accept(kit.user(author), kit.post(post_id))
            cases.unaccept(kit.user(author), kit.thread(thread_id))
        cases.accept(kit.user(author), kit.post(post_id))

    [note] = told(kit, replier, Kind.ACCEPTED)
    assert note.post_id == post_id
    assert note.actor_label is not None
    assert note.actor_label.startswith("Anonymous")
    assert told(kit, author, Kind.ACCEPTED) == []


def test_a_closed_poll_is_announced_to_its_voters_and_the_author_once(kit: Kit) -> None:
    author, voter, stranger = kit.member(), kit.member(), kit.member()
    thread_id = _poll_discussion(kit, author, timedelta(hours=1))
    _vote(kit, voter, thread_id)
    _vote(kit, author, thread_id)

    with kit.db():
        assert services.announce_closed_polls() == 0  # still open
        later = utcnow() + timedelta(hours=2)
        assert services.announce_closed_polls(later) == 1
        assert services.announce_closed_polls(later) == 0

    assert kinds_of(kit, author) == [Kind.POLL_CLOSED]
    assert kinds_of(kit, voter) == [Kind.POLL_CLOSED]
    assert told(kit, stranger) == []


def test_the_cron_command_announces_closed_polls(kit: Kit) -> None:
    author = kit.member()
    thread_id = _poll_discussion(kit, author, timedelta(hours=1))
    with kit.db():
        poll = db.session.scalar(sa.select(Poll).where(Poll.thread_id == thread_id))
        assert poll is not None
        poll.closes_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    runner = kit.app.test_cli_runner()

    first = runner.invoke(args=["notifications", "poll-closings"])
    again = runner.invoke(args=["notifications", "poll-closings"])

    assert first.output.strip() == "1 closed poll announced."
    assert again.output.strip() == "0 closed polls announced."
    assert kinds_of(kit, author) == [Kind.POLL_CLOSED]


def _solved_long_ago(kit: Kit, author: Member) -> int:
    thread_id = kit.case(author)
    post_id = kit.reply(kit.member(), thread_id)
    with kit.db():
        cases.accept(kit.user(author), kit.post(post_id))
        kit.thread(thread_id).solved_at = utcnow() - timedelta(days=15)
        db.session.commit()
    return thread_id


def test_an_outcome_reminder_is_a_notification_and_by_default_a_mail(
    kit: Kit, mailbox: Mailbox
) -> None:
    author = kit.member()
    thread_id = _solved_long_ago(kit, author)

    with kit.db():
        assert cases.remind_outcomes() == 1
        assert cases.remind_outcomes() == 0

    [note] = told(kit, author, Kind.OUTCOME_REMINDER)
    assert note.thread_id == thread_id
    assert len(mailbox.to(author.email)) == 1


def test_an_author_who_chose_the_list_gets_the_outcome_reminder_without_mail(
    kit: Kit, mailbox: Mailbox
) -> None:
    author = kit.member()
    prefer(kit, author, Kind.OUTCOME_REMINDER, Channel.APP)
    _solved_long_ago(kit, author)

    with kit.db():
        assert cases.remind_outcomes() == 0

    assert kinds_of(kit, author).count(Kind.OUTCOME_REMINDER) == 1
    assert mailbox.to(author.email) == []


# --- Verification decisions ----------------------------------------------------------------------


def _claim(kit: Kit, member: Member, npi: str) -> int:
    with kit.db():
        claim = VerificationClaim(
            user_id=member.id,
            npi=npi,
            first_name="Test",
            last_name="Member",
            practice_state="NE",
            specialty="cardiology",
            status=ClaimStatus.PENDING,
            match_outcome="mismatch",
            evidence={},
        )
        db.session.add(claim)
        db.session.commit()
        return claim.id


def test_verification_decisions_reach_the_applicant_with_the_reason(kit: Kit) -> None:
    verifier = kit.member(roles=(Role.VERIFIER,))
    approved, refused, asked = (kit.member(verified=False) for _ in range(3))
    decisions = (
        (approved, "1679576722", review_services.Decision.APPROVE),
        (refused, "1750384806", review_services.Decision.REJECT),
        (asked, "1245319599", review_services.Decision.MORE_INFO),
    )
    for member, npi, decision in decisions:
        claim_id = _claim(kit, member, npi)
        with kit.db():
            claim = db.session.get(VerificationClaim, claim_id)
            assert claim is not None
            review_services.decide(kit.user(verifier), claim, decision, "The badge was unreadable.")

    [yes] = told(kit, approved)
    assert (yes.kind, yes.decision, yes.thread_id) == (Kind.VERIFICATION, Decision.APPROVED, None)
    [no] = told(kit, refused)
    assert (no.decision, no.reason) == (Decision.REJECTED, "The badge was unreadable.")
    assert told(kit, asked) == []


# --- Specialty alerts ----------------------------------------------------------------------------


def test_a_new_case_alerts_opted_in_members_of_its_specialty_only(kit: Kit) -> None:
    author = kit.member("cardiology")
    opted_in = kit.member("cardiology")
    not_opted_in = kit.member("cardiology")
    other_specialty = kit.member("neurology")
    for member in (author, opted_in, other_specialty):
        prefer(kit, member, Kind.SPECIALTY_ALERT, Channel.APP)

    thread_id = kit.case(author, "cardiology")
    kit.discussion(author, "cardiology")  # discussions are not alerted

    [alert] = told(kit, opted_in)
    assert (alert.kind, alert.thread_id) == (Kind.SPECIALTY_ALERT, thread_id)
    assert told(kit, not_opted_in) == []
    assert told(kit, other_specialty) == []
    assert told(kit, author, Kind.SPECIALTY_ALERT) == []


def test_specialty_alerts_stop_at_the_daily_cap_and_resume_a_day_later(kit: Kit) -> None:
    author, reader = kit.member(), kit.member()
    prefer(kit, reader, Kind.SPECIALTY_ALERT, Channel.APP)

    for number in range(fanout.SPECIALTY_ALERTS_PER_DAY + 1):
        kit.case(author, title=f"Case number {number}")
    assert len(told(kit, reader)) == fanout.SPECIALTY_ALERTS_PER_DAY

    with kit.db():
        db.session.execute(
            sa.update(Notification).values(created_at=utcnow() - timedelta(hours=25))
        )
        db.session.commit()
    kit.case(author, title="The next day")
    assert len(told(kit, reader)) == fanout.SPECIALTY_ALERTS_PER_DAY + 1


def test_a_held_case_alerts_only_once_a_moderator_approves_it(kit: Kit, scanner: Scanner) -> None:
    author, reader = kit.member(), kit.member()
    moderator = kit.member(roles=(Role.MODERATOR,))
    prefer(kit, reader, Kind.SPECIALTY_ALERT, Channel.APP)
    scanner("Zebulon", Action.REVIEW)

    thread_id = kit.case(author, presenting="Zebulon came in with chest pain.")
    assert told(kit, reader) == []
    with kit.db():
        moderation.approve(kit.user(moderator), _open_item(kit))

    [alert] = told(kit, reader)
    assert alert.thread_id == thread_id


# --- Channels -----------------------------------------------------------------------------------


def test_off_silences_a_kind_and_email_also_sends_a_mail(kit: Kit, mailbox: Mailbox) -> None:
    author, silent, mailed = kit.member(), kit.member(), kit.member()
    thread_id = kit.discussion(author, title="Falls on warfarin")
    for member, channel in ((silent, Channel.OFF), (mailed, Channel.EMAIL)):
        follow(kit, member, thread_id)
        prefer(kit, member, Kind.REPLY, channel)

    kit.reply(kit.member(), thread_id, "Check the **INR** first.")

    assert told(kit, silent) == []
    assert kinds_of(kit, mailed) == [Kind.REPLY]
    body = body_text(mailbox.last_to(mailed.email))
    assert "Falls on warfarin" in body
    assert "Check the INR first." in body
    assert mailbox.to(author.email) == []
    assert mailbox.to(silent.email) == []


def test_a_rolled_back_event_writes_and_mails_nothing(kit: Kit, mailbox: Mailbox) -> None:
    follower = kit.member()
    prefer(kit, follower, Kind.REPLY, Channel.EMAIL)
    thread_id = kit.discussion(kit.member())
    follow(kit, follower, thread_id)
    post_id = kit.reply(kit.member(), thread_id)
    with kit.db():
        db.session.execute(sa.delete(Notification))
        db.session.commit()
    mailbox.clear()

    with kit.db():
        post = db.session.get(Post, post_id)
        assert post is not None
        fanout.published(post)
        db.session.rollback()
    assert told(kit, follower) == []
    assert mailbox.to(follower.email) == []

    with kit.db():
        post = db.session.get(Post, post_id)
        assert post is not None
        fanout.published(post)
        db.session.commit()
    assert kinds_of(kit, follower) == [Kind.REPLY]
    assert len(mailbox.to(follower.email)) == 1

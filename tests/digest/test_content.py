"""What a digest says: its sections, published text only, aliases, links, both MIME parts."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

import pytest

from forum.cases.models import Visibility
from forum.digest import services
from forum.digest.models import DeliveryStatus
from tests.conftest import Mailbox
from tests.digest.conftest import IN_THE_WEEK, SEND_AT, WEEK, DigestKit, at
from tests.factories import Member

BASE = "http://curbside.example"


@dataclass
class Week:
    """A busy week in cardiology, seen by `reader`."""

    reader: Member
    hidden_author: Member
    discussion: int
    followed: int
    anonymous_case: int
    held_thread: int
    old_thread: int
    anonymous_alias: str


@pytest.fixture
def week(kit: DigestKit) -> Week:
    reader = kit.member(email="reader@hospital.example")
    alpha = kit.member(display_name="Dr Alpha Writer")
    beta = kit.member("neurology", display_name="Dr Beta Replier")
    hidden = kit.member(display_name="Dr Hidden Name")
    with at(IN_THE_WEEK - timedelta(days=14)):
        old = kit.discussion(alpha, title="An old discussion from earlier")
        kit.reply(beta, old, "Still relevant.")
    with at(IN_THE_WEEK):
        discussion = kit.discussion(alpha, title="Anticoagulation after falls")
        first = kit.reply(beta, discussion, "Weigh the bleeding risk against the stroke risk.")
        kit.reply(reader, discussion, "We use a shared decision tool.")
        kit.helpful(reader, first)
        followed = kit.discussion(alpha, "neurology", title="Headache with visual aura")
        kit.follow(reader, followed)
        kit.reply(beta, followed, "Consider an MRI with contrast.")
        pending = kit.reply(beta, followed, "SECRET pending words")
        removed = kit.reply(beta, discussion, "SECRET removed words")
        anonymous_case = kit.case(hidden, anonymous=True, title="Palpitations after exercise")
        held = kit.discussion(alpha, title="A HELDTITLE thread")
        kit.reply(beta, held, "SECRET reply in a held thread")
    kit.hold_post(pending)
    kit.hold_post(removed, Visibility.REMOVED)
    kit.hold_thread(held)
    kit.poll(discussion, "Would you restart apixaban?", SEND_AT + timedelta(days=2))
    with kit.db():
        alias = kit.opening(anonymous_case).author_label
    return Week(reader, hidden, discussion, followed, anonymous_case, held, old, alias)


def parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",))
    rich = message.get_body(preferencelist=("html",))
    assert plain is not None
    assert rich is not None
    return str(plain.get_content()), html.unescape(str(rich.get_content()))


def test_the_digest_has_every_section_with_published_text_only(
    kit: DigestKit, week: Week, mailbox: Mailbox
) -> None:
    report = kit.send(week=WEEK)

    assert report.failed == 0
    message = mailbox.last_to(week.reader.email)
    assert WEEK in str(message["Subject"])
    for body in parts(message):
        assert "New replies in threads you follow" in body
        assert "Headache with visual aura" in body
        assert "Consider an MRI with contrast." in body
        assert "Most active new threads in Cardiology" in body
        assert "Anticoagulation after falls" in body
        assert "2 replies" in body  # the removed one does not count
        assert "Most helpful new threads" in body
        assert "1 helpful vote" in body
        assert "Open cases still waiting for an answer" in body
        assert "Palpitations after exercise" in body
        assert "Polls closing soon" in body
        assert "Would you restart apixaban?" in body
        assert "SECRET" not in body
        assert "HELDTITLE" not in body
        assert "An old discussion from earlier" not in body


def test_anonymous_authors_stay_anonymous(kit: DigestKit, week: Week, mailbox: Mailbox) -> None:
    kit.send(week=WEEK)

    for body in parts(mailbox.last_to(week.reader.email)):
        assert week.anonymous_alias.startswith("Anonymous")
        assert week.anonymous_alias in body
        assert "Dr Hidden Name" not in body
        assert "Dr Alpha Writer" in body  # named authors are named


def test_links_are_absolute_and_from_the_base_url(
    kit: DigestKit, week: Week, mailbox: Mailbox
) -> None:
    kit.send(week=WEEK)

    plain, rich = parts(mailbox.last_to(week.reader.email))
    for thread_id in (week.discussion, week.followed, week.anonymous_case):
        assert f"{BASE}/t/{thread_id}" in plain
        assert f'href="{BASE}/t/{thread_id}"' in rich
    assert f"{BASE}/settings/digest" in plain
    assert f"{BASE}/digest/unsubscribe/" in plain
    assert f"/t/{week.held_thread}" not in plain


def test_the_message_has_text_and_html_parts_without_remote_images(
    kit: DigestKit, week: Week, mailbox: Mailbox
) -> None:
    kit.send(week=WEEK)

    message = mailbox.last_to(week.reader.email)
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    _, rich = parts(message)
    assert "<img" not in rich
    assert "<link" not in rich
    assert "<script" not in rich
    assert 'style="' in rich  # inline CSS


def test_one_click_unsubscribe_headers_carry_the_signed_link(
    kit: DigestKit, week: Week, mailbox: Mailbox
) -> None:
    kit.send(week=WEEK)

    message = mailbox.last_to(week.reader.email)
    header = str(message["List-Unsubscribe"])
    assert header.startswith(f"<{BASE}/digest/unsubscribe/")
    assert header.endswith(">")
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    plain, _ = parts(message)
    assert header[1:-1] in plain
    raw = message.as_bytes(policy=message.policy.clone(max_line_length=998)).decode()
    assert f"List-Unsubscribe: {header}" in raw  # one plain token, as clients read it


def test_a_member_with_nothing_to_say_gets_no_email(kit: DigestKit, mailbox: Mailbox) -> None:
    quiet = kit.member("dermatology")

    report = kit.send(week=WEEK)

    assert mailbox.to(quiet.email) == []
    assert report.empty == 1
    assert report.sent == 0
    assert kit.deliveries()[quiet.id].status == DeliveryStatus.SKIPPED_EMPTY
    assert kit.send(week=WEEK).claimed == 0  # decided once for the week


def test_suspended_unverified_and_unsubscribed_members_get_nothing(
    kit: DigestKit, week: Week, mailbox: Mailbox
) -> None:
    suspended = kit.member()
    unverified = kit.member(verified=False)
    unsubscribed = kit.member()
    with kit.db():
        services.unsubscribe(unsubscribed.id)
    kit.set_user(suspended, suspended_at=SEND_AT - timedelta(days=1))

    kit.send(week=WEEK)

    assert mailbox.to(week.reader.email)
    for member in (suspended, unverified, unsubscribed):
        assert mailbox.to(member.email) == []
        assert member.id not in kit.deliveries()


def test_the_cli_previews_one_members_digest(kit: DigestKit, week: Week) -> None:
    runner = kit.app.test_cli_runner()
    with at(SEND_AT):
        result = runner.invoke(args=["digest", "preview", week.reader.email])

    assert result.exit_code == 0, result.output
    assert "Anticoagulation after falls" in result.output
    assert "SECRET" not in result.output

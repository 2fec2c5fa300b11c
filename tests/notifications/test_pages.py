"""The notifications page, marking read, the header's unread count and the preferences page."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from forum.extensions import db, utcnow
from forum.notifications import services
from forum.notifications.models import Channel, Decision, Kind, Notification
from tests.conftest import Mailbox
from tests.factories import Member
from tests.notifications.conftest import Kit, follow, prefer, text, told


def _unread_badge(page: str) -> str:
    """The header link's text, e.g. "Notifications 3 unread"."""
    link = re.search(r'<a href="/notifications">(.*?)</a>', page)
    assert link is not None, "no notifications link in the header"
    return " ".join(re.sub(r"<[^>]+>", " ", link.group(1)).split())


def _add(kit: Kit, member: Member, count: int, kind: Kind = Kind.REPLY, **values: object) -> None:
    """Notification rows made directly (for paging and visibility, not fan-out)."""
    thread_id = values.pop("thread_id", None)
    with kit.db():
        start = utcnow() - timedelta(hours=count)
        db.session.add_all(
            Notification(
                user_id=member.id,
                kind=str(kind),
                thread_id=thread_id,
                created_at=start + timedelta(hours=number),
                **values,
            )
            for number in range(count)
        )
        db.session.commit()


def test_the_list_names_an_anonymous_author_by_alias_only_on_the_page_and_in_mail(
    kit: Kit, mailbox: Mailbox
) -> None:
    author = kit.member()
    prefer(kit, author, Kind.REPLY, Channel.EMAIL)
    secret = kit.member(display_name="Dr Quentin Secretary")
    thread_id = kit.discussion(author, title="Warfarin and falls")
    post_id = kit.reply(secret, thread_id, "My anonymous view.", anonymous=True)

    page = kit.client(author).get("/notifications")

    assert page.status_code == 200
    shown = text(page)
    assert "Anonymous cardiologist 1 replied in “Warfarin and falls”" in shown
    assert f"/p/{post_id}" in shown
    with kit.db():
        user = kit.user(secret)
        real = (user.display_name, user.first_name + " " + user.last_name, user.last_name)
    message = mailbox.last_to(author.email).as_string()
    for name in real:
        assert name not in shown
        assert name not in message
    assert "Anonymous cardiologist 1" in message


def test_the_header_counts_unread_and_marking_read_one_or_all_clears_it(kit: Kit) -> None:
    author = kit.member()
    thread_id = kit.discussion(author)
    for _ in range(3):
        kit.reply(kit.member(), thread_id)
    client = kit.client(author)
    assert _unread_badge(text(client.get("/notifications"))) == "Notifications 3 unread"

    first = told(kit, author)[0]
    response = client.post(f"/notifications/{first.id}/read", data={"page": "1"})
    assert response.status_code == 302
    assert told(kit, author)[0].read_at is not None
    assert _unread_badge(text(client.get("/notifications"))) == "Notifications 2 unread"

    client.post("/notifications/read-all")
    assert all(note.read_at is not None for note in told(kit, author))
    page = text(client.get("/notifications"))
    assert _unread_badge(page) == "Notifications"
    assert "Mark all read" not in page


def test_marking_read_needs_the_form_token_and_cannot_touch_anothers(kit: Kit) -> None:
    owner, other = kit.member(), kit.member()
    _add(kit, owner, 1, thread_id=kit.discussion(kit.member()))
    [note] = told(kit, owner)
    client = kit.client(other)

    assert client.post(f"/notifications/{note.id}/read", csrf=False).status_code == 400
    assert client.post(f"/notifications/{note.id}/read").status_code == 404
    assert told(kit, owner)[0].read_at is None


def test_the_list_shows_twenty_a_page_newest_first(kit: Kit) -> None:
    member = kit.member()
    thread_id = kit.discussion(kit.member(), title="Paged thread")
    _add(kit, member, 21, thread_id=thread_id)
    newest, oldest = told(kit, member)[-1], told(kit, member)[0]
    client = kit.client(member)

    first = text(client.get("/notifications"))
    second = text(client.get("/notifications?page=2"))

    assert first.count("A colleague replied in “Paged thread”") == 20
    assert first.index(f'id="n{newest.id}"') < first.index(f'id="n{newest.id - 1}"')
    assert f'id="n{oldest.id}"' in second
    assert second.count("replied in") == 1
    assert client.get("/notifications?page=0").status_code == 404


def test_an_unverified_member_sees_their_verification_decision_but_nothing_clinical(
    kit: Kit,
) -> None:
    applicant = kit.member(verified=False)
    thread_id = kit.discussion(kit.member(), title="Clinical title")
    _add(kit, applicant, 1, thread_id=thread_id)
    _add(kit, applicant, 1, Kind.VERIFICATION, decision=str(Decision.REJECTED), reason="Unclear.")
    client = kit.client(applicant)

    page = text(client.get("/notifications"))

    assert "Your physician verification was not approved" in page
    assert "Unclear." in page
    assert "Clinical title" not in page
    assert _unread_badge(page) == "Notifications 1 unread"
    client.post("/notifications/read-all")
    assert [note.read_at is None for note in told(kit, applicant)] == [True, False]


def test_a_title_no_longer_published_is_not_shown(kit: Kit) -> None:
    member = kit.member()
    thread_id = kit.discussion(kit.member(), title="Soon held again")
    follow(kit, member, thread_id)
    kit.reply(kit.member(), thread_id)
    with kit.db():
        kit.thread(thread_id).visibility = "pending"
        db.session.commit()

    page = text(kit.client(member).get("/notifications"))

    assert "Soon held again" not in page
    assert "replied in “a thread no longer shown”" in page


def test_preferences_show_the_defaults_and_save_a_choice_per_kind(kit: Kit) -> None:
    member = kit.member()
    client = kit.client(member)

    page = client.get("/settings/notifications")
    assert page.status_code == 200
    shown = page.get_data(as_text=True)
    assert '<option selected value="off">Off</option>' in shown  # specialty alerts are opt-in

    choices = {str(kind): "app" for kind in Kind}
    choices.update(reply="email", specialty_alert="app", mention="off")
    response = client.post("/settings/notifications", data=choices)

    assert response.status_code == 302
    with kit.db():
        chosen = services.preferences(kit.user(member))
    assert chosen[Kind.REPLY] is Channel.EMAIL
    assert chosen[Kind.MENTION] is Channel.OFF
    assert chosen[Kind.SPECIALTY_ALERT] is Channel.APP


def test_a_channel_a_kind_does_not_offer_is_refused(kit: Kit) -> None:
    member = kit.member()
    choices = {str(kind): "app" for kind in Kind}
    choices["verification"] = "email"  # those decisions are e-mailed anyway

    response = kit.client(member).post("/settings/notifications", data=choices)

    assert response.status_code == 422
    with kit.db():
        count = db.session.scalar(sa.text("SELECT count(*) FROM notification_preference"))
    assert count == 0


def test_the_account_page_links_to_the_notification_settings(kit: Kit) -> None:
    page = kit.client(kit.member()).get("/account")
    assert 'href="/settings/notifications"' in page.get_data(as_text=True)

"""The index follows what members may see: publish, hold, approve, reject, edit, delete, hide,
move and anonymity, through the outbox, on both engines (SQLite: Whoosh; PostgreSQL: its own)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from forum.cases import services as cases
from forum.extensions import db
from forum.moderation import services as moderation
from forum.moderation.models import ReviewItem
from forum.phi import Action
from forum.search import service
from forum.search.models import SearchOutbox
from tests.conftest import FormClient
from tests.factories import Member
from tests.search.conftest import Kit, drain, result_titles, search_page

Scan = Callable[[str, Action], None]


def test_a_published_case_is_found_by_title_body_and_tag_and_opens_at_its_post(
    kit: Kit, reader: tuple[Member, FormClient], quiet_detector: None
) -> None:
    thread_id = kit.case(kit.member(), title="Exertional syncope", history="Bicuspid valve.")
    drain(kit)
    _, client = reader
    with kit.db():
        opening_id = kit.opening(thread_id).id
    for query in ("syncope", "bicuspid", "exertional syncope"):
        assert result_titles(search_page(client, query)) == [(opening_id, "Exertional syncope")]
    assert result_titles(search_page(client, "syncope", tag="chest-pain"))
    assert not result_titles(search_page(client, "syncope", tag="other-tag"))
    jump = client.get(f"/p/{opening_id}")
    assert jump.status_code == 302
    assert jump.headers["Location"].endswith(f"/t/{thread_id}#p{opening_id}")


def test_a_reply_posted_through_the_site_is_searchable_at_once(
    kit: Kit, reader: tuple[Member, FormClient], quiet_detector: None
) -> None:
    thread_id = kit.case(kit.member())
    drain(kit)
    author = kit.member()
    response = kit.client(author).post(
        f"/t/{thread_id}/reply", data={"body": "Consider takotsubo cardiomyopathy."}
    )
    assert response.status_code == 302
    with kit.db():
        assert service.pending() == 0  # drained after the request's commit
    _, client = reader
    [(post_id, _)] = result_titles(search_page(client, "takotsubo"))
    with kit.db():
        assert kit.post(post_id).thread_id == thread_id


def test_held_content_is_not_searchable_until_approved_and_rejected_text_is_gone(
    kit: Kit, reader: tuple[Member, FormClient], scanner: Scan, moderator: Member
) -> None:
    thread_id = kit.case(kit.member())
    scanner("Tolstoy", Action.REVIEW)
    held = kit.reply(kit.member(), thread_id, "Tolstoy has amyloidosis, I think.")
    second = kit.reply(kit.member(), thread_id, "Tolstoy: consider sarcoidosis.")
    drain(kit)
    _, client = reader
    assert not result_titles(search_page(client, "amyloidosis"))
    with kit.db():
        items = {i.post_id: i for i in db.session.scalars(sa.select(ReviewItem))}
        moderation.approve(kit.user(moderator), items[held])
        moderation.reject(kit.user(moderator), items[second], "Names the patient.")
    drain(kit)
    assert [post for post, _ in result_titles(search_page(client, "amyloidosis"))] == [held]
    assert not result_titles(search_page(client, "sarcoidosis"))
    assert not result_titles(search_page(client, "tolstoy consider"))
    with kit.db():
        assert second not in service.backend().post_ids()


def test_edits_deletions_hiding_and_moves_follow(
    kit: Kit, reader: tuple[Member, FormClient], quiet_detector: None, moderator: Member
) -> None:
    author = kit.member()
    thread_id = kit.case(kit.member())
    post_id = kit.reply(author, thread_id, "Start colchicine.")
    other_id = kit.reply(author, thread_id, "Check ferritin.")
    drain(kit)
    _, client = reader
    with kit.db():
        cases.edit_post(kit.user(author), kit.post(post_id), "Start indomethacin.")
        cases.delete_post(kit.user(author), kit.post(other_id))
    drain(kit)
    assert not result_titles(search_page(client, "colchicine"))
    assert [p for p, _ in result_titles(search_page(client, "indomethacin"))] == [post_id]
    assert not result_titles(search_page(client, "ferritin"))

    with kit.db():
        moderation.hide_post(kit.user(moderator), kit.post(post_id), "Off topic.")
    drain(kit)
    assert not result_titles(search_page(client, "indomethacin"))
    with kit.db():
        moderation.restore_post(kit.user(moderator), kit.post(post_id))
        neurology = db.session.scalar(
            sa.select(cases.Community).where(cases.Community.slug == "neurology")
        )
        moderation.move_thread(kit.user(moderator), kit.thread(thread_id), neurology)
    drain(kit)
    assert result_titles(search_page(client, "indomethacin", community="neurology"))
    assert not result_titles(search_page(client, "indomethacin", community="cardiology"))


def test_anonymous_posts_are_indexed_without_their_author(
    kit: Kit, reader: tuple[Member, FormClient], quiet_detector: None
) -> None:
    author = kit.member(display_name="Dr Hidden Hand")
    thread_id = kit.case(kit.member())
    anonymous = kit.reply(
        author, thread_id, "Pheochromocytoma until shown otherwise.", anonymous=True
    )
    named = kit.reply(author, thread_id, "Pheochromocytoma screening: plasma metanephrines.")
    drain(kit)
    _, client = reader
    page = search_page(client, "pheochromocytoma")
    assert {post for post, _ in result_titles(page)} == {anonymous, named}
    assert "Anonymous cardiologist" in page
    by_author = search_page(client, "pheochromocytoma", author="Dr Hidden Hand")
    assert [post for post, _ in result_titles(by_author)] == [named]


def test_sync_catches_up_after_a_crash_and_check_and_reindex_repair(
    app: Flask, kit: Kit, reader: tuple[Member, FormClient], quiet_detector: None
) -> None:
    thread_id = kit.case(kit.member(), title="Refractory hypokalaemia")
    with kit.db():
        assert service.pending() > 0  # written with the post; nothing drained it yet
    runner = app.test_cli_runner()
    synced = runner.invoke(args=["search", "sync"])
    assert synced.exit_code == 0, synced.output
    assert "0 left" in synced.output
    _, client = reader
    assert result_titles(search_page(client, "hypokalaemia"))

    checked = runner.invoke(args=["search", "check"])
    assert checked.exit_code == 0, checked.output
    with kit.db():
        opening = kit.opening(thread_id).id
        service.backend().remove([opening])
        db.session.add(SearchOutbox(post_id=None, thread_id=None))  # refused: names nothing
        try:
            db.session.flush()
            raise AssertionError("an outbox row must name a post or a thread")
        except sa.exc.IntegrityError:
            db.session.rollback()
    checked = runner.invoke(args=["search", "check"])
    assert checked.exit_code == 1
    assert "missing from the index: 1" in checked.output
    rebuilt = runner.invoke(args=["search", "reindex"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert runner.invoke(args=["search", "check"]).exit_code == 0
    assert result_titles(search_page(client, "hypokalaemia"))


def test_posts_changed_while_the_index_is_rebuilt_end_up_as_they_are_now(
    kit: Kit,
    reader: tuple[Member, FormClient],
    quiet_detector: None,
    moderator: Member,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request edits one post and hides another after the rebuild has read them: the
    rebuild's copies are older than what the request indexed."""
    author = kit.member()
    thread_id = kit.case(kit.member())
    edited = kit.reply(author, thread_id, "Start colchicine.")
    hidden = kit.reply(author, thread_id, "Check ferritin.")
    drain(kit)
    every_batch = service.searchable_ids
    changed: list[bool] = []

    def changing_midway() -> Iterator[list[int]]:
        for ids in every_batch():
            yield ids
            if not changed:
                changed.append(True)
                cases.edit_post(kit.user(author), kit.post(edited), "Start indomethacin.")
                moderation.hide_post(kit.user(moderator), kit.post(hidden), "Off topic.")
                db.session.commit()
                service.drain()  # as the request would after its commit

    monkeypatch.setattr(service, "searchable_ids", changing_midway)
    with kit.db():
        service.reindex()
    assert changed
    _, client = reader
    assert not result_titles(search_page(client, "colchicine"))
    assert [post for post, _ in result_titles(search_page(client, "indomethacin"))] == [edited]
    assert not result_titles(search_page(client, "ferritin"))
    with kit.db():
        assert service.check().in_step

"""The thread, community and feed pages run a fixed number of SQL queries, whatever they hold."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image

from forum.cases import attachments, polls
from forum.cases.images import sanitise
from forum.cases.models import Post, Visibility
from forum.extensions import db
from tests.cases.conftest import Kit
from tests.conftest import FormClient
from tests.factories import Member

pytestmark = pytest.mark.usefixtures("quiet_detector")


@contextmanager
def counting(kit: Kit) -> Iterator[list[str]]:
    """The SQL statements the app sends while the block runs."""
    statements: list[str] = []
    with kit.app.app_context():
        engine = db.engine

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


def queries_for(kit: Kit, client: FormClient, path: str) -> int:
    client.get(path)  # warm up: the first request of a client may load more (session, caches)
    with counting(kit) as statements:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(statements)


def png(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (6, 6), colour).save(out, "PNG")
    return out.getvalue()


def with_image(kit: Kit, post_id: int, colour: str = "red") -> None:
    """An image on the post, then published as a moderator's approval would."""
    with kit.db():
        post = kit.post(post_id)
        prepared = attachments.PreparedImage(sanitise(png(colour)), "scan")
        attachments.attach(post, [prepared])
        post.visibility = Visibility.PUBLISHED
        post.thread.visibility = Visibility.PUBLISHED
        db.session.commit()


def with_poll(kit: Kit, thread_id: int) -> None:
    with kit.db():
        draft = polls.PollDraft("Which test next?", ("Echo", "Holter", "Stress"), False, None)
        polls.create_poll(kit.thread(thread_id), draft)
        db.session.commit()


def busy_thread(kit: Kit, viewer: Member, authors: list[Member], replies: int) -> int:
    """An anonymous case with a poll and an image, and replies of every kind the viewer marks."""
    thread_id = kit.case(authors[0], anonymous=True)
    with kit.db():
        opening = kit.opening(thread_id).id
    with_poll(kit, thread_id)
    with_image(kit, opening)
    client = kit.client(viewer)
    client.post(f"/p/{opening}/helpful", data={"state": "on"})
    client.post(f"/p/{opening}/bookmark", data={"state": "on"})
    for number in range(replies):
        author = authors[number % len(authors)]
        post_id = kit.reply(author, thread_id, f"Reply {number}", anonymous=number % 2 == 0)
        if number % 3 == 0:
            with_image(kit, post_id, "green")
        if number % 4 == 0:
            client.post(f"/p/{post_id}/helpful", data={"state": "on"})
            client.post(f"/p/{post_id}/bookmark", data={"state": "on"})
        if number == 5:
            kit.client(author).post(f"/p/{post_id}/delete")
    return thread_id


def test_the_thread_page_runs_the_same_queries_for_1_post_and_for_20(kit: Kit) -> None:
    viewer = kit.member("neurology")
    authors = [kit.member(s) for s in ("cardiology", "paediatrics", "surgery", "psychiatry")]
    small = busy_thread(kit, viewer, authors, replies=0)
    large = busy_thread(kit, viewer, authors, replies=19)
    with kit.db():
        assert kit.count(Post, Post.thread_id == large) == 20
    client = kit.client(viewer)
    page = client.get(f"/t/{large}").get_data(as_text=True)
    assert page.count('<article class="post') == 20
    assert page.count("Anonymous ") >= 10
    assert page.count('src="/images/') == 8
    assert "Poll: Which test next?" in page

    few, many = queries_for(kit, client, f"/t/{small}"), queries_for(kit, client, f"/t/{large}")

    assert few == many
    assert many <= 16  # on SQLite two of them are BEGIN


def test_the_community_page_runs_the_same_queries_for_1_thread_and_for_20(kit: Kit) -> None:
    viewer = kit.member("neurology")
    authors = [kit.member(s) for s in ("cardiology", "paediatrics", "surgery")]
    kit.case(authors[0], "dermatology", anonymous=True)
    for number in range(20):
        kit.case(authors[number % 3], "rheumatology", anonymous=number % 2 == 0, title=f"C{number}")
    client = kit.client(viewer)

    few = queries_for(kit, client, "/c/dermatology")
    many = queries_for(kit, client, "/c/rheumatology")

    assert few == many
    assert many <= 8


def test_the_feed_runs_the_same_queries_for_1_thread_and_for_20(kit: Kit) -> None:
    few_viewer, many_viewer = kit.member("dermatology"), kit.member("rheumatology")
    authors = [kit.member(s) for s in ("cardiology", "paediatrics", "surgery")]
    kit.case(authors[0], "dermatology", anonymous=True)
    for number in range(20):
        kit.case(authors[number % 3], "rheumatology", anonymous=number % 2 == 0, title=f"C{number}")

    few = queries_for(kit, kit.client(few_viewer), "/")
    many = queries_for(kit, kit.client(many_viewer), "/")

    assert few == many
    assert many <= 8

"""Image holds: a case with an image waits in the queue; rejecting it deletes the files."""

from __future__ import annotations

import io

import sqlalchemy as sa
from flask import Flask
from PIL import Image

from forum.cases import attachments
from forum.cases.models import PostImage, Visibility
from forum.extensions import db
from forum.moderation import policy
from forum.moderation.models import ReviewReason
from tests.cases.conftest import CASE_FORM
from tests.factories import Member
from tests.moderation.conftest import Kit, open_items, text


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(out, "PNG")
    return out.getvalue()


def test_an_image_hold_is_shown_in_the_queue_and_rejecting_deletes_the_file(
    app: Flask, kit: Kit, quiet_detector: None, moderator: Member
) -> None:
    author = kit.member()
    form = {**CASE_FORM, "images": (io.BytesIO(_png()), "arm.png")}
    assert kit.client(author).post("/c/cardiology/new-case", data=form).status_code == 302
    [item] = open_items(kit)
    assert item.reason_list == ["image"]
    with app.app_context():
        image = db.session.scalar(sa.select(PostImage))
        assert image is not None
        path, image_id = attachments.path_of(image), image.id
    assert path.exists()

    client = kit.client(moderator)
    page = text(client.get("/moderation/queue"))
    assert f"/images/{image_id}" in page
    assert "Image" in page
    response = client.post(f"/moderation/items/{item.id}/reject", data={"reason": "A face."})
    assert response.status_code == 302
    assert not path.exists()
    assert kit.count(PostImage) == 0
    with kit.db():
        thread = kit.thread(item.thread_id)
        assert thread.visibility == Visibility.REJECTED
        assert thread.sections == []


def test_a_rejected_reason_is_required(kit: Kit, quiet_detector: None, moderator: Member) -> None:
    thread_id = kit.case(kit.member())
    with kit.db():
        thread = kit.thread(thread_id)
        policy.enqueue(thread, kit.opening(thread_id), [ReviewReason.FLAGS])
        db.session.commit()
    [item] = open_items(kit)
    response = kit.client(moderator).post(f"/moderation/items/{item.id}/reject", data={})
    assert response.status_code == 422
    assert len(open_items(kit)) == 1

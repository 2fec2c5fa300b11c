"""Images on posts: capped reads, metadata gone on disk, held for review, served only to those
who may see the post, and no file left behind by a rolled-back post."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, render_template
from flask_login import login_user
from PIL import Image
from werkzeug.datastructures import FileStorage

from forum.accounts.models import Role, User
from forum.cases import attachments
from forum.cases.images import MAX_BYTES
from forum.cases.models import Community, Post, PostImage, Thread, ThreadKind, Visibility
from forum.cases.views import image_cards
from forum.extensions import db, utcnow
from tests.cases.conftest import CASE_FORM, Kit
from tests.factories import make_user, sign_in

GPS_IFD = 0x8825


def photo_with_gps() -> bytes:
    """A JPEG as a phone writes it: EXIF with GPS and a comment naming the patient."""
    image = Image.new("RGB", (40, 30), (180, 40, 40))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[GPS_IFD] = {1: "N", 2: (40.0, 26.0, 46.0), 3: "W", 4: (79.0, 58.0, 56.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=b"Jane Doe DOB 1950")
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(out, "PNG")
    return out.getvalue()


def upload(data: bytes, filename: str = "scan.jpg") -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=filename, content_type="image/jpeg")


class EndlessStream(io.RawIOBase):
    """An upload that never ends: reading it without a limit would never return."""

    def __init__(self) -> None:
        self.served = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            raise AssertionError("the upload was read without a limit")
        self.served += size
        return b"\xff" * size


def make_post(author_id: int, *, visibility: str = Visibility.PUBLISHED) -> Post:
    community = db.session.scalar(sa.select(Community).where(Community.slug == "dermatology"))
    if community is None:
        community = Community(slug="dermatology", name="Dermatology", practitioner="dermatologist")
    thread = Thread(
        community=community,
        kind=ThreadKind.CASE,
        title="A rash on the forearm",
        author_id=author_id,
        visibility=visibility,
    )
    post = Post(
        thread=thread,
        author_id=author_id,
        is_opening=True,
        source="See the image.",
        html="<p>See the image.</p>",
        visibility=visibility,
    )
    db.session.add_all([thread, post])
    db.session.flush()
    return post


def post_with_image(author_id: int, data: bytes | None = None, name: str = "scan.jpg") -> int:
    """A committed post holding one image; returns the image's id."""
    post = make_post(author_id)
    prepared, errors = attachments.prepare([upload(data or photo_with_gps(), name)])
    assert errors == []
    attachments.attach(post, prepared)
    db.session.commit()
    return post.images[0].id


def stored_files(app: Flask) -> list[Path]:
    folder = Path(app.instance_path) / "images"
    return sorted(folder.iterdir()) if folder.exists() else []


def set_post(image_id: int, **values: Any) -> None:
    image = db.session.get(PostImage, image_id)
    assert image is not None
    for name, value in values.items():
        setattr(image.post, name, value)
    db.session.commit()


# --- Preparing uploads --------------------------------------------------------------------------


def test_an_upload_is_read_only_up_to_the_cap() -> None:
    stream = EndlessStream()
    prepared, errors = attachments.prepare([FileStorage(stream=stream, filename="huge.jpg")])
    assert prepared == []
    assert errors == ["Image 1 (huge): Images can be at most 10 MB."]
    assert stream.served == MAX_BYTES + 1


def test_an_image_of_exactly_the_limit_is_not_refused_for_its_size() -> None:
    data = photo_with_gps()
    padded = data + b"\0" * (MAX_BYTES - len(data))  # JPEG readers ignore bytes after the end
    prepared, errors = attachments.prepare([upload(padded)])
    assert errors == []
    assert len(prepared) == 1


def test_more_than_four_images_are_refused() -> None:
    prepared, errors = attachments.prepare([upload(png(), f"{n}.png") for n in range(5)])
    assert prepared == []
    assert errors == ["Attach at most 4 images to a post."]


def test_an_empty_file_input_is_no_image() -> None:
    assert attachments.prepare([FileStorage(stream=io.BytesIO(b""), filename="")]) == ([], [])


def test_files_that_are_not_images_are_named_in_the_errors() -> None:
    prepared, errors = attachments.prepare(
        [upload(png(), "ok.png"), upload(b"%PDF-1.4 not an image", "letter.pdf")]
    )
    assert len(prepared) == 1
    assert errors == ["Image 2 (letter): This is not a JPEG, PNG or WebP image we can read."]


def test_labels_are_the_file_names_without_folders_or_extensions() -> None:
    assert attachments.label_for("C:\\Users\\dr\\John Smith arm.JPEG") == "John Smith arm"
    assert attachments.label_for("photos/rash.day3.png") == "rash.day3"
    assert attachments.label_for(".hidden") == ".hidden"
    assert attachments.label_for("tab\there\n.jpg") == "tab here"
    assert attachments.label_for("x" * 300 + ".jpg") == "x" * 120
    assert attachments.label_for(None) == ""


def test_the_phi_gate_sees_every_label() -> None:
    prepared, _ = attachments.prepare([upload(png(), "Jane Doe MRN 1234.png"), upload(png(), "")])
    prepared += attachments.prepare([upload(png(), "rash.png")])[0]
    assert attachments.label_fields(prepared) == {
        "image_label_1": "Jane Doe MRN 1234",
        "image_label_2": "rash",
    }


# --- Storing ------------------------------------------------------------------------------------


def test_a_gps_photo_is_stored_without_any_metadata(app: Flask) -> None:
    with app.app_context():
        image_id = post_with_image(make_user(verified=True).id, photo_with_gps())
        image = db.session.get(PostImage, image_id)
        assert image is not None
        path = attachments.path_of(image)
        assert image.storage_name.endswith(".jpg")
        assert image.media_type == "image/jpeg"
        assert (image.width, image.height, image.size) == (40, 30, path.stat().st_size)
    assert path.parent == Path(app.instance_path) / "images"
    assert "static" not in path.parts
    stored = path.read_bytes()
    reopened = Image.open(io.BytesIO(stored))
    assert not reopened.getexif()
    assert not {"exif", "xmp", "comment"} & set(reopened.info)
    for marker in (b"Exif", b"GPS", b"PhoneMaker", b"Jane Doe"):
        assert marker not in stored
    assert path.stat().st_mode & 0o077 == 0


def test_a_post_with_an_image_is_held_for_a_moderator(app_context: None) -> None:
    post = make_post(make_user(verified=True).id)
    assert post.visibility == Visibility.PUBLISHED
    attachments.attach(post, attachments.prepare([upload(png(), "rash.png")])[0])
    db.session.commit()
    assert post.visibility == Visibility.PENDING
    assert [image.label for image in post.images] == ["rash"]


def test_files_are_removed_when_the_post_is_rolled_back(app: Flask) -> None:
    with app.app_context():
        author = make_user(verified=True).id
        kept = post_with_image(author)
        assert len(stored_files(app)) == 1

        post = make_post(author)
        attachments.attach(post, attachments.prepare([upload(png()), upload(png())])[0])
        assert len(stored_files(app)) == 3
        db.session.rollback()
        assert len(stored_files(app)) == 1
        assert db.session.get(PostImage, kept) is not None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PostImage)) == 1


def test_files_are_removed_when_the_commit_fails(app: Flask) -> None:
    with app.app_context():
        author = make_user(verified=True).id
        post = make_post(author)
        attachments.attach(post, attachments.prepare([upload(png())])[0])
        post.author_id = 999_999  # no such member: the foreign key fails at commit
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()
        db.session.rollback()
        assert stored_files(app) == []


def test_files_are_removed_when_the_session_closes_without_a_commit(app: Flask) -> None:
    with app.app_context():
        post = make_post(make_user(verified=True).id)
        attachments.attach(post, attachments.prepare([upload(png())])[0])
        assert len(stored_files(app)) == 1
    # The app context ended: Flask-SQLAlchemy closed the session, the transaction with it.
    assert stored_files(app) == []


def test_committed_files_survive_a_later_rollback(app: Flask) -> None:
    with app.app_context():
        post_with_image(make_user(verified=True).id)
        make_user(verified=True)
        db.session.rollback()
        assert len(stored_files(app)) == 1


def test_a_case_posted_with_a_gps_photo_keeps_no_metadata_end_to_end(
    app: Flask, kit: Kit, quiet_detector: None
) -> None:
    author = kit.member()
    client = kit.client(author)
    form = {**CASE_FORM, "images": (io.BytesIO(photo_with_gps()), "Jane Doe left arm.jpg")}

    response = client.post("/c/cardiology/new-case", data=form)

    assert response.status_code == 302, response.status_code
    with app.app_context():
        image = db.session.scalar(sa.select(PostImage))
        assert image is not None
        assert image.post.visibility == Visibility.PENDING
        assert image.label == "Jane Doe left arm"
        stored = attachments.path_of(image).read_bytes()
        image_id = image.id
    assert not Image.open(io.BytesIO(stored)).getexif()
    for marker in (b"Exif", b"GPS", b"PhoneMaker", b"Jane Doe"):
        assert marker not in stored
    with client.get(f"/images/{image_id}") as served:
        assert served.status_code == 200
        assert served.data == stored
    other = kit.client(kit.member())
    assert status(other, f"/images/{image_id}") == 404


# --- Serving ------------------------------------------------------------------------------------


def signed_in(app: Flask, verified: bool = True, **kwargs: Any) -> tuple[Any, int]:
    with app.app_context():
        member = make_user(verified=verified, **kwargs)
    client = app.test_client()
    sign_in(client, member, app)
    return client, member.id


def status(client: Any, url: str) -> int:
    """GET a URL and close the response (a served file stays open until then)."""
    with client.get(url) as response:
        return int(response.status_code)


def test_a_pending_image_reaches_its_author_and_moderators_only(app: Flask) -> None:
    author, author_id = signed_in(app)
    moderator, _ = signed_in(app, roles=(Role.MODERATOR,))
    other, _ = signed_in(app)
    with app.app_context():
        image_id = post_with_image(author_id)
        stored = attachments.path_of(db.session.get(PostImage, image_id)).read_bytes()  # type: ignore[arg-type]

    url = f"/images/{image_id}"
    assert status(author, url) == 200
    with author.get(url) as response:
        assert response.data == stored
    assert status(moderator, url) == 200
    assert status(other, url) == 404

    with app.app_context():
        set_post(image_id, visibility=Visibility.PUBLISHED)  # a moderator approved it
    assert status(other, url) == 200


@pytest.mark.parametrize(
    "change",
    [
        {"visibility": Visibility.REMOVED},
        {"visibility": Visibility.REJECTED},
        {"deleted_at": "now"},
    ],
)
def test_images_of_posts_members_may_not_see_are_not_found(
    app: Flask, change: dict[str, Any]
) -> None:
    _, author_id = signed_in(app)
    other, _ = signed_in(app)
    with app.app_context():
        image_id = post_with_image(author_id)
        set_post(image_id, visibility=Visibility.PUBLISHED)
        set_post(image_id, **{k: utcnow() if v == "now" else v for k, v in change.items()})
    assert status(other, f"/images/{image_id}") == 404


def test_images_in_a_held_thread_are_not_found_by_other_members(app: Flask) -> None:
    other, _ = signed_in(app)
    with app.app_context():
        image_id = post_with_image(make_user(verified=True).id)
        image = db.session.get(PostImage, image_id)
        assert image is not None
        image.post.visibility = Visibility.PUBLISHED
        image.post.thread.visibility = Visibility.PENDING
        db.session.commit()
    assert status(other, f"/images/{image_id}") == 404
    assert status(other, "/images/999999") == 404


def test_a_missing_file_is_not_found(app: Flask) -> None:
    author, author_id = signed_in(app)
    with app.app_context():
        image_id = post_with_image(author_id)
        attachments.path_of(db.session.get(PostImage, image_id)).unlink()  # type: ignore[arg-type]
    assert status(author, f"/images/{image_id}") == 404


def test_unverified_members_get_no_image(app: Flask) -> None:
    member, _ = signed_in(app, verified=False)
    with app.app_context():
        image_id = post_with_image(make_user(verified=True).id)
        set_post(image_id, visibility=Visibility.PUBLISHED)
    with member.get(f"/images/{image_id}") as response:
        assert response.status_code == 302
        assert not response.data.startswith(b"\xff\xd8")


def test_an_image_is_served_with_its_type_and_never_its_name(app: Flask) -> None:
    author, author_id = signed_in(app)
    with app.app_context():
        jpeg = post_with_image(author_id, photo_with_gps(), "Jane Doe left arm.jpg")
        png_id = post_with_image(author_id, png(), "John Roe.png")

    with author.get(f"/images/{jpeg}") as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "image/jpeg"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "private, no-store"
        assert response.headers["Content-Disposition"] == 'inline; filename="image.jpg"'
        assert "Jane" not in str(response.headers)
        assert b"GPS" not in response.data
        assert not Image.open(io.BytesIO(response.data)).getexif()

    with author.get(f"/images/{png_id}") as other:
        assert other.headers["Content-Type"] == "image/png"
        assert other.headers["Content-Disposition"] == 'inline; filename="image.png"'


# --- Partials -----------------------------------------------------------------------------------


def test_the_images_partial_uses_neutral_alt_text_and_tells_the_author_it_waits(
    app: Flask,
) -> None:
    with app.app_context():
        author_id = make_user(verified=True).id
        image_id = post_with_image(author_id, png(), "Jane Doe.png")
        image = db.session.get(PostImage, image_id)
        assert image is not None
        post = image.post
        other = db.session.get(User, make_user(verified=True, roles=(Role.MODERATOR,)).id)
        pending = post.visibility == "pending"
        with app.test_request_context("/"):
            login_user(post.author)
            images = image_cards(post)
            for_author = render_template(
                "cases/_images.html", images=images, images_pending=pending, images_own=True
            )
        with app.test_request_context("/"):
            login_user(other)  # type: ignore[arg-type]
            for_moderator = render_template(
                "cases/_images.html", images=images, images_pending=pending, images_own=False
            )
    assert f'src="/images/{image_id}"' in for_author
    assert 'alt="Image attached to the case"' in for_author
    assert "Jane" not in for_author
    assert "Waiting for moderator review" in for_author
    assert "Waiting for moderator review" not in for_moderator
    assert "Held for moderator review" in for_moderator


def test_the_images_form_explains_the_review(app: Flask) -> None:
    with app.test_request_context("/"):
        html = render_template("cases/_images_form.html", image_errors=["Image 1 (x): too big"])
    assert 'type="file" name="images"' in html
    assert " multiple " in html
    assert 'accept=".jpg,.jpeg,.png,.webp"' in html
    assert "stripped of metadata" in html
    assert "reviewed by a moderator" in html
    assert "no faces, tattoos or identifying marks" in html
    assert "Image 1 (x): too big" in html

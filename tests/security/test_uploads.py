"""Hostile uploads through the real forms: case images and verification documents.

The site sniffs content and never trusts a file's name. Files that are truncated, empty, too
large, decompression bombs, or something else dressed as an image are refused with a message
naming the file, and leave no row and no file behind. Case images are re-encoded, so a polyglot
keeps only its pixels; proof documents are kept byte for byte as evidence, so a document with
anything appended after its image is refused, and a download always carries the extension of
what the file really is.

Each test sends its whole list through one app (per database) and reports every file that was
answered wrongly at once.
"""

from __future__ import annotations

import html
import io
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from PIL import Image, PngImagePlugin
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from forum.cases.models import PostImage
from forum.extensions import db, limiter
from forum.verification.models import ClaimDocument
from tests.cases.conftest import CASE_FORM, quiet_detector  # noqa: F401
from tests.conftest import FormClient
from tests.core.helpers import text
from tests.security.conftest import World, inconsistencies, row_counts, stored_files
from tests.verification.member_helpers import WIEBE_FORM, pdf_bytes

# --- Files --------------------------------------------------------------------------------------

MB = 1024 * 1024


def picture(
    kind: str, size: tuple[int, int] = (64, 48), mode: str = "RGB", **options: Any
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "white" if mode != "1" else 1).save(out, kind, **options)
    return out.getvalue()


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def zip_archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("index.html", "<script>alert(document.cookie)</script>")
        archive.writestr("META-INF/MANIFEST.MF", "Main-Class: Evil\n")
    return out.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int) -> bytes:
    """A few hundred bytes claiming a huge picture: a decompression bomb's header."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 4096))
        + _chunk(b"IEND", b"")
    )


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header claims a huge size."""
    data = bytearray(picture("JPEG", (16, 16)))
    frame = data.index(b"\xff\xc0")
    data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def png_just_over(megapixels: int) -> bytes:
    """A real, decodable one-bit PNG a little over the limit (it compresses to a few KB)."""
    width = 8000
    return picture("PNG", (width, megapixels * 1_000_000 // width + 1), mode="1")


def png_with_script_chunk() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "<html><script>alert(1)</script></html>")
    return picture("PNG", pnginfo=info)


SCRIPT = b"<html><body><script>alert(document.cookie)</script></body></html>"
SVG = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'><script>alert(2)</script></svg>"
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 120 + b"PE\x00\x00"
GIF = picture("GIF")
JPEG, PNG, WEBP = picture("JPEG"), picture("PNG"), picture("WEBP")

# What each upload point says, in part, for each kind of refusal.
IMAGE_REASONS = {
    "empty": "The file is empty.",
    "damaged": "The image is damaged or incomplete.",
    "not an image": "This is not a JPEG, PNG or WebP image we can read.",
    "bomb": "Images can be at most 40 megapixels.",
    "large": "Images can be at most 10 MB.",
}
DOCUMENT_REASONS = {
    "empty": "This file is empty.",
    "damaged": "This file is damaged or incomplete.",
    "not an image": "Send a PDF, PNG or JPEG file: this file is none of them.",
    "bomb": "This image is too large; send a smaller photo or a scan.",
    "large": "This file is larger than 10 MB; send a smaller scan or photo.",
    "appended": "This file has something added after its",
}

# (file name, content, the refusal case images give, the refusal documents give)
REFUSED: list[tuple[str, Callable[[], bytes], str, str]] = [
    ("empty.jpg", lambda: b"", "empty", "empty"),
    ("half.jpg", lambda: truncated(picture("JPEG", (400, 300))), "damaged", "damaged"),
    ("half.png", lambda: truncated(picture("PNG", (400, 300))), "damaged", "damaged"),
    ("half.webp", lambda: truncated(picture("WEBP", (400, 300))), "damaged", "not an image"),
    ("magic only.jpg", lambda: b"\xff\xd8\xff", "not an image", "damaged"),
    ("page.html.jpg", lambda: SCRIPT, "not an image", "not an image"),
    ("drawing.png", lambda: SVG, "not an image", "not an image"),
    ("setup.jpg", lambda: EXE, "not an image", "not an image"),
    ("animation.png", lambda: GIF, "not an image", "not an image"),
    ("archive.jpg", zip_archive, "not an image", "not an image"),
    ("png then html.png", lambda: PNG[:16] + SCRIPT * 4, "not an image", "damaged"),
    ("bomb.png", lambda: png_declaring(50_000, 50_000), "bomb", "bomb"),
    ("wide.png", lambda: png_declaring(100_000, 1_000), "bomb", "bomb"),
    ("bomb.jpg", lambda: jpeg_declaring(60_000, 60_000), "bomb", "bomb"),
    ("over 40.png", lambda: png_just_over(40), "bomb", "accepted"),
    ("over 50.png", lambda: png_just_over(50), "bomb", "bomb"),
    ("large.jpg", lambda: JPEG + b"\0" * (10 * MB + 1 - len(JPEG)), "large", "large"),
]

# Images that are something else as well: case images keep only their pixels; documents refuse.
POLYGLOTS: list[tuple[str, Callable[[], bytes]]] = [
    ("jpeg and html.jpg", lambda: JPEG + SCRIPT),
    ("jpeg and zip.jpg", lambda: JPEG + zip_archive()),
    ("png and html.png", lambda: PNG + SCRIPT),
    ("png and zip.png", lambda: PNG + zip_archive()),
    ("webp and html.webp", lambda: WEBP + SCRIPT),
]
HOSTILE_BYTES = (b"<script", b"<html", b"PK\x03\x04", b"MANIFEST", b"alert(")


def multipart(client: FormClient, url: str, fields: dict[str, Any]) -> TestResponse:
    """POST multipart form data encoded in memory (the test client would spool large bodies to
    a temporary file it never closes, which pytest reports as an unclosed-file warning)."""
    boundary, body = encode_multipart({"csrf_token": client.csrf_token(), **fields})
    return client.post(
        url, data=body, content_type=f"multipart/form-data; boundary={boundary}", csrf=False
    )


def file(data: bytes, name: str) -> FileStorage:
    return FileStorage(io.BytesIO(data), name)


def unchanged(app: Flask, before: dict[str, int], files_before: list[Any]) -> list[str]:
    """What a refused upload changed (audit rows may record the attempt)."""
    with app.app_context():
        after = row_counts()
    problems = [
        f"{table}: {before[table]} -> {after[table]} rows"
        for table in before
        if before[table] != after[table] and table != "audit_event"
    ]
    if stored_files(app) != files_before:
        problems.append("files were left in storage")
    return problems


# --- Case images --------------------------------------------------------------------------------


def post_case(world: World, data: bytes, name: str) -> TestResponse:
    fields = {**CASE_FORM, "title": f"A case with {name}", "images": file(data, name)}
    return multipart(world.client("admin"), "/c/cardiology/new-case", fields)


def test_hostile_case_images_are_refused_with_a_reason_and_leave_nothing_behind(
    world: World,
    quiet_detector: None,  # noqa: F811
) -> None:
    app, wrong = world.app, []
    world.client("admin")
    for name, make, refusal, _ in REFUSED:
        with app.app_context():
            before = row_counts()
        files_before = stored_files(app)

        response = post_case(world, make(), name)

        label = name.rsplit(".", 1)[0]
        expected = f"Image 1 ({label}): {IMAGE_REASONS[refusal]}"
        if response.status_code != 422:
            wrong.append(f"{name}: answered {response.status_code}, not 422")
        elif expected not in text(response):
            wrong.append(f"{name}: the page does not say {expected!r}")
        wrong += [f"{name}: {problem}" for problem in unchanged(app, before, files_before)]
    assert not wrong, "\n".join(wrong)
    assert inconsistencies(app) == []


def _stored_image(app: Flask) -> tuple[int, str, bytes]:
    with app.app_context():
        image = db.session.scalars(sa.select(PostImage).order_by(PostImage.id.desc())).first()
        assert image is not None
        path = stored_files(app)
        found = [p for p in path if p.name == image.storage_name]
        assert len(found) == 1
        return image.id, image.media_type, found[0].read_bytes()


def test_case_images_are_judged_by_content_and_a_polyglot_keeps_only_its_pixels(
    world: World,
    quiet_detector: None,  # noqa: F811
) -> None:
    app = world.app
    client = world.client("admin")
    cases: list[tuple[str, Callable[[], bytes], str]] = [
        *((name, make, name.rsplit(".", 1)[1].replace("jpg", "jpeg")) for name, make in POLYGLOTS),
        ("png named as a jpeg.jpg", lambda: PNG, "png"),
        ("jpeg named as a png.png", lambda: JPEG, "jpeg"),
        ("webp named as a jpeg.jpeg", lambda: WEBP, "webp"),
        ("png with a script in a text chunk.png", png_with_script_chunk, "png"),
    ]
    for name, make, real in cases:
        response = post_case(world, make(), name)
        assert response.status_code == 302, (name, response.status_code)

        image_id, media_type, stored = _stored_image(app)

        assert media_type == f"image/{real.replace('jpg', 'jpeg')}", name
        for marker in HOSTILE_BYTES:
            assert marker not in stored, (name, marker)
        assert Image.open(io.BytesIO(stored)).format == real.upper(), name
        with client.get(f"/images/{image_id}") as served:
            assert served.status_code == 200
            assert served.data == stored
            assert served.headers["Content-Type"] == f"image/{real}"
            assert served.headers["X-Content-Type-Options"] == "nosniff"
            extension = "jpg" if real == "jpeg" else real
            assert served.headers["Content-Disposition"] == f'inline; filename="image.{extension}"'
    assert inconsistencies(app) == []


# --- Verification documents ---------------------------------------------------------------------


def _document_fields(
    world: World, point: str, data: bytes, name: str
) -> tuple[str, str, dict[str, Any]]:
    """(client name, address, form fields) for sending one file through an upload point."""
    if point == "upload":
        url = f"/verification/claim/{world.claim('claimant')}/documents"
        return "claimant", url, {"document": file(data, name)}
    if point == "claim":
        return "newcomer", "/verification/claim", {**WIEBE_FORM, "documents": file(data, name)}
    url = f"/verification/claim/{world.claim('asked')}/answer"
    return "asked", url, {"answer": "My badge is attached.", "documents": file(data, name)}


FIELDS = {"upload": "document", "claim": "documents", "answer": "documents"}


def field_errors(response: TestResponse, field: str) -> list[str]:
    page = response.get_data(as_text=True)
    start = page.find(f'id="{field}-error"')
    if start == -1:
        return []
    block = page[start : page.find("</ul>", start)]
    return [text_of(item) for item in block.split("<li>")[1:]]


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


@pytest.mark.parametrize("point", ["upload", "claim", "answer"])
def test_hostile_documents_are_refused_with_a_reason_and_leave_nothing_behind(
    world: World, point: str
) -> None:
    app, wrong = world.app, []
    refused = [(name, make, reason) for name, make, _, reason in REFUSED if reason != "accepted"]
    refused += [(name, make, "appended") for name, make in POLYGLOTS if "webp" not in name]
    for name, make, reason in refused:
        client_name, url, fields = _document_fields(world, point, make(), name)
        client = world.client(client_name)
        limiter.reset()  # a member may send ten claims an hour; this sends more
        with app.app_context():
            before = row_counts()
        files_before = stored_files(app)

        response = multipart(client, url, fields)

        errors = field_errors(response, FIELDS[point])
        expected = DOCUMENT_REASONS[reason]
        if response.status_code != 422:
            wrong.append(f"{name}: answered {response.status_code}, not 422")
        elif not any(
            expected in error and (name in error or reason == "large") for error in errors
        ):
            wrong.append(f"{name}: the errors {errors} do not say {expected!r}")
        wrong += [f"{name}: {problem}" for problem in unchanged(app, before, files_before)]
    assert not wrong, "\n".join(wrong)
    assert inconsistencies(app) == []


def test_a_document_downloads_with_the_extension_of_what_it_really_is(world: World) -> None:
    app = world.app
    claim_id = world.claim("claimant")
    member = world.client("claimant")
    verifier = world.client("admin")
    sent = [
        ("badge.html", picture("JPEG"), "image/jpeg", "badge.html.jpg"),
        ("licence.png", pdf_bytes(), "application/pdf", "licence.png.pdf"),
        ("scan.jpg", picture("PNG"), "image/png", "scan.jpg.png"),
        ("badge photo.JPEG", picture("JPEG"), "image/jpeg", "badge photo.JPEG"),
        ("LICENCE.PDF", pdf_bytes(), "application/pdf", "LICENCE.PDF"),
    ]
    for name, data, content_type, download in sent:
        url = f"/verification/claim/{claim_id}/documents"
        response = multipart(member, url, {"document": file(data, name)})
        assert response.status_code == 302, (name, response.status_code)
        with app.app_context():
            document = db.session.scalars(
                sa.select(ClaimDocument).order_by(ClaimDocument.id.desc())
            ).first()
            assert document is not None
            assert (document.original_name, document.content_type) == (name, content_type)
            document_id = document.id

        with verifier.get(f"/verification/queue/documents/{document_id}") as served:
            assert served.status_code == 200
            assert served.data == data
            assert served.headers["Content-Type"] == content_type
            assert served.headers["X-Content-Type-Options"] == "nosniff"
            disposition = served.headers["Content-Disposition"]
            assert disposition.startswith("attachment;")
            assert f'filename="{download}"' in disposition or download in disposition, (
                name,
                disposition,
            )
            assert disposition.rstrip('"').endswith(download.rsplit(".", 1)[1]), disposition
    assert inconsistencies(app) == []

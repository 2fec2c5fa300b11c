"""Case images lose every metadata block, and anything that is not a plain image is refused."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from forum.cases.images import MAX_BYTES, ImageRejected, sanitise

GPS_IFD = 0x8825
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
    b'syntax-ns#"><rdf:Description><dc:creator>Jane Patient</dc:creator></rdf:Description>'
    b"</rdf:RDF></x:xmpmeta>"
)


def _photo_with_gps() -> bytes:
    """A JPEG as a phone writes it: EXIF with GPS, a maker note, XMP and a comment."""
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x9286] = "patient Jane Doe MRN 12345"  # UserComment
    exif[0x0112] = 6  # Orientation: rotate 90 degrees
    exif[GPS_IFD] = {1: "N", 2: (40.0, 26.0, 46.0), 3: "W", 4: (79.0, 58.0, 56.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=b"Jane Doe DOB 1950", xmp=XMP)
    return out.getvalue()


def test_a_photo_with_gps_comes_back_without_any_metadata() -> None:
    original = _photo_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)

    clean = sanitise(original)

    reopened = Image.open(io.BytesIO(clean.data))
    assert not reopened.getexif()
    assert not {"exif", "xmp", "comment", "icc_profile", "photoshop"} & set(reopened.info)
    for marker in (b"Exif", b"GPS", b"Jane", b"PhoneMaker", b"xmpmeta", b"MRN"):
        assert marker not in clean.data
    assert clean.media_type == "image/jpeg"


def test_the_exif_orientation_is_applied_before_it_is_dropped() -> None:
    clean = sanitise(_photo_with_gps())
    assert (clean.width, clean.height) == (48, 64)


def test_png_text_chunks_are_dropped_and_transparency_kept() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Dr Who treating John Smith")
    out = io.BytesIO()
    Image.new("RGBA", (10, 10), (0, 0, 0, 0)).save(out, "PNG", pnginfo=info)

    clean = sanitise(out.getvalue())

    assert b"John Smith" not in clean.data
    reopened = Image.open(io.BytesIO(clean.data))
    assert reopened.mode == "RGBA"
    assert clean.media_type == "image/png"


def test_webp_is_accepted() -> None:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), "blue").save(out, "WEBP")
    assert sanitise(out.getvalue()).media_type == "image/webp"


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that declares huge dimensions: a decompression bomb's header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\0" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(("width", "height"), [(7000, 7000), (20000, 20000), (100000, 100000)])
def test_decompression_bombs_are_refused_before_decoding(width: int, height: int) -> None:
    with pytest.raises(ImageRejected, match=r"megapixels|not a JPEG"):
        sanitise(_png_header_only(width, height))


def test_a_truncated_image_is_refused() -> None:
    data = _photo_with_gps()
    with pytest.raises(ImageRejected, match="damaged or incomplete"):
        sanitise(data[: len(data) // 2])


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n1 0 obj<<>>endobj\n",
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        b"MZ\x90\x00" + b"\0" * 100,
    ],
    ids=["pdf", "gif", "svg", "exe"],
)
def test_anything_but_jpeg_png_or_webp_is_refused(data: bytes) -> None:
    with pytest.raises(ImageRejected, match="not a JPEG, PNG or WebP"):
        sanitise(data)


def test_a_polyglot_keeps_only_its_pixels() -> None:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(out, "PNG")
    polyglot = out.getvalue() + b"<script>alert(1)</script>%PDF-1.4"
    clean = sanitise(polyglot)
    assert b"<script>" not in clean.data
    assert b"%PDF" not in clean.data


def test_empty_and_oversized_files_are_refused() -> None:
    with pytest.raises(ImageRejected, match="empty"):
        sanitise(b"")
    with pytest.raises(ImageRejected, match="10 MB"):
        sanitise(b"\xff\xd8\xff" + b"\0" * MAX_BYTES)

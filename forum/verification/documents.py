"""Members' proof documents: checked by content, stored outside static/ under random names."""

from __future__ import annotations

import hashlib
import io
import unicodedata
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO

from PIL import Image

from forum.storage import private_folder, store_private

MAX_BYTES = 10 * 1024 * 1024
MAX_PER_CLAIM = 5
# Files are deleted this long after the claim's decision; the checksum stays.
RETENTION = timedelta(days=30)
# A photographed badge is a few megapixels; far more is a decompression bomb, not a document.
MAX_PIXELS = 50_000_000
FOLDER_NAME = "documents"

PDF, PNG, JPEG = "application/pdf", "image/png", "image/jpeg"
_MAGIC = ((b"%PDF-", PDF), (b"\x89PNG\r\n\x1a\n", PNG), (b"\xff\xd8\xff", JPEG))
_PILLOW_FORMAT = {PNG: "PNG", JPEG: "JPEG"}
KIND_NAMES = {PDF: "PDF", PNG: "PNG image", JPEG: "JPEG image"}

NOT_ACCEPTED = "Send a PDF, PNG or JPEG file: this file is none of them."
DAMAGED = "This file is damaged or incomplete. Save or scan it again, then send it."
TOO_MANY_PIXELS = "This image is too large; send a smaller photo or a scan."
APPENDED = (
    "This file has something added after its image, so it may be more than a picture. "
    "Save or scan it again as a plain PNG, JPEG or PDF, then send it."
)
_EXTENSIONS = {PDF: ("pdf",), PNG: ("png",), JPEG: ("jpg", "jpeg")}
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD9)})  # JPEG markers with no length


class DocumentError(Exception):
    """An upload we refuse; the message tells the member what to send instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Upload:
    """A file as the member sent it: its declared name and its bytes."""

    name: str
    stream: IO[bytes]


@dataclass(frozen=True)
class CheckedFile:
    """An upload whose content we read and accepted, not yet stored."""

    display_name: str
    content_type: str
    data: bytes
    sha256: str

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)


def display_name(declared: str) -> str:
    """The declared file name without folders or control characters, for display only."""
    name = declared.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if unicodedata.category(char)[0] != "C").strip()
    return name[:255] or "document"


def sniff(data: bytes) -> str | None:
    """The content type the file's first bytes announce, whatever its name says."""
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    return None


def _check_pdf(data: bytes) -> None:
    # A complete PDF ends with an end-of-file marker (trailing whitespace allowed).
    if b"%%EOF" not in data[-1024:]:
        raise DocumentError(DAMAGED)


def download_name(name: str, content_type: str) -> str:
    """The member's name for the file, ending with the extension of what it really is, so a
    downloaded "badge.html" that holds a JPEG opens as the JPEG it is ("badge.html.jpg")."""
    extensions = _EXTENSIONS[content_type]
    if "." in name and name.rsplit(".", 1)[1].lower() in extensions:
        return name
    return f"{name}.{extensions[0]}"


def _png_end(data: bytes) -> int | None:
    """Where the PNG's IEND chunk ends, walking its chunks; None when there is none."""
    position = 8
    while position + 12 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        position += 12 + length
        if kind == b"IEND":
            return position
    return None


def _jpeg_end(data: bytes) -> int | None:
    """Where the JPEG's end-of-image marker ends, walking its segments and scans (an EXIF
    thumbnail's own end marker sits inside a segment and is skipped); None when there is none."""
    position, size = 2, len(data)
    while position + 1 < size:
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # a fill byte before the marker
            position += 1
        elif marker == 0xD9:
            return position + 2
        elif marker in _STANDALONE_MARKERS:
            position += 2
        else:
            position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
            while marker == 0xDA:  # a scan: coded data runs to the next marker but FF00 and RSTn
                position = data.find(b"\xff", position)
                if position == -1 or position + 1 >= size:
                    return None
                following = data[position + 1]
                if following != 0x00 and not 0xD0 <= following <= 0xD7:
                    break
                position += 2
    return None


def _check_nothing_appended(data: bytes, content_type: str) -> None:
    # Kept byte for byte as evidence, a document must be only its image: HTML, an archive or
    # another file after the end marker makes a polyglot. Padding after the end is harmless.
    end = _png_end(data) if content_type == PNG else _jpeg_end(data)
    if end is None:
        raise DocumentError(DAMAGED)
    if data[end:].strip(b"\x00\t\n\r "):
        raise DocumentError(APPENDED)


def _check_image(data: bytes, content_type: str) -> None:
    formats = (_PILLOW_FORMAT[content_type],)
    try:
        with warnings.catch_warnings():
            # Pillow warns, then raises, on decompression bombs; both mean "too large".
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=formats) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise DocumentError(TOO_MANY_PIXELS)
                image.verify()  # structure and checksums, without decoding
        with Image.open(io.BytesIO(data), formats=formats) as image:
            image.load()  # decoding finds truncated JPEG data, which verify() does not
    except DocumentError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DocumentError(TOO_MANY_PIXELS) from None
    except Exception:  # Pillow raises many kinds (OSError, SyntaxError, ...) for broken files
        raise DocumentError(DAMAGED) from None
    _check_nothing_appended(data, content_type)


def check(upload: Upload) -> CheckedFile:
    """Read an upload and accept it only when its content is a whole PDF, PNG or JPEG."""
    data = upload.stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise DocumentError("This file is larger than 10 MB; send a smaller scan or photo.")
    if not data:
        raise DocumentError("This file is empty.")
    content_type = sniff(data)
    if content_type is None:
        raise DocumentError(NOT_ACCEPTED)
    if content_type == PDF:
        _check_pdf(data)
    else:
        _check_image(data, content_type)
    return CheckedFile(
        display_name=display_name(upload.name),
        content_type=content_type,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def folder() -> Path:
    """Where document files live: instance/documents, never under static/."""
    return private_folder(FOLDER_NAME)


def write(checked: CheckedFile) -> str:
    """Store the file under a new random name, readable by the site's user only."""
    return store_private(FOLDER_NAME, checked.data)


def delete(storage_name: str) -> None:
    """Remove a stored file; one already gone is fine."""
    (folder() / storage_name).unlink(missing_ok=True)

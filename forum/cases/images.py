"""Case images: checked by content, bombs refused, re-encoded so no metadata survives."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
TOO_MANY_PIXELS = "Images can be at most 40 megapixels."
# Format Pillow detects -> (format we write, media type, file extension).
ACCEPTED = {
    "JPEG": ("JPEG", "image/jpeg", "jpg"),
    "PNG": ("PNG", "image/png", "png"),
    "WEBP": ("WEBP", "image/webp", "webp"),
}


class ImageRejected(ValueError):
    """An upload that is not an image we take; the message tells the member why."""


@dataclass(frozen=True)
class CleanImage:
    """A re-encoded image: fresh pixels, no metadata of the original."""

    data: bytes
    media_type: str
    extension: str
    width: int
    height: int


def _open(data: bytes) -> Image.Image:
    if len(data) > MAX_BYTES:
        raise ImageRejected("Images can be at most 10 MB.")
    if not data:
        raise ImageRejected("The file is empty.")
    try:
        with warnings.catch_warnings():
            # Pillow warns, then raises, on decompression bombs; both mean "refuse".
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(ACCEPTED))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(TOO_MANY_PIXELS) from None
    except UnidentifiedImageError:
        raise ImageRejected("This is not a JPEG, PNG or WebP image we can read.") from None
    except (OSError, SyntaxError, ValueError):
        raise ImageRejected("The image is damaged or incomplete.") from None
    if image.width * image.height > MAX_PIXELS:
        raise ImageRejected(TOO_MANY_PIXELS)
    return image


def _pixels(image: Image.Image) -> Image.Image:
    """Decode fully (truncated files fail here) and apply, then drop, the EXIF orientation."""
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError):
        raise ImageRejected("The image is damaged or incomplete.") from None
    mode = "RGBA" if upright.mode in ("RGBA", "LA", "P") and image.format != "JPEG" else "RGB"
    # A new image holds pixels only: no info dict, EXIF, XMP, ICC, comments or thumbnails.
    clean = Image.new(mode, upright.size)
    clean.paste(upright.convert(mode))
    return clean


def sanitise(data: bytes) -> CleanImage:
    """Re-encode an uploaded image, or ImageRejected with a reason a member understands."""
    image = _open(data)
    write_format, media_type, extension = ACCEPTED[str(image.format)]
    clean = _pixels(image)
    if write_format == "JPEG" and clean.mode != "RGB":
        clean = clean.convert("RGB")
    out = io.BytesIO()
    options = {"JPEG": {"quality": 88, "optimize": True}, "WEBP": {"quality": 88}}.get(
        write_format, {}
    )
    clean.save(out, format=write_format, **options)
    return CleanImage(out.getvalue(), media_type, extension, clean.width, clean.height)

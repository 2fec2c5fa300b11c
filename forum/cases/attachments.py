"""Images on posts: read with a cap, re-encoded, stored under random names, held for review."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import sqlalchemy as sa
from sqlalchemy.orm import Session, SessionTransaction
from werkzeug.datastructures import FileStorage

from forum.cases.images import MAX_BYTES, CleanImage, ImageRejected, sanitise
from forum.cases.models import Post, PostImage, Visibility
from forum.extensions import db
from forum.storage import private_folder, store_private

log = logging.getLogger(__name__)

MAX_IMAGES = 4
LABEL_MAX = 120
FOLDER_NAME = "images"
# session.info keys: files written in the open transaction, and whether the hooks are on.
_PENDING = "curbside.pending_image_files"
_HOOKED = "curbside.image_file_hooks"


@dataclass(frozen=True)
class PreparedImage:
    """An upload re-encoded without metadata, with the member's name for it."""

    clean: CleanImage
    label: str


def label_for(filename: str | None) -> str:
    """The file name without folders or extension, on one line, at most 120 characters."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    printable = "".join(char if char.isprintable() else " " for char in stem)
    return " ".join(printable.split())[:LABEL_MAX].strip()


def _chosen(uploads: Sequence[FileStorage]) -> list[FileStorage]:
    # A file input left empty still sends one part, with no file name and no bytes.
    return [upload for upload in uploads if upload.filename]


def prepare(uploads: Sequence[FileStorage]) -> tuple[list[PreparedImage], list[str]]:
    """Read and re-encode the uploads; nothing is written. Returns images and error messages."""
    chosen = _chosen(uploads)
    if len(chosen) > MAX_IMAGES:
        return [], [f"Attach at most {MAX_IMAGES} images to a post."]
    prepared: list[PreparedImage] = []
    errors: list[str] = []
    for number, upload in enumerate(chosen, start=1):
        # Never more than the limit and one byte: enough to tell "too large" without reading it all.
        data = upload.stream.read(MAX_BYTES + 1)
        try:
            clean = sanitise(data)
        except ImageRejected as rejected:
            errors.append(f"Image {number} ({label_for(upload.filename)}): {rejected}")
            continue
        prepared.append(PreparedImage(clean, label_for(upload.filename)))
    return prepared, errors


def label_fields(prepared: Sequence[PreparedImage]) -> dict[str, str]:
    """The images' names for the PHI gate (file names often carry patients' names)."""
    return {
        f"image_label_{number}": image.label
        for number, image in enumerate(prepared, start=1)
        if image.label
    }


def folder() -> Path:
    """Where image files live: instance/images, never under static/."""
    return private_folder(FOLDER_NAME)


def path_of(image: PostImage) -> Path:
    """The stored file of an image."""
    return folder() / image.storage_name


def _keep_files(session: Session) -> None:
    """After a commit of the whole transaction the files belong to stored rows."""
    if not session.in_nested_transaction():
        session.info.pop(_PENDING, None)


def _drop_files(session: Session, transaction: SessionTransaction) -> None:
    """When the whole transaction ends without a commit, remove the files it wrote."""
    if transaction.parent is not None:
        return
    for path in session.info.pop(_PENDING, []):
        try:
            path.unlink(missing_ok=True)
        except OSError:
            log.warning("Could not remove the image file %s of a rolled-back post", path.name)


def _track(session: Session, path: Path) -> None:
    if not session.info.get(_HOOKED):
        sa.event.listen(session, "after_commit", _keep_files)
        sa.event.listen(session, "after_transaction_end", _drop_files)
        session.info[_HOOKED] = True
    session.info.setdefault(_PENDING, []).append(path)


def attach(post: Post, prepared: Sequence[PreparedImage]) -> None:
    """Store the images on the post and hold it for a moderator; the caller commits.

    Faces, tattoos and scars identify patients and no scanner clears them, so every post with
    an image waits for a moderator. Files written here are removed again if the transaction
    is rolled back or closed without a commit.
    """
    if not prepared:
        return
    session = db.session()
    session.add(post)  # joins the transaction, so its end is seen by the hooks below
    for image in prepared:
        name = store_private(FOLDER_NAME, image.clean.data, image.clean.extension)
        _track(session, folder() / name)
        post.images.append(
            PostImage(
                storage_name=name,
                media_type=image.clean.media_type,
                width=image.clean.width,
                height=image.clean.height,
                size=len(image.clean.data),
                label=image.label,
            )
        )
    post.visibility = Visibility.PENDING

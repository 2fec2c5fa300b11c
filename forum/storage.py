"""Private files under the instance folder: random names, readable by the site's user only."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import current_app


def private_folder(name: str) -> Path:
    """A folder under instance/, never under static/, so files are served only by our views."""
    return Path(current_app.instance_path) / name


def store_private(folder_name: str, data: bytes, extension: str = "") -> str:
    """Write data under a new random name (never the member's) and return that name."""
    target = private_folder(folder_name)
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = secrets.token_hex(16) + (f".{extension}" if extension else "")
    descriptor = os.open(target / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    return name

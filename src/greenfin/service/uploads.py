"""The name an uploaded file is written under before it is read.

The upload's own name is kept (the row-level error table shows it), but a browser or a client can
send anything: a path, control characters, or a name longer than a file system takes (255 bytes on
Linux, which 86 Chinese characters already exceed), which turned an upload into a server error.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

#: Bytes kept of a name: well under the 255 a Linux file system takes, with room for a prefix.
MAX_NAME_BYTES = 200


def upload_name(name: str | None, fallback: str) -> str:
    """The upload's base name, without directories or control characters, at most
    :data:`MAX_NAME_BYTES` bytes in UTF-8 with its suffix kept; ``fallback`` when nothing is left."""
    base = re.sub(r"[\x00-\x1f/\\:]", "_", PurePosixPath((name or "").replace("\\", "/")).name)
    base = base.strip(" ").rstrip(".")  # Windows drops trailing dots; ".." must not stay
    if not base:
        return fallback
    suffix = PurePosixPath(base).suffix
    if len(suffix.encode()) > 16:  # not a real suffix: keep the name's start instead
        suffix = ""
    stem = base[: len(base) - len(suffix)] if suffix else base
    room = MAX_NAME_BYTES - len(suffix.encode())
    stem = stem.encode()[:room].decode(errors="ignore").rstrip(" .")
    return f"{stem}{suffix}" if stem else fallback

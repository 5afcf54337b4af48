"""Whether files can be written under a folder, asked before a command writes anything."""

from __future__ import annotations

import tempfile
from pathlib import Path


def unwritable(folder: str | Path) -> str | None:
    """Why no file can be created in `folder` (or, where it does not exist yet, in the nearest
    existing folder above it, where it would be made); None when one can.

    The answer comes from trying: one empty temporary file is created and removed (permission
    bits say nothing for root, read-only mounts or /proc). Nothing else is created."""
    folder = Path(folder)
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            return f"{str(folder)!r} has no existing parent folder"
        existing = existing.parent
    if not existing.is_dir():
        return f"{str(existing)!r} is a file, not a folder"
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".statebench-write-test-"):
            pass
    except OSError as e:
        return f"cannot create files in {str(existing)!r} ({e.strerror or e})"
    return None

"""Where conformance verdicts are kept, so a plugin's check is paid once per version of its code.

A verdict is a small JSON file under the user's cache folder (`STATEBENCH_CACHE_DIR`, else
platformdirs' user cache folder for "statebench"), named by a hash of what was checked: the
plugin's name and options, the source hash of its module, statebench's version and the check's
own version. Only passes are kept (a failure is fast to find again, and the user is about to
edit the code); a pass records the longest length it covered, so a run that needs longer is
checked again. The cache is only a shortcut: a folder that cannot be read or written is
logged and skipped, never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CACHE_ENV = "STATEBENCH_CACHE_DIR"
DOOR_VERSION = 1  # raise when the checks change: older passes no longer count


def cache_dir() -> Path:
    """The folder verdicts live in (`$STATEBENCH_CACHE_DIR/conformance` when set)."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("statebench", appauthor=False)
    return Path(root) / "conformance"


def verdict_key(what: dict[str, Any]) -> str:
    import statebench

    content = {**what, "statebench": statebench.__version__, "door": DOOR_VERSION}
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def passed_up_to(key: str) -> tuple[int, int]:
    """The lengths a stored pass covers: (forward or drawn, a streamed chunk); (0, 0) when
    none is stored, or it cannot be read."""
    path = cache_dir() / f"{key}.json"
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        return int(entry["checked_len"]), int(entry.get("checked_stream_len", 0))
    except FileNotFoundError:
        return 0, 0
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.info("ignoring unreadable conformance verdict %s (%s)", path, e)
        return 0, 0


def record_pass(
    key: str, what: dict[str, Any], checked_len: int, stream_len: int, seconds: float
) -> None:
    """Keep a pass (atomically: temp file, then rename); a failure to write only logs."""
    folder = cache_dir()
    old_len, old_stream = passed_up_to(key)  # a pass covers what earlier ones did too
    entry = {
        **what,
        "checked_len": max(checked_len, old_len),
        "checked_stream_len": max(stream_len, old_stream),
        "seconds": round(seconds, 3),
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(entry, f, sort_keys=True, default=str)
        os.replace(tmp, folder / f"{key}.json")
    except OSError as e:
        log.info("conformance verdict not cached in %s (%s)", folder, e)
        if tmp:
            Path(tmp).unlink(missing_ok=True)

"""Reading claim files: who owns a cell, and whether that owner is gone.

A claim is `run_dir/claims/<key>.<gen>.claim` (JSON {pid, host, token, created}; its mtime is
the owner's last heartbeat); the cell's owner holds its highest generation (`bench.store.claims`).

A claim is stale when its owner is gone: on this host, its pid is not alive (or is a zombie, or
is this very process without holding the claim); on any host, its last heartbeat is older than
`stale_after_s` (the only test possible across hosts, and the guard against pid reuse), or its
file names no owner at all (empty or garbled: claims are written whole, so no live driver
leaves one).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from statebench.bench.store.layout import RunDir

DEFAULT_STALE_AFTER_S = 600.0

# Tokens of claims held by ClaimBooks of this process: a claim carrying our pid but a token not
# in here was left by an earlier (finished or interrupted) driver in this process, so is stale.
_HELD_TOKENS: set[str] = set()
_HELD_LOCK = threading.Lock()


def hold_token(token: str) -> None:
    with _HELD_LOCK:
        _HELD_TOKENS.add(token)


def drop_token(token: str) -> None:
    with _HELD_LOCK:
        _HELD_TOKENS.discard(token)


@dataclass(frozen=True)
class ClaimInfo:
    """What a claim file says about its owner."""

    key: str
    generation: int
    path: Path
    pid: int | None
    host: str
    token: str
    created: float | None
    heartbeat: float  # mtime: the owner's last sign of life

    @property
    def age_s(self) -> float:
        return max(0.0, time.time() - self.heartbeat)

    @property
    def owner_unknown(self) -> bool:
        """The file names no owner (empty or garbled)."""
        return self.pid is None and not self.host and not self.token


def claims_dir(run_dir: str | Path) -> Path:
    return RunDir(run_dir).claims_dir


def claim_name(key: str, generation: int) -> str:
    return f"{key}.{generation}.claim"


def _parse_name(name: str) -> tuple[str, int] | None:
    parts = name.split(".")
    if len(parts) != 3 or parts[2] != "claim" or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def generations(folder: Path, key: str) -> list[int]:
    gens = []
    for path in folder.glob(f"{key}.*.claim"):
        parsed = _parse_name(path.name)
        if parsed and parsed[0] == key:
            gens.append(parsed[1])
    return sorted(gens)


def read_claim(path: Path, key: str, generation: int) -> ClaimInfo | None:
    try:
        heartbeat = path.stat().st_mtime
        text = path.read_text()
    except FileNotFoundError:
        return None  # released meanwhile
    try:
        data = json.loads(text)
    except ValueError:
        data = {}  # empty or garbled: it names no owner (is_stale)
    if not isinstance(data, dict):
        data = {}
    return ClaimInfo(
        key=key,
        generation=generation,
        path=path,
        pid=data.get("pid"),
        host=str(data.get("host", "")),
        token=str(data.get("token", "")),
        created=data.get("created"),
        heartbeat=heartbeat,
    )


def pid_alive(pid: int) -> bool:
    """Whether a process of this host is alive (a zombie counts as dead: it runs nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(0) said it exists


def is_stale(info: ClaimInfo, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> bool:
    """Whether the claim's owner is gone, so the claim may be taken over.

    An empty or garbled claim (a crash or a full disk while it was written) names no owner:
    a live driver's claim is never empty (bench.store.claims writes it whole), so it is stale
    at once, not after `stale_after_s`."""
    if info.age_s > stale_after_s or info.owner_unknown:
        return True
    if info.pid is None or info.host != socket.gethostname():
        return False  # unknown or remote owner: only the heartbeat age can tell
    if info.pid == os.getpid():
        with _HELD_LOCK:
            return info.token not in _HELD_TOKENS
    return not pid_alive(info.pid)


def read_claims(run_dir: str | Path) -> dict[str, ClaimInfo]:
    """The current (highest-generation) claim of every claimed cell."""
    folder = claims_dir(run_dir)
    if not folder.is_dir():
        return {}
    top: dict[str, int] = {}
    for path in folder.glob("*.claim"):
        parsed = _parse_name(path.name)
        if parsed:
            key, gen = parsed
            top[key] = max(gen, top.get(key, -1))
    out = {}
    for key, gen in top.items():
        info = read_claim(folder / claim_name(key, gen), key, gen)
        if info is not None:
            out[key] = info
    return out

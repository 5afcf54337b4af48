"""Claim files: which driver runs which cell, so two drivers on one run dir never run a cell twice.

Layout, under `run_dir/claims/`:
    <key>.<gen>.claim   a driver's claim on a cell: JSON {pid, host, token, created}; its mtime
                        is the owner's last heartbeat
    <key>.run           what is running the cell right now: JSON {pid, host, started}, written by
                        the worker process (pool, Ray, Slurm or the driver itself)

Why generations: a claim whose owner died must be taken over, and two drivers may try at once.
Deleting the stale file and creating a fresh one races (the second deleter removes the first's
new claim). Instead the cell's owner is whoever holds its *highest* generation; taking over a
stale generation g means creating g+1 with O_CREAT|O_EXCL, which exactly one process can do.
After creating, the creator re-lists and backs off if a higher generation appeared meanwhile,
so there is never more than one owner. Files are only ever deleted by their owner on release
(its own generation and the stale ones below it). A claim does not prove the cell still needs
running (its file may have landed just before), so callers re-check the store after acquiring.

A claim is stale when its owner is gone: on this host, its pid is not alive (or is a zombie, or
is this very process without holding the claim); on any host, its last heartbeat is older than
`stale_after_s` (the only test possible across hosts, and the guard against pid reuse).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from statebench.bench import store

log = logging.getLogger(__name__)

DEFAULT_STALE_AFTER_S = 600.0
DEFAULT_HEARTBEAT_S = 30.0

# Tokens of claims held by ClaimBooks of this process: a claim carrying our pid but a token not
# in here was left by an earlier (finished or interrupted) driver in this process, so is stale.
_HELD_TOKENS: set[str] = set()
_HELD_LOCK = threading.Lock()


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


@dataclass(frozen=True)
class RunRecord:
    """What is running a cell: the process to kill if it overruns, and since when."""

    key: str
    pid: int
    host: str
    started: float


def claims_dir(run_dir: str | Path) -> Path:
    return store.claims_dir(run_dir)


def _claim_name(key: str, generation: int) -> str:
    return f"{key}.{generation}.claim"


def _parse_name(name: str) -> tuple[str, int] | None:
    parts = name.split(".")
    if len(parts) != 3 or parts[2] != "claim" or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def _generations(folder: Path, key: str) -> list[int]:
    gens = []
    for path in folder.glob(f"{key}.*.claim"):
        parsed = _parse_name(path.name)
        if parsed and parsed[0] == key:
            gens.append(parsed[1])
    return sorted(gens)


def _read_claim(path: Path, key: str, generation: int) -> ClaimInfo | None:
    try:
        heartbeat = path.stat().st_mtime
        text = path.read_text()
    except FileNotFoundError:
        return None  # released meanwhile
    try:
        data = json.loads(text)
    except ValueError:
        data = {}  # being written (O_EXCL creates it empty first) or damaged: judged by age
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
    """Whether the claim's owner is gone, so the claim may be taken over."""
    if info.age_s > stale_after_s:
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
        info = _read_claim(folder / _claim_name(key, gen), key, gen)
        if info is not None:
            out[key] = info
    return out


class ClaimBook:
    """The claims one driver holds on one run dir: acquire, heartbeat, release.

    Thread-safe: executors call `acquire` from the driver's thread while the heartbeat thread
    refreshes the held claims' mtimes.
    """

    def __init__(
        self,
        run_dir: str | Path,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        heartbeat_s: float | None = None,
    ) -> None:
        self.folder = claims_dir(run_dir)
        self.stale_after_s = stale_after_s
        self.heartbeat_s = heartbeat_s or min(DEFAULT_HEARTBEAT_S, stale_after_s / 4)
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._held: dict[str, tuple[int, str]] = {}  # key -> (generation, token)
        self._lock = threading.Lock()

    # -- acquiring ---------------------------------------------------------------------------

    def acquire(self, key: str) -> bool:
        """Claim a cell; False if a live other owner holds it (or won the race for it)."""
        with self._lock:
            if key in self._held:
                return True
        self.folder.mkdir(parents=True, exist_ok=True)
        gens = _generations(self.folder, key)
        generation = 0
        if gens:
            top = _read_claim(self.folder / _claim_name(key, gens[-1]), key, gens[-1])
            if top is not None and not is_stale(top, self.stale_after_s):
                return False
            if top is not None:
                log.info(
                    "taking over stale claim on %s (pid %s on %s, last heartbeat %.0fs ago)",
                    key,
                    top.pid,
                    top.host,
                    top.age_s,
                )
            generation = gens[-1] + 1
        token = uuid.uuid4().hex
        path = self.folder / _claim_name(key, generation)
        with _HELD_LOCK:  # register first: our own heartbeat-less claim is never judged stale
            _HELD_TOKENS.add(token)
        if not self._create(path, token):
            with _HELD_LOCK:
                _HELD_TOKENS.discard(token)
            return False
        if any(g > generation for g in _generations(self.folder, key)):
            # Someone took a later generation while our listing was old: they own the cell.
            path.unlink(missing_ok=True)
            with _HELD_LOCK:
                _HELD_TOKENS.discard(token)
            return False
        with self._lock:
            self._held[key] = (generation, token)
        return True

    def _create(self, path: Path, token: str) -> bool:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        body = {"pid": self.pid, "host": self.host, "token": token, "created": time.time()}
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(body))
        return True

    def held_elsewhere(self, key: str) -> bool:
        """Whether a live owner other than this book holds the cell."""
        gens = _generations(self.folder, key)
        if not gens or self.holds(key):
            return False
        top = _read_claim(self.folder / _claim_name(key, gens[-1]), key, gens[-1])
        return top is not None and not is_stale(top, self.stale_after_s)

    def holds(self, key: str) -> bool:
        with self._lock:
            return key in self._held

    @property
    def held(self) -> list[str]:
        with self._lock:
            return list(self._held)

    # -- releasing ---------------------------------------------------------------------------

    def release(self, key: str) -> None:
        """Drop our claim (after the cell's file landed, or when giving the cell up)."""
        with self._lock:
            entry = self._held.pop(key, None)
        if entry is None:
            return
        generation, token = entry
        for gen in _generations(self.folder, key):
            if gen <= generation:  # ours, and the stale ones we superseded
                (self.folder / _claim_name(key, gen)).unlink(missing_ok=True)
        with _HELD_LOCK:
            _HELD_TOKENS.discard(token)

    def release_all(self) -> None:
        for key in self.held:
            self.release(key)

    # -- staying alive -----------------------------------------------------------------------

    def beat(self) -> None:
        """Refresh the heartbeat (mtime) of every claim we hold."""
        with self._lock:
            held = list(self._held.items())
        for key, (generation, _) in held:
            try:
                os.utime(self.folder / _claim_name(key, generation))
            except FileNotFoundError:
                log.warning("claim on %s vanished while held", key)

    @contextmanager
    def heartbeat(self) -> Iterator[ClaimBook]:
        """Beat in a background thread while the body runs; release everything after."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(self.heartbeat_s):
                self.beat()

        thread = threading.Thread(target=loop, name="statebench-claims", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()
            self.release_all()


def sweep_stale(run_dir: str | Path, keys, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> int:
    """Delete stale claims (and run records) of cells that need no more work; returns how many.

    A driver killed after its cell landed but before releasing leaves such a claim; nobody will
    take it over (the cell is done), so without this it would stay forever. Only generations
    judged stale are removed, never a live owner's, so this is safe while other drivers run.
    """
    folder = claims_dir(run_dir)
    if not folder.is_dir():
        return 0
    swept = 0
    for key in keys:
        gens = _generations(folder, key)
        live = False
        if gens:
            top = _read_claim(folder / _claim_name(key, gens[-1]), key, gens[-1])
            live = top is not None and not is_stale(top, stale_after_s)
            if not live:
                for gen in gens:
                    (folder / _claim_name(key, gen)).unlink(missing_ok=True)
                swept += 1
        if not live:
            _run_path(run_dir, key).unlink(missing_ok=True)
    return swept


# -- what runs where -----------------------------------------------------------------------------


def _run_path(run_dir: str | Path, key: str) -> Path:
    return claims_dir(run_dir) / f"{key}.run"


def mark_started(run_dir: str | Path, key: str) -> None:
    """Record, from the process about to run a cell, who runs it and since when."""
    path = _run_path(run_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(body)
    os.replace(tmp, path)


def clear_started(run_dir: str | Path, key: str) -> None:
    _run_path(run_dir, key).unlink(missing_ok=True)


def read_started(run_dir: str | Path, key: str) -> RunRecord | None:
    try:
        data = json.loads(_run_path(run_dir, key).read_text())
        return RunRecord(key, int(data["pid"]), str(data["host"]), float(data["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_all_started(run_dir: str | Path) -> dict[str, RunRecord]:
    folder = claims_dir(run_dir)
    if not folder.is_dir():
        return {}
    out = {}
    for path in folder.glob("*.run"):
        record = read_started(run_dir, path.stem)
        if record is not None:
            out[record.key] = record
    return out

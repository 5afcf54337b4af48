"""Claim files: which driver runs which cell, so two drivers on one run dir never run a cell twice.

A claim is `run_dir/claims/<key>.<gen>.claim`: JSON {pid, host, token, created}; its mtime is
the owner's last heartbeat. What is running a cell right now is a separate record
(`bench.store.records`).

Why generations: a claim whose owner died must be taken over, and two drivers may try at once.
Deleting the stale file and creating a fresh one races (the second deleter removes the first's
new claim). Instead the cell's owner is whoever holds its *highest* generation; taking over a
stale generation g means creating g+1 with O_CREAT|O_EXCL, which exactly one process can do.
After creating, the creator re-lists and backs off if a higher generation appeared meanwhile,
so there is never more than one owner. Files are only ever deleted by their owner on release
(its own generation and the stale ones below it). A claim does not prove the cell still needs
running (its file may have landed just before), so callers re-check the store after acquiring.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from statebench.bench.config.errors import DiskFull
from statebench.bench.store.claim_files import (
    DEFAULT_STALE_AFTER_S,
    claim_name,
    claims_dir,
    drop_token,
    generations,
    hold_token,
    is_stale,
    read_claim,
)
from statebench.bench.store.files import check_inside
from statebench.bench.store.records import clear_started

log = logging.getLogger(__name__)

DISK_FULL = {errno.ENOSPC, errno.EDQUOT}

DEFAULT_HEARTBEAT_S = 30.0


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
        self.run_dir = Path(run_dir)
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
        check_inside(self.run_dir, self.folder / claim_name(key, 0))  # no link out of the run
        self.folder.mkdir(parents=True, exist_ok=True)
        gens = generations(self.folder, key)
        generation = 0
        if gens:
            top = read_claim(self.folder / claim_name(key, gens[-1]), key, gens[-1])
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
        path = self.folder / claim_name(key, generation)
        hold_token(token)  # first: our own heartbeat-less claim is never judged stale
        if not self._create(path, token):
            drop_token(token)
            return False
        if any(g > generation for g in generations(self.folder, key)):
            # Someone took a later generation while our listing was old: they own the cell.
            path.unlink(missing_ok=True)
            drop_token(token)
            return False
        with self._lock:
            self._held[key] = (generation, token)
        return True

    def _create(self, path: Path, token: str) -> bool:
        """Create the claim file whole or not at all: its body is written to a temp file that is
        then hard-linked to the claim's name (which fails if the name exists, as O_EXCL does).
        A live claim is therefore never empty, and an empty or garbled one has no owner."""
        body = json.dumps(
            {"pid": self.pid, "host": self.host, "token": token, "created": time.time()}
        ).encode()
        tmp = path.with_name(f".{path.name}.{token}.tmp")
        try:
            with open(tmp, "xb") as f:
                f.write(body)
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            except OSError as e:  # a filesystem without hard links: create, then write
                if e.errno in DISK_FULL:
                    raise
                return self._create_in_place(path, body)
            return True
        except OSError as e:
            if e.errno in DISK_FULL:
                raise DiskFull(f"disk full while writing {path}") from None
            raise
        finally:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _create_in_place(path: Path, body: bytes) -> bool:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(body)
        except OSError:
            path.unlink(missing_ok=True)  # never leave an empty claim behind
            raise
        return True

    def held_elsewhere(self, key: str) -> bool:
        """Whether a live owner other than this book holds the cell."""
        gens = generations(self.folder, key)
        if not gens or self.holds(key):
            return False
        top = read_claim(self.folder / claim_name(key, gens[-1]), key, gens[-1])
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
        for gen in generations(self.folder, key):
            if gen <= generation:  # ours, and the stale ones we superseded
                (self.folder / claim_name(key, gen)).unlink(missing_ok=True)
        drop_token(token)

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
                os.utime(self.folder / claim_name(key, generation))
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
        gens = generations(folder, key)
        live = False
        if gens:
            top = read_claim(folder / claim_name(key, gens[-1]), key, gens[-1])
            live = top is not None and not is_stale(top, stale_after_s)
            if not live:
                for gen in gens:
                    (folder / claim_name(key, gen)).unlink(missing_ok=True)
                swept += 1
        if not live:
            clear_started(run_dir, key)
    return swept

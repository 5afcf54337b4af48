"""A cell's training log, kept by the process that trains it (any executor) and stored per cell.

Rows arrive every `train.log_every` steps (bench.run.train); the log is rewritten atomically at most
every `flush_every_s` while training runs and once at the end (also when the cell fails), so a
long cell's curve is visible while it trains and a diverged cell keeps the steps before it blew.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from statebench.bench.store import RunDir


class TrainingLog:
    def __init__(
        self,
        run_dir: str | Path,
        run_id: str,
        key: str,
        flush_every_s: float = 10.0,
        also: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """`also` gets every row as training produced it (an experiment tracker)."""
        self.run, self.run_id, self.key, self.also = RunDir(run_dir), run_id, key, also
        self.flush_every_s = flush_every_s
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.rows: list[dict[str, Any]] = []
        self._flushed = time.monotonic()

    def __call__(self, row: dict[str, Any]) -> None:
        self.rows.append({"run_id": self.run_id, "cell": self.key, **row, "worker": self.worker})
        if self.also is not None:
            self.also(row)
        if time.monotonic() - self._flushed > self.flush_every_s:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.run.write_training_log(self.key, self.rows)
        self._flushed = time.monotonic()

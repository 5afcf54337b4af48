"""Run records: what is running a cell right now, written by the worker process about to run it.

`run_dir/claims/<key>.run` holds JSON {pid, host, started}: the process to kill if the cell
overruns, and since when. Pool, Ray, Slurm workers and the driver itself write it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from statebench.bench.store.layout import RunDir


@dataclass(frozen=True)
class RunRecord:
    """What is running a cell: the process to kill if it overruns, and since when."""

    key: str
    pid: int
    host: str
    started: float


def _run_path(run_dir: str | Path, key: str) -> Path:
    return RunDir(run_dir).claims_dir / f"{key}.run"


def mark_started(run_dir: str | Path, key: str) -> None:
    """Record, from the process about to run a cell, who runs it and since when."""
    body = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
    RunDir(run_dir).write_file(_run_path(run_dir, key), body.encode())


def clear_started(run_dir: str | Path, key: str) -> None:
    _run_path(run_dir, key).unlink(missing_ok=True)


def read_started(run_dir: str | Path, key: str) -> RunRecord | None:
    try:
        data = json.loads(_run_path(run_dir, key).read_text())
        return RunRecord(key, int(data["pid"]), str(data["host"]), float(data["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_all_started(run_dir: str | Path) -> dict[str, RunRecord]:
    folder = RunDir(run_dir).claims_dir
    if not folder.is_dir():
        return {}
    out = {}
    for path in folder.glob("*.run"):
        record = read_started(run_dir, path.stem)
        if record is not None:
            out[record.key] = record
    return out

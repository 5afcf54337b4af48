"""Run a matrix: resolve the run directory, skip what the store holds, execute the rest.

The rest goes to an executor (bench.run.executors) one claimed cell at a time: a cell is run by
the driver that claims it (bench.store.claims), so two drivers on one run directory split the
work, and a driver that finishes first waits for the other's cells (or takes them over if it died).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from statebench.bench.config import ConfigError, MatrixConfig
from statebench.bench.run import tracking
from statebench.bench.run.buildable import check_buildable
from statebench.bench.run.cell import CellJob, execute_cell  # noqa: F401  (re-exported for callers)
from statebench.bench.run.competence import unholdable
from statebench.bench.run.conformance import SKIPPED, admit_config
from statebench.bench.run.executors import LOST, Executor, from_config
from statebench.bench.run.matrix import Cell, cell_key, expand
from statebench.bench.run.progress import Reporter, notebook_reporter
from statebench.bench.run.provenance import environment
from statebench.bench.run.threads import threads_per_cell
from statebench.bench.store import RunDir, manifest_cells
from statebench.bench.store.claim_files import DEFAULT_STALE_AFTER_S, ClaimInfo, is_stale
from statebench.bench.store.claims import ClaimBook, sweep_stale
from statebench.bench.store.records import RunRecord
from statebench.bench.store.schema import cell_status, is_failed

log = logging.getLogger(__name__)


def config_hash(config: MatrixConfig) -> str:
    return cell_key(config.model_dump(mode="json", exclude={"out_dir", "device", "description"}))


def default_run_dir(config: MatrixConfig) -> Path:
    """results/<name>-<hash>: the same config resumes in the same place, another gets its own."""
    return Path(config.out_dir) / f"{config.name}-{config_hash(config)[:8]}"


def check_writable(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-test-{os.getpid()}"
        # O_EXCL | O_NOFOLLOW: a file or link planted under this name is never written through
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600))
        probe.unlink()
    except OSError as e:
        raise ConfigError(
            f"output dir {str(run_dir)!r} is not writable: {e.strerror or e}"
        ) from None


def cell_threads(config: MatrixConfig) -> int:
    """The torch threads each cell of `config` runs with (what its rows record), for the
    manifest: the driver's own count says nothing about the cells'."""
    executor = config.executor
    at_once = executor.workers if executor.kind == "pool" and executor.workers else 1
    reserved = executor.cpus_per_cell if executor.kind in ("ray", "slurm") else None
    return threads_per_cell(executor.threads, at_once, reserved)


def prepare_run(config: MatrixConfig, run_dir: Path | None = None) -> tuple[Path, str, list[Cell]]:
    """Create or reopen the run directory; refuse one that holds a different config."""
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(config)
    cells = expand(config)  # before the directory is made: a failure here leaves nothing
    check_writable(run_dir)
    if why := unholdable(config.train):
        log.warning(why)
    RunDir(run_dir).check_folders()  # a folder linked out of the run: refused, nothing written
    resolved = config.model_dump(mode="json")

    def fresh() -> dict:
        return {
            "run_id": run_dir.name,
            "config": resolved,
            "config_hash": config_hash(config),
            "cells": [c.key for c in cells],
            "labels": {c.key: c.label for c in cells},
            "environment": {**environment(), "cpu_threads": cell_threads(config)},
        }

    manifest = RunDir(run_dir).open(fresh)
    old = manifest.get("config", {})
    same = {k: v for k, v in old.items() if k not in ("out_dir", "device")} == {
        k: v for k, v in resolved.items() if k not in ("out_dir", "device")
    }
    if not same:
        changed = sorted(k for k in set(old) | set(resolved) if old.get(k) != resolved.get(k))
        raise ConfigError(
            f"{str(run_dir)!r} holds a run of a different config (fields differ: "
            f"{', '.join(changed)}); choose another --out, or drop --out to get a fresh "
            "directory named after the config"
        )
    return run_dir, manifest["run_id"], cells


def check_code_version(run_dir: Path, require_same: bool = False) -> None:
    """Warn (or, with `require_same`, refuse) when stored rows came from other code: another
    statebench version or git commit. Resuming then mixes numbers of two code versions."""
    import statebench
    from statebench.bench.run.provenance import git_sha

    stored = RunDir(run_dir).scan(columns=("status", "statebench_version", "git_sha"))
    here = (str(statebench.__version__), git_sha() or "unknown")
    seen = {
        (str(r["statebench_version"]), r["git_sha"] or "unknown")
        for rows in stored.rows.values()
        for r in rows
    }
    others = sorted(v for v in seen if v != here)
    if not others:
        return
    named = ", ".join(f"statebench {v} (git {sha})" for v, sha in others)
    message = (
        f"{str(run_dir)!r} holds rows of other code: {named}; this is statebench {here[0]} "
        f"(git {here[1]})"
    )
    if require_same:
        raise ConfigError(f"{message}; --require-same-code refuses to resume it")
    log.warning("%s; resuming mixes the two (--require-same-code refuses, --force reruns)", message)


def pending_cells(
    cells: list[Cell],
    run_dir: Path,
    retry_failed: bool = False,
    need_checkpoints: bool = False,
    force: bool = False,
) -> list[Cell]:
    """The cells to run: not stored (or unreadable); stored as failed with `retry_failed`;
    stored ok without a checkpoint with `need_checkpoints` (probes and re-evaluation load it);
    every cell with `force`."""
    if force:
        return list(cells)
    run = RunDir(run_dir)
    found = run.scan()
    statuses = found.statuses
    mine = {c.key for c in cells}
    for key, why in found.foreign.items():
        if key in mine:
            log.warning("%s; ignored: its cell runs again", why)
    for key in found.corrupt:
        if key in mine:
            log.warning("%s cannot be read; its cell runs again", run.cell_file(key))
    checkpoints = run.checkpoints(verify=True) if need_checkpoints else set()
    todo = []
    for cell in cells:
        status = statuses.get(cell.key)
        if status is None or (retry_failed and is_failed(status)):
            todo.append(cell)
        elif need_checkpoints and status == "ok" and cell.key not in checkpoints:
            log.warning("cell %s has no checkpoint of its own; training it again", cell.label)
            todo.append(cell)
    return todo


ELSEWHERE = "by another driver"  # progress label of a cell another driver stored
WAIT_POLL_S = 1.0


def run_matrix(
    config: MatrixConfig,
    run_dir: Path | None = None,
    reporter: Reporter | None = None,
    retry_failed: bool = False,
    executor: Executor | None = None,
    need_checkpoints: bool = False,
    force: bool = False,
    require_same_code: bool = False,
    skip_conformance: bool = False,
    stream_len: int | None = None,
) -> Path:
    """Run every cell not yet stored through `executor` (default: the config's); returns the
    run directory.

    Outside archs and tasks pass the conformance door first (`bench.run.conformance`; a probe
    gives `stream_len`, the chunk its `step` is fed), before anything is written;
    `skip_conformance` opens it unchecked and the rows say so.

    Cells are claimed one at a time, so other drivers on the same directory share the work; at
    the end this driver waits for the cells they hold, and takes over those whose driver died.
    Cells whose worker died are left pending (logged): the same call resumes them.
    `need_checkpoints` also runs again cells stored ok whose checkpoint is gone (probes);
    `force` runs every cell again. Stored rows of other code warn (`require_same_code`: refuse).
    """
    reporter = reporter or notebook_reporter()  # progress shows in notebooks, nowhere else
    executor = executor or from_config(config.executor)  # a missing extra fails before any work
    tracking.require(config.tracking)  # so does a tracker's
    check_buildable(expand(config))  # an arch option out of range: refused, nothing written
    verdict = SKIPPED if skip_conformance else admit_config(config, stream_len)
    stale_after = config.executor.claim_stale_s
    run_dir, run_id, cells = prepare_run(config, run_dir)
    if not force:
        check_code_version(run_dir, require_same_code)
    todo = pending_cells(cells, run_dir, retry_failed, need_checkpoints, force)
    waiting = {c.key for c in todo}
    sweep_stale(run_dir, [c.key for c in cells if c.key not in waiting], stale_after)
    # Absolute: workers of other processes and hosts don't share our working directory.
    job = CellJob(
        run_dir=str(Path(run_dir).resolve()),
        run_id=run_id,
        device=config.device,
        tracking=tracking.for_workers(config.tracking, run_dir),
        conformance=verdict,
    )
    run = RunDir(run_dir)
    landed = run.landed_check(rerun=[c.key for c in todo])
    book = run.claim_book(stale_after)
    reporter.start(len(cells), len(cells) - len(todo))
    try:
        with book.heartbeat():
            lost = _drive(todo, job, executor, book, reporter, landed)
    finally:
        reporter.finish()
    if lost:
        log.warning("%d cell(s) lost with their worker; run again to resume them", len(lost))
    return run_dir


def _drive(
    todo: list[Cell],
    job: CellJob,
    executor: Executor,
    book: ClaimBook,
    reporter: Reporter,
    landed: Callable[[str], bool],
) -> set[str]:
    """Run passes until every cell is stored, lost, or left to nobody; returns the lost keys."""
    remaining = {c.key: c for c in todo}
    lost: set[str] = set()
    while True:
        claimed = _claim_each(remaining, lost, book, reporter, landed)
        for cell, status in executor.run(claimed, job, reporter):
            book.release(cell.key)
            if status == LOST:
                lost.add(cell.key)
            else:
                remaining.pop(cell.key, None)
            log.info("cell %s [%s]: %s", cell.label, cell.key, status)
            reporter.cell_end(cell, status)
        for key in [k for k in remaining if book.holds(k)]:  # claimed, never reported
            book.release(key)
            lost.add(key)
        others = [k for k in remaining if k not in lost]
        if not others:
            return lost
        # Another driver runs these: wait until each lands, or its claim is free or stale.
        reporter.waiting(len(others))
        while all(book.held_elsewhere(k) and not landed(k) for k in others):
            time.sleep(WAIT_POLL_S)


def _claim_each(
    remaining: dict[str, Cell],
    lost: set[str],
    book: ClaimBook,
    reporter: Reporter,
    landed: Callable[[str], bool],
) -> Iterator[Cell]:
    """The cells this driver gets to run, each claimed just before the executor takes it."""
    for key, cell in list(remaining.items()):
        if key in lost:
            continue
        if not landed(key) and book.acquire(key):
            if not landed(key):  # it may have landed between the check and the claim
                yield cell
                continue
            book.release(key)
        if landed(key):
            remaining.pop(key)
            reporter.cell_end(cell, ELSEWHERE)


# -- status ----------------------------------------------------------------------------------


@dataclass
class RunStatus:
    """Where a run directory stands: stored, failed, pending, in flight, next up."""

    run_dir: Path
    run_id: str
    cells: list[str]  # every cell of the run, in run order (from the manifest)
    labels: dict[str, str]
    statuses: dict[str, str]  # stored cells -> status
    corrupt: list[str]  # files that can't be read: their cells run again
    claims: dict[str, ClaimInfo]  # current claims, live or stale
    stale: set[str]  # claims whose owner is gone (the next driver takes them over)
    running: dict[str, RunRecord]  # what a worker says it is running, since when
    stray: list[str] = field(default_factory=list)  # files of no cell of the run: ignored
    # cell files that are not their cell's own (a copy, another run's, duplicate rows): key ->
    # why; their cells run again
    foreign: dict[str, str] = field(default_factory=dict)

    @property
    def pending(self) -> list[str]:
        return [k for k in self.cells if k not in self.statuses]

    @property
    def in_flight(self) -> list[str]:
        return [k for k in self.pending if k in self.claims and k not in self.stale]

    @property
    def next_up(self) -> list[str]:
        flying = set(self.in_flight)
        return [k for k in self.pending if k not in flying]


def run_status(run_dir: str | Path, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> RunStatus:
    """Read a run directory without changing it (safe while drivers run)."""
    run = RunDir(run_dir)
    manifest = run.require_manifest()
    cells = manifest_cells(manifest)
    found = run.scan(columns=("status", "arch", "task", "seed", "lr"))
    stored, corrupt = found.rows, found.corrupt
    # As load(): only files named after a cell of the run count; copies and strays are listed.
    expected = set(cells)
    stray = sorted(k for k in [*stored, *corrupt, *found.foreign] if expected and k not in expected)
    stored = {k: rows for k, rows in stored.items() if k not in stray}
    corrupt = [k for k in corrupt if k not in stray]
    foreign = {k: why for k, why in found.foreign.items() if k not in stray}
    statuses = {k: cell_status(r["status"] for r in rows) for k, rows in stored.items()}
    labels = {k: _row_label(rows[0]) for k, rows in stored.items() if rows}
    labels.update(_manifest_labels(manifest))
    claims = run.claims()
    return RunStatus(
        run_dir=run.path,
        run_id=str(manifest.get("run_id", run.path.name)),
        cells=cells,
        labels=labels,
        statuses=statuses,
        corrupt=corrupt,
        claims=claims,
        stale={k for k, info in claims.items() if is_stale(info, stale_after_s)},
        running=run.running(),
        stray=stray,
        foreign=foreign,
    )


def _row_label(row: dict) -> str:
    return f"{row['arch']} / {row['task']} / seed {row['seed']} / lr {row['lr']:g}"


def _manifest_labels(manifest: dict) -> dict[str, str]:
    """Cell labels as the manifest stored them: plain strings, so nothing is imported."""
    labels = manifest.get("labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}

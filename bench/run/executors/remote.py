"""The dispatch loop shared by the pool, Ray and Slurm executors.

Each of them only says how to submit a cell, wait for handles, read an outcome and kill a
handle; this loop keeps `capacity()` cells in flight, pulls the next cell only when a slot is
free, and enforces the hard time limit: a cell still running `train.time_limit_s + grace_s`
after its worker started it (it hangs outside the training loop, where the soft limit is
checked) is killed and stored as a `timeout` row written by the driver.
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from statebench.bench.run.cell import CellJob, base_row, failure_rows
from statebench.bench.run.executors import LOST, Executor
from statebench.bench.run.matrix import Cell
from statebench.bench.run.progress import Reporter
from statebench.bench.store import RunDir
from statebench.bench.store.records import RunRecord, clear_started, read_started

log = logging.getLogger(__name__)


class WorkerLost(RuntimeError):
    """The worker running a cell died (or was killed) before the cell was stored."""


class Resubmit(RuntimeError):
    """The cell was collateral damage of killing another cell's worker: run it again."""


@dataclass
class _Flight:
    cell: Cell
    dispatched: float  # wall clock
    killed_at: float | None = None
    killed_after_s: float = 0.0


class RemoteExecutor(Executor):
    """A windowed, polling dispatcher; subclasses supply the backend."""

    def __init__(self, grace_s: float = 60.0, poll_s: float = 0.5) -> None:
        self.grace_s = grace_s
        self.poll_s = poll_s

    # -- backend -----------------------------------------------------------------------------

    def open(self, job: CellJob) -> None:
        """Start the backend (a pool, a cluster connection) for one run."""

    def close(self, abort: bool, handles: list[Any]) -> None:
        """Stop the backend; `abort`: the driver stops early, so kill `handles` (in flight)."""

    @abstractmethod
    def capacity(self) -> int:
        """How many cells to keep in flight."""

    @abstractmethod
    def submit(self, cell: Cell, job: CellJob) -> Any:
        """Start the cell somewhere; returns a handle."""

    def submit_many(self, cells: list[Cell], job: CellJob) -> list[Any]:
        """Start several cells at once (a job array, where the backend has them)."""
        return [self.submit(cell, job) for cell in cells]

    @abstractmethod
    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        """The handles that finished, waiting at most `timeout` seconds for one."""

    @abstractmethod
    def outcome(self, handle: Any) -> str:
        """The finished cell's status; raises WorkerLost or Resubmit."""

    @abstractmethod
    def kill(self, handle: Any, record: RunRecord) -> bool:
        """Kill the worker running `handle` (recorded in `record`); False if it can't."""

    # -- the loop ----------------------------------------------------------------------------

    def run(
        self, cells: Iterable[Cell], job: CellJob, reporter: Reporter
    ) -> Iterator[tuple[Cell, str]]:
        self.open(job)
        flights: dict[Any, _Flight] = {}
        finished = False
        try:
            yield from self._dispatch(iter(cells), job, reporter, flights)
            finished = True
        finally:
            self.close(abort=not finished, handles=list(flights))
            if not finished:  # killed with the driver: nothing runs them any more
                for flight in flights.values():
                    clear_started(job.run_dir, flight.cell.key)

    def _dispatch(
        self,
        source: Iterator[Cell],
        job: CellJob,
        reporter: Reporter,
        flights: dict[Any, _Flight],
    ) -> Iterator[tuple[Cell, str]]:
        retry: deque[Cell] = deque()
        exhausted = False
        while True:
            batch = []
            while len(flights) + len(batch) < self.capacity():
                cell = retry.popleft() if retry else (None if exhausted else next(source, None))
                if cell is None:
                    exhausted = True
                    break
                clear_started(job.run_dir, cell.key)  # an old record must not time this one
                batch.append(cell)
            for cell, handle in zip(batch, self.submit_many(batch, job), strict=True):
                flights[handle] = _Flight(cell, time.time())
                reporter.cell_dispatched(cell)
            if not flights:
                return
            for handle in self.wait(list(flights), self.poll_s):
                flight = flights.pop(handle)
                status = self._settle(handle, flight, job, retry)
                if status is not None:
                    yield flight.cell, status
            for handle, flight in list(flights.items()):
                if self._enforce_limit(handle, flight, job):
                    flights.pop(handle)  # killed long ago and never came back: abandon it
                    yield flight.cell, self._store_timeout(flight, job)

    def _settle(self, handle: Any, flight: _Flight, job: CellJob, retry: deque) -> str | None:
        try:
            return self.outcome(handle)
        except Resubmit:
            log.info("cell %s stopped with a killed neighbour; running it again", flight.cell.label)
            retry.append(flight.cell)
            return None
        except WorkerLost as e:
            if flight.killed_at is not None:
                return self._store_timeout(flight, job)
            log.warning("cell %s lost: %s; it will run again on the next run", flight.cell.label, e)
            clear_started(job.run_dir, flight.cell.key)
            return LOST

    def _enforce_limit(self, handle: Any, flight: _Flight, job: CellJob) -> bool:
        """Kill an overrunning cell; True when a kill went unanswered for long enough."""
        if flight.killed_at is not None:
            return time.time() - flight.killed_at > max(10.0, self.grace_s)
        limit = flight.cell.train.time_limit_s
        if not limit:
            return False
        record = read_started(job.run_dir, flight.cell.key)
        if record is None:
            return False  # not started yet (queued): only running time counts
        elapsed = time.time() - record.started
        if elapsed <= limit + self.grace_s:
            return False
        if self.kill(handle, record):
            log.warning(
                "cell %s ran %.0fs, past its %gs limit + %gs grace: killed it",
                flight.cell.label,
                elapsed,
                limit,
                self.grace_s,
            )
            flight.killed_at, flight.killed_after_s = time.time(), elapsed
        return False

    def _store_timeout(self, flight: _Flight, job: CellJob) -> str:
        """Write the killed cell's timeout rows, unless it stored its own rows just in time."""
        cell = flight.cell
        clear_started(job.run_dir, cell.key)
        landed = _landed_status(job, cell.key, since=flight.dispatched)
        if landed is not None:
            return landed
        limit = cell.train.time_limit_s
        error = (
            f"hard time limit: killed after {flight.killed_after_s:.0f}s "
            f"(train.time_limit_s={limit:g} + grace {self.grace_s:g}s), outside the training loop"
        )
        RunDir(job.run_dir).write_cell(cell.key, timeout_rows(cell, job, error))
        return "timeout"


def timeout_rows(cell: Cell, job: CellJob, error: str) -> list[dict]:
    """Timeout rows written by the driver for a cell whose worker it killed.

    The driver never touches the worker's device (it may have none), so the rows describe the
    cell and the run; peak memory is unknown.
    """
    cpu = torch.device("cpu")
    base = base_row(cell, job, cpu)
    if job.device != "auto":
        base["device"] = job.device
    rows = failure_rows(cell, base, "timeout", error, cpu)
    for row in rows:
        row["peak_memory_bytes"] = None
    return rows


def _landed_status(job: CellJob, key: str, since: float) -> str | None:
    """The status of the cell's file if it was written after `since` (None: absent, older, or
    unreadable, and the timeout rows replace it)."""
    run = RunDir(job.run_dir)
    version = run.version(key)
    if version is None or version < since * 1e9:
        return None
    return run.stored_status(key)

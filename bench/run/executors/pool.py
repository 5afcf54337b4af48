"""The pool executor: worker processes on this machine (concurrent.futures, "spawn" context).

Spawn, not fork: a forked child of a process that has initialised torch's thread pools or CUDA
can deadlock. On CUDA there is one worker per visible GPU, each pinned to its own device through
CUDA_VISIBLE_DEVICES; on CPU, one per core. Each worker runs `executor.threads` torch threads
(bench/run/threads.py: one by default; 0 shares the cores out, cores / workers).

A worker that dies (SIGKILL, OOM killer) breaks a ProcessPoolExecutor: every cell in flight
fails. Those cells are reported lost (a rerun resumes them) and the remaining cells go to a fresh
pool. When the driver itself killed a worker (hard time limit), it knows which cell was guilty,
so the other cells in flight are run again rather than lost.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from statebench.bench.run.cell import CellJob
from statebench.bench.run.executors.remote import RemoteExecutor, Resubmit, WorkerLost
from statebench.bench.run.executors.worker import init_pool_worker, run_in_worker
from statebench.bench.run.matrix import Cell
from statebench.bench.run.threads import cpu_count, threads_per_cell
from statebench.bench.store.records import RunRecord

log = logging.getLogger(__name__)


def visible_gpus() -> list[str]:
    """Device ids to pin workers to, as CUDA_VISIBLE_DEVICES would name them."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if not count:
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is None:
        return [str(i) for i in range(count)]
    return [d.strip() for d in listed.split(",") if d.strip()][:count]


@dataclass(frozen=True)
class WorkerPlan:
    workers: int
    threads: int  # torch intra-op threads per worker
    gpus: list[str]  # one entry per worker (round-robin over visible GPUs); empty on CPU


def plan_workers(workers: int | None, device: str, threads: int | None = None) -> WorkerPlan:
    """Workers (default one per visible GPU, else one per core) and torch threads each
    (`threads` as `executor.threads` holds it: None one, 0 cores / workers, N exactly N)."""
    gpus = visible_gpus() if device in ("cuda", "auto") else []
    if device == "cuda" and not gpus:
        raise ValueError("device='cuda' was asked for, but torch sees no CUDA device")
    n = workers or len(gpus) or cpu_count()
    per_worker = threads_per_cell(threads, cells_at_once=n)
    return WorkerPlan(n, per_worker, [gpus[i % len(gpus)] for i in range(n)] if gpus else [])


@dataclass(eq=False)
class _Handle:
    future: Future
    generation: int  # which pool it was submitted to


class PoolExecutor(RemoteExecutor):
    kind = "pool"

    def __init__(
        self,
        workers: int | None = None,
        grace_s: float = 60.0,
        poll_s: float = 0.5,
        threads: int | None = None,
    ):
        super().__init__(grace_s=grace_s, poll_s=poll_s)
        self.workers = workers
        self.threads = threads
        self._pool: ProcessPoolExecutor | None = None
        self._generation = 0
        self._killed: set[_Handle] = set()
        self._killed_generations: set[int] = set()

    def open(self, job: CellJob) -> None:
        self.plan = plan_workers(self.workers, job.device, self.threads)
        log.info(
            "pool: %d workers, %d threads each%s",
            self.plan.workers,
            self.plan.threads,
            f", GPUs {self.plan.gpus}" if self.plan.gpus else "",
        )

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")
            gpu_queue = None
            if self.plan.gpus:
                gpu_queue = ctx.Queue()
                for gpu in self.plan.gpus:
                    gpu_queue.put(gpu)
            self._generation += 1
            self._pool = ProcessPoolExecutor(
                max_workers=self.plan.workers,
                mp_context=ctx,
                initializer=init_pool_worker,
                initargs=(self.plan.threads, gpu_queue, os.getpid()),
            )
        return self._pool

    def _discard_pool(self, generation: int) -> None:
        """Drop a broken pool (once), so the next submit starts a fresh one."""
        if self._pool is not None and generation == self._generation:
            self._pool.shutdown(wait=False)
            self._pool = None

    def capacity(self) -> int:
        return self.plan.workers

    def submit(self, cell: Cell, job: CellJob) -> _Handle:
        for _ in range(2):
            pool = self._ensure_pool()
            try:
                future = pool.submit(run_in_worker, cell, job)
                return _Handle(future, self._generation)
            except BrokenProcessPool:
                self._discard_pool(self._generation)
        raise RuntimeError("cannot start a process pool")  # two fresh pools broke at once

    def wait(self, handles: list[_Handle], timeout: float) -> list[_Handle]:
        done, _ = wait([h.future for h in handles], timeout=timeout, return_when=FIRST_COMPLETED)
        return [h for h in handles if h.future in done]

    def outcome(self, handle: _Handle) -> str:
        try:
            return handle.future.result()
        except BrokenProcessPool as e:
            self._discard_pool(handle.generation)
            if handle in self._killed:
                raise WorkerLost("killed by the driver") from e
            if handle.generation in self._killed_generations:
                raise Resubmit() from e
            raise WorkerLost(f"a worker process died ({e})") from e
        except CancelledError as e:  # queued in a pool we dropped: it never ran
            raise Resubmit() from e
        except Exception as e:  # the worker raised: a harness fault (say, a full disk)
            log.exception("worker failed outside the cell")
            raise WorkerLost(f"{type(e).__name__}: {e}") from e

    def kill(self, handle: _Handle, record: RunRecord) -> bool:
        if handle.generation != self._generation or self._pool is None:
            return False
        if record.pid not in _worker_pids(self._pool):
            return False  # never kill a process that is not one of our workers
        os.kill(record.pid, signal.SIGKILL)
        self._killed.add(handle)
        self._killed_generations.add(handle.generation)
        return True

    def close(self, abort: bool, handles: list[Any]) -> None:
        if self._pool is None:
            return
        if abort:
            for pid in _worker_pids(self._pool):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None


def _worker_pids(pool: ProcessPoolExecutor) -> set[int]:
    processes: dict[int, Any] = getattr(pool, "_processes", None) or {}
    return set(processes)

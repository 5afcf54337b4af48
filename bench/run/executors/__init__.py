"""Executors: where the cells of a matrix run (in process, a process pool, Ray, Slurm).

Every executor has one job: take the cells to run and yield `(cell, status)` as each finishes.
Workers call `bench.run.cell.execute_cell` themselves, so rows land through the same atomic store
from any process or host and the driver never moves rows; the driver only claims cells (bench.
claims), shows progress and notices workers that died or overran. `run_matrix` therefore has
no per-executor branches: it asks `from_config` for one and iterates.

Executors pull from `cells` lazily, only when they have room, so a driver claims a cell just
before it runs and two drivers on one run dir share the work instead of racing for it.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from statebench.bench.config.errors import ConfigError

if TYPE_CHECKING:
    from statebench.bench.config.executor import ExecutorConfig
    from statebench.bench.run.cell import CellJob
    from statebench.bench.run.matrix import Cell
    from statebench.bench.run.progress import Reporter

LOST = "lost"  # the worker died (killed, crashed node): nothing stored, the cell runs again
KINDS = {
    "local": "statebench.bench.run.executors.local:LocalExecutor",
    "pool": "statebench.bench.run.executors.pool:PoolExecutor",
    "ray": "statebench.bench.run.executors.ray_cluster:RayExecutor",
    "slurm": "statebench.bench.run.executors.slurm:SlurmExecutor",
}


class ExecutorUnavailable(ConfigError):
    """The executor's optional dependency is missing (the message says what to install)."""


class Executor(ABC):
    """Runs cells somewhere and reports each one as it finishes."""

    kind: ClassVar[str]

    @abstractmethod
    def run(
        self, cells: Iterable[Cell], job: CellJob, reporter: Reporter
    ) -> Iterator[tuple[Cell, str]]:
        """Run `cells` (pulled one at a time, when there is room) and yield (cell, status).

        status is the cell's stored status (ok, diverged, oom, timeout, error) or LOST when its
        worker died before storing anything. Closing the iterator early stops the workers.
        """


def get_executor(kind: str, **options: Any) -> Executor:
    """The executor named `kind`, built with `options` (its constructor's keyword arguments)."""
    if kind not in KINDS:
        raise ConfigError(f"unknown executor {kind!r}; executors: {', '.join(KINDS)}")
    module, _, name = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)(**options)


def from_config(config: ExecutorConfig) -> Executor:
    """The executor an `[executor]` table describes."""
    common = {"grace_s": config.grace_s}
    if config.kind == "local":
        return get_executor(
            "local",
            threads=config.threads,
            batch_cells=config.batch_cells,
            pad_lengths=config.pad_lengths,
        )
    if config.kind == "pool":
        return get_executor("pool", workers=config.workers, threads=config.threads, **common)
    per_cell = {
        "cpus_per_cell": config.cpus_per_cell,
        "gpus_per_cell": config.gpus_per_cell,
        "threads": config.threads,
    }
    if config.kind == "ray":
        return get_executor(
            "ray", address=config.address, workers=config.workers, **per_cell, **common
        )
    slurm = config.slurm
    return get_executor(
        "slurm",
        partition=slurm.partition,
        time_min=slurm.time_min,
        mem_gb=slurm.mem_gb,
        cluster=slurm.cluster,
        additional=dict(slurm.additional),
        array_parallelism=slurm.array_parallelism,
        workers=config.workers,
        **per_cell,
        **common,
    )


__all__ = ["LOST", "Executor", "ExecutorUnavailable", "from_config", "get_executor"]

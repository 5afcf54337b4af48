"""The Slurm executor: cells go out as submitit job arrays, logs and pickles in the store's
slurm folder.

Every cell claimed in one dispatch pass (all of them, unless `executor.workers` caps cells in
flight) is one array; `executor.slurm.array_parallelism` caps how many of its tasks Slurm runs
at once (the deletang preset is 1,440 cells: one array, not 1,440 jobs).

Jobs need the run directory on a filesystem the compute nodes share (they write the rows) and
statebench importable there. submitit's `cluster="local"` runs the same jobs as local
processes (how the tests exercise it) and `"debug"` in this process, for stepping through.
The job's own time limit is raised above the cell's hard limit, so the driver's kill (which
stores a timeout row) comes before Slurm's (which would only lose the cell).
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from typing import Any

from statebench.bench.run.cell import CellJob
from statebench.bench.run.executors import ExecutorUnavailable
from statebench.bench.run.executors.remote import RemoteExecutor, WorkerLost
from statebench.bench.run.executors.worker import run_in_worker
from statebench.bench.run.matrix import Cell
from statebench.bench.run.threads import threads_per_cell
from statebench.bench.store import RunDir
from statebench.bench.store.records import RunRecord

log = logging.getLogger(__name__)

UNLIMITED = 1 << 30  # submit every claimed cell at once: the cluster's scheduler queues them


def import_submitit():
    try:
        import submitit
    except ImportError:
        raise ExecutorUnavailable(
            "the slurm executor needs submitit: pip install 'state-tracking-bench[slurm]' "
            "(from a checkout: pip install -e '.[slurm]')"
        ) from None
    return submitit


def require_slurm() -> None:
    """Refuse to "submit" where there is no Slurm: submitit would quietly run the cells as local
    processes instead, and a user who meant a cluster would get a local run. Its local runner
    is used only when asked for by name (`executor.slurm.cluster = "local"`)."""
    if shutil.which("sbatch") is None:
        raise ExecutorUnavailable(
            "executor slurm: no Slurm here (sbatch is not on PATH), so no job can be submitted; "
            "run from a Slurm login node, or set executor.slurm.cluster = 'local' to run the "
            "jobs as local processes"
        )


class SlurmExecutor(RemoteExecutor):
    kind = "slurm"

    def __init__(
        self,
        partition: str | None = None,
        time_min: int = 60,
        mem_gb: float | None = None,
        cluster: str | None = None,
        additional: dict[str, Any] | None = None,
        workers: int | None = None,
        cpus_per_cell: int = 1,
        gpus_per_cell: int | None = None,
        threads: int | None = None,
        grace_s: float = 60.0,
        poll_s: float | None = None,
        array_parallelism: int | None = None,
    ) -> None:
        local = cluster in ("local", "debug")
        super().__init__(grace_s=grace_s, poll_s=poll_s or (0.5 if local else 10.0))
        self._submitit = import_submitit()  # here, so a missing extra fails before any work
        if not local:
            require_slurm()
        self.partition = partition
        self.time_min = time_min
        self.mem_gb = mem_gb
        self.cluster = cluster
        self.additional = additional or {}
        self.workers = workers
        self.cpus_per_cell = cpus_per_cell
        self.gpus_per_cell = gpus_per_cell
        # a cell's torch threads: the CPUs it reserves, unless executor.threads names a count
        self.threads = threads_per_cell(threads, reserved=cpus_per_cell)
        self.array_parallelism = array_parallelism

    def open(self, job: CellJob) -> None:
        self._executor = self._submitit.AutoExecutor(
            folder=RunDir(job.run_dir).slurm_dir / "%j", cluster=self.cluster
        )
        gpus = self.gpus_per_cell
        if gpus is None:
            gpus = 1 if job.device == "cuda" else 0
        params: dict[str, Any] = {
            "name": "statebench",
            "timeout_min": self.time_min,
            "cpus_per_task": self.cpus_per_cell,
            "gpus_per_node": gpus,
            "mem_gb": self.mem_gb,
            "slurm_partition": self.partition,
            "slurm_additional_parameters": self.additional or None,
            "slurm_array_parallelism": self.array_parallelism,
        }
        self._executor.update_parameters(**{k: v for k, v in params.items() if v is not None})

    def _fit_time_limit(self, cells: list[Cell]) -> None:
        """Give the jobs room for the cells' hard limit plus startup, and never less than asked."""
        limit = max((c.train.time_limit_s or 0 for c in cells), default=0)
        if limit:
            needed = math.ceil((limit + 2 * self.grace_s + 120) / 60)
            self._executor.update_parameters(timeout_min=max(self.time_min, needed))

    def capacity(self) -> int:
        return self.workers or UNLIMITED

    def submit(self, cell: Cell, job: CellJob) -> Any:
        return self.submit_many([cell], job)[0]

    def submit_many(self, cells: list[Cell], job: CellJob) -> list[Any]:
        """The cells as one job array (`array_parallelism` of them running at once)."""
        if not cells:
            return []
        self._fit_time_limit(cells)
        if len(cells) == 1:
            return [self._executor.submit(run_in_worker, cells[0], job, threads=self.threads)]
        with self._executor.batch():
            handles = [
                self._executor.submit(run_in_worker, cell, job, threads=self.threads)
                for cell in cells
            ]
        log.info("submitted %d cells as one job array", len(handles))
        return handles

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        done = [h for h in handles if h.done()]
        if not done:
            time.sleep(timeout)
            done = [h for h in handles if h.done()]
        return done

    def outcome(self, handle: Any) -> str:
        try:
            return handle.result()
        except self._submitit.core.utils.UncompletedJobError as e:  # failed, cancelled, timed out
            raise WorkerLost(f"job {handle.job_id}: {str(e).splitlines()[0]}") from e

    def kill(self, handle: Any, record: RunRecord) -> bool:
        handle.cancel(check=False)
        return True

    def close(self, abort: bool, handles: list[Any]) -> None:
        if abort:  # our claims are released now, so a rerun would submit these cells again
            for handle in handles:
                handle.cancel(check=False)

"""The Ray executor: one Ray task per cell, on a running cluster or a local one started here.

Tasks get `num_gpus` when the cell runs on CUDA, so Ray pins one GPU per task
(CUDA_VISIBLE_DEVICES) and never packs two cells on a GPU unless asked (gpus_per_cell < 1 is not
offered: cells are sized for a device). `max_retries=0`: a task whose worker died is reported
lost, as in the pool, rather than silently rerun. Workers must see the run directory (a local
cluster, or a shared filesystem) and have statebench installed.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from statebench.bench.run.cell import CellJob
from statebench.bench.run.executors import ExecutorUnavailable
from statebench.bench.run.executors.remote import RemoteExecutor, WorkerLost
from statebench.bench.run.executors.worker import run_in_worker
from statebench.bench.run.matrix import Cell
from statebench.bench.run.threads import threads_per_cell
from statebench.bench.store.records import RunRecord

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 5.0  # one TCP connect: Ray's own client retries for minutes


def check_reachable(address: str | None) -> None:
    """Refuse (ExecutorUnavailable) a `host:port` (or `ray://host:port`) nothing listens on, in
    one bounded connect and before the run directory is written; `auto`, `local` and no address
    are Ray's to resolve."""
    if not address or address in ("auto", "local"):
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise ExecutorUnavailable(
            f"executor.address: {address!r} is not host:port (or ray://host:port, auto, local)"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S).close()
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise ExecutorUnavailable(
            f"executor.address: no Ray cluster answers at {address} ({reason}, after at most "
            f"{CONNECT_TIMEOUT_S:g} s); start one (ray start --head) or fix the address"
        ) from None


def import_ray():
    try:
        import ray
    except ImportError:
        raise ExecutorUnavailable(
            "the ray executor needs Ray: pip install 'state-tracking-bench[ray]' "
            "(from a checkout: pip install -e '.[ray]')"
        ) from None
    return ray


class RayExecutor(RemoteExecutor):
    kind = "ray"

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        cpus_per_cell: int = 1,
        gpus_per_cell: int | None = None,
        threads: int | None = None,
        grace_s: float = 60.0,
        poll_s: float = 0.5,
    ) -> None:
        super().__init__(grace_s=grace_s, poll_s=poll_s)
        check_reachable(address)  # before Ray's client, which retries for minutes
        self._ray = import_ray()  # here, so a missing extra fails before any work
        self.address = address
        self.workers = workers
        self.cpus_per_cell = cpus_per_cell
        self.gpus_per_cell = gpus_per_cell
        # a cell's torch threads: the CPUs it reserves, unless executor.threads names a count
        self.threads = threads_per_cell(threads, reserved=cpus_per_cell)
        self._started_here = False

    def open(self, job: CellJob) -> None:
        ray = self._ray
        if not ray.is_initialized():
            options: dict[str, Any] = {
                "address": self.address,
                "include_dashboard": False,
                "log_to_driver": False,  # worker logs stay in Ray's log dir, not over the bars
                "logging_level": logging.WARNING,
            }
            if self.address is None and self.workers:
                options["num_cpus"] = self.workers * self.cpus_per_cell
            ray.init(**options)
            self._started_here = True
        resources = ray.cluster_resources()
        gpus = self.gpus_per_cell
        if gpus is None:
            on_cuda = job.device == "cuda" or (job.device == "auto" and resources.get("GPU", 0))
            gpus = 1 if on_cuda else 0
        if job.device == "cuda" and not gpus:
            log.warning("device is cuda but gpus_per_cell=0: Ray will hide the GPUs from cells")
        self._task = ray.remote(run_in_worker).options(
            num_cpus=self.cpus_per_cell, num_gpus=gpus, max_retries=0
        )
        fits = int(resources.get("CPU", 1) // self.cpus_per_cell)
        if gpus:
            fits = min(fits, int(resources.get("GPU", 0) // gpus))
        self._capacity = self.workers or max(1, fits)

    def capacity(self) -> int:
        return self._capacity

    def submit(self, cell: Cell, job: CellJob) -> Any:
        return self._task.remote(cell, job, threads=self.threads)

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        ready, rest = self._ray.wait(handles, num_returns=1, timeout=timeout)
        if ready and rest:
            more, _ = self._ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        return ready

    def outcome(self, handle: Any) -> str:
        try:
            return self._ray.get(handle)
        except self._ray.exceptions.RayError as e:  # crashed or cancelled worker, lost node
            raise WorkerLost(f"{type(e).__name__}: {str(e).splitlines()[0]}") from e

    def kill(self, handle: Any, record: RunRecord) -> bool:
        self._ray.cancel(handle, force=True)
        return True

    def close(self, abort: bool, handles: list[Any]) -> None:
        if abort and not self._started_here:  # a shared cluster outlives us: stop our tasks
            for handle in handles:
                self._ray.cancel(handle, force=True)
        if self._started_here:
            self._ray.shutdown()
            self._started_here = False

"""What a worker process does with one cell, whichever executor sent it there.

It records who runs the cell and since when (so the driver can enforce a hard time limit and
`statebench status` can say what is in flight), runs and stores it via `execute_cell`, and
clears the record. Module-level functions only: process pools, Ray and submitit pickle them
by reference.
"""

from __future__ import annotations

import os
import threading
import time

from statebench.bench.run.cell import CellJob, execute_cell
from statebench.bench.run.matrix import Cell
from statebench.bench.run.threads import set_threads
from statebench.bench.run.train import StepCallback
from statebench.bench.store.records import clear_started, mark_started


def run_in_worker(
    cell: Cell, job: CellJob, on_step: StepCallback | None = None, threads: int | None = None
) -> str:
    """Run and store one cell with `threads` torch threads (None: as the process has them);
    returns its status."""
    if threads:
        set_threads(threads)
    mark_started(job.run_dir, cell.key)
    try:
        return execute_cell(cell, job, on_step=on_step)
    finally:
        clear_started(job.run_dir, cell.key)


def init_pool_worker(threads: int, gpu_queue, driver_pid: int | None = None) -> None:
    """Process-pool initializer: die with the driver, pin one GPU, cap threads.

    The GPU comes from a queue the driver filled with one device id per worker; it must be set
    before anything touches CUDA, which is why it happens here and not per cell.
    """
    exit_with_parent(driver_pid)
    if gpu_queue is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu_queue.get(timeout=60))
    set_threads(threads)


def exit_with_parent(parent: int | None = None, interval_s: float = 1.0) -> None:
    """End this process as soon as its parent `parent` (the driver) is gone.

    The driver passes its own pid: read here with `os.getppid()`, a driver SIGKILLed while its
    workers were still starting would already have been replaced by init (or a subreaper), and
    the orphan would run queued cells forever. Without this, orphaned workers would finish
    their cell while a resumed driver runs the same cell again: harmless to the rows (atomic
    replace), wasteful of the machine.
    """
    parent = os.getppid() if parent is None else parent
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="statebench-parent-watch", daemon=True).start()

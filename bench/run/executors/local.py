"""The local executor: cells one after another in this process (the default, and the simplest).

The only executor with per-step progress: training runs in the driver, so its step callback can
drive a bar. Its time limit is the soft one inside the training loop (a cell hanging elsewhere
hangs the driver; use the pool executor to have such cells killed).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from statebench.bench.run.cell import CellJob
from statebench.bench.run.executors import Executor
from statebench.bench.run.executors.worker import run_in_worker
from statebench.bench.run.matrix import Cell
from statebench.bench.run.progress import Reporter
from statebench.bench.run.threads import threads_per_cell, torch_threads


class LocalExecutor(Executor):
    kind = "local"

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads_per_cell(threads)  # one cell at a time: 0 means every core

    def run(
        self, cells: Iterable[Cell], job: CellJob, reporter: Reporter
    ) -> Iterator[tuple[Cell, str]]:
        with torch_threads(self.threads):  # this process's own count again afterwards
            for cell in cells:
                reporter.cell_start(cell)
                yield cell, run_in_worker(cell, job, on_step=reporter.step)

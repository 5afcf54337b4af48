"""The local executor: cells one after another in this process (the default, and the simplest).

The only executor with per-step progress: training runs in the driver, so its step callback can
drive a bar. Its time limit is the soft one inside the training loop (a cell hanging elsewhere
hangs the driver; use the pool executor to have such cells killed).

With batching on (`executor.batch_cells`; "auto" means on CUDA), consecutive cells that differ
only in seed and learning rate (the matrix lists them together) are taken as one group and
trained as one batched model (bench.run.batched); every other cell runs alone as before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from statebench.bench.run.batched import batch_refusal, describe, execute_group, group_key
from statebench.bench.run.cell import CellJob, resolve_device
from statebench.bench.run.executors import Executor
from statebench.bench.run.executors.worker import run_in_worker
from statebench.bench.run.matrix import Cell
from statebench.bench.run.progress import Reporter
from statebench.bench.run.threads import threads_per_cell, torch_threads

log = logging.getLogger(__name__)


class LocalExecutor(Executor):
    kind = "local"

    def __init__(
        self, *, threads: int | None = None, batch_cells: str = "auto", pad_lengths: bool = False
    ) -> None:
        self.threads = threads_per_cell(threads)  # one cell at a time: 0 means every core
        self.batch_cells, self.pad_lengths = batch_cells, pad_lengths

    def batching(self, job: CellJob) -> bool:
        if self.batch_cells == "auto":
            return resolve_device(job.device).type == "cuda"
        return self.batch_cells == "on"

    def run(
        self, cells: Iterable[Cell], job: CellJob, reporter: Reporter
    ) -> Iterator[tuple[Cell, str]]:
        with torch_threads(self.threads):  # this process's own count again afterwards
            yield from self._cells(cells, job, reporter)

    def _cells(
        self, cells: Iterable[Cell], job: CellJob, reporter: Reporter
    ) -> Iterator[tuple[Cell, str]]:
        if not self.batching(job):
            for cell in cells:
                reporter.cell_start(cell)
                yield cell, run_in_worker(cell, job, on_step=reporter.step)
            return
        group: list[Cell] = []
        for cell in cells:  # a group is claimed whole: the cells of the next one end it
            if group and (group_key(cell) != group_key(group[0]) or batch_refusal(cell)):
                yield from self._run(group, job, reporter)
                group = []
            group.append(cell)
            if batch_refusal(cell):
                yield from self._run(group, job, reporter)
                group = []
        if group:
            yield from self._run(group, job, reporter)

    def _run(self, group: list[Cell], job: CellJob, reporter: Reporter):
        if len(group) == 1:
            reporter.cell_start(group[0])
            yield group[0], run_in_worker(group[0], job, on_step=reporter.step)
            return
        for cell in group:
            reporter.cell_start(cell)
        log.info("batched: %s", describe(group))
        yield from execute_group(group, job, reporter.step, self.pad_lengths)

"""Progress reporting: a no-op for library use and a rich display for the CLI."""

from __future__ import annotations

from statebench.bench.matrix import Cell


class Reporter:
    """Receives progress events; the base class ignores them (library code prints nothing)."""

    def start(self, total_cells: int, skipped: int) -> None: ...

    def cell_start(self, cell: Cell) -> None: ...

    def step(self, step: int, total: int, loss: float, accuracy: float) -> None: ...

    def cell_dispatched(self, cell: Cell) -> None:
        """A cell went to a worker (pool, Ray, Slurm): no step events follow, only its end."""

    def cell_end(self, cell: Cell, status: str) -> None: ...

    def waiting(self, cells: int) -> None:
        """The driver waits for `cells` cells that another driver is running."""

    def finish(self) -> None: ...


class RichReporter(Reporter):
    """Two bars: cells of the matrix, and steps of the cell in training, each with an ETA.

    With workers (pool, Ray, Slurm) there is no steps bar: the cells bar advances as they
    finish and says how many are running.
    """

    def __init__(self, console=None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.cells_bar = None
        self.steps_bar = None
        self.counts: dict[str, int] = {}
        self.running: set[str] = set()

    def start(self, total_cells: int, skipped: int) -> None:
        self.progress.start()
        info = f"{skipped} already stored" if skipped else ""
        self.cells_bar = self.progress.add_task(
            "cells", total=total_cells, completed=skipped, info=info
        )

    def cell_start(self, cell: Cell) -> None:
        total = cell.train.steps
        if self.steps_bar is not None:
            self.progress.remove_task(self.steps_bar)
        self.steps_bar = self.progress.add_task(f"  {cell.label}", total=total, info="")

    def step(self, step: int, total: int, loss: float, accuracy: float) -> None:
        if self.steps_bar is not None:
            info = f"loss {loss:.3f} acc {accuracy:.3f}"
            self.progress.update(self.steps_bar, completed=step, total=total, info=info)

    def cell_dispatched(self, cell: Cell) -> None:
        self.running.add(cell.key)
        self._show()

    def cell_end(self, cell: Cell, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        self.running.discard(cell.key)
        if self.steps_bar is not None:
            self.progress.remove_task(self.steps_bar)
            self.steps_bar = None
        # A lost cell is not done: it stays pending for the next run.
        self._show(advance=0 if status == "lost" else 1)

    def waiting(self, cells: int) -> None:
        self._show(extra=f"waiting for {cells} cell(s) of another driver")

    def _show(self, advance: int = 0, extra: str = "") -> None:
        parts = [f"{k}:{v}" for k, v in sorted(self.counts.items())]
        if self.running:
            parts.append(f"running:{len(self.running)}")
        if extra:
            parts.append(extra)
        self.progress.update(self.cells_bar, advance=advance, info=" ".join(parts))

    def finish(self) -> None:
        self.progress.stop()

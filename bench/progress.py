"""Progress reporting: a no-op for library use and a rich display for the CLI."""

from __future__ import annotations

from bench.matrix import Cell


class Reporter:
    """Receives progress events; the base class ignores them (library code prints nothing)."""

    def start(self, total_cells: int, skipped: int) -> None: ...

    def cell_start(self, cell: Cell) -> None: ...

    def step(self, step: int, total: int, loss: float, accuracy: float) -> None: ...

    def cell_end(self, cell: Cell, status: str) -> None: ...

    def finish(self) -> None: ...


class RichReporter(Reporter):
    """Two bars: cells of the matrix, and steps of the cell in training, each with an ETA."""

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

    def start(self, total_cells: int, skipped: int) -> None:
        self.progress.start()
        info = f"{skipped} already stored" if skipped else ""
        self.cells_bar = self.progress.add_task(
            "cells", total=total_cells, completed=skipped, info=info
        )

    def cell_start(self, cell: Cell) -> None:
        total = int(cell.train["steps"])
        if self.steps_bar is not None:
            self.progress.remove_task(self.steps_bar)
        self.steps_bar = self.progress.add_task(f"  {cell.label}", total=total, info="")

    def step(self, step: int, total: int, loss: float, accuracy: float) -> None:
        if self.steps_bar is not None:
            info = f"loss {loss:.3f} acc {accuracy:.3f}"
            self.progress.update(self.steps_bar, completed=step, total=total, info=info)

    def cell_end(self, cell: Cell, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        info = " ".join(f"{k}:{v}" for k, v in sorted(self.counts.items()))
        if self.steps_bar is not None:
            self.progress.remove_task(self.steps_bar)
            self.steps_bar = None
        self.progress.update(self.cells_bar, advance=1, info=info)

    def finish(self) -> None:
        self.progress.stop()

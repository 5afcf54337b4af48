"""Progress reporting: a no-op for library use and a rich display for the CLI."""

from __future__ import annotations

from collections.abc import Callable

from statebench.bench.config.labels import markup_safe, printable
from statebench.bench.run.matrix import Cell


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
        self.steps_bar = self.progress.add_task(
            f"  {markup_safe(cell.label)}", total=total, info=""
        )

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


class LogReporter(Reporter):
    """Plain lines for output that is not a terminal (a file, a Slurm log, CI, nohup).

    One line when a cell starts and ends, and one every `every_s` seconds while a cell trains,
    each flushed at once, so `statebench run > log.txt` shows where the run is while it runs.
    """

    def __init__(self, write, every_s: float = 10.0) -> None:
        import time

        self._write, self.every_s, self._clock = write, every_s, time.monotonic
        self.total = self.done = 0
        self.counts: dict[str, int] = {}
        self._last = 0.0
        self._started = self._cell_started = self._clock()

    def _line(self, text: str) -> None:
        elapsed = self._clock() - self._started
        self._write(f"[{elapsed:7.1f}s] {text}")

    def start(self, total_cells: int, skipped: int) -> None:
        self.total, self.done = total_cells, skipped
        stored = f", {skipped} already stored" if skipped else ""
        self._line(f"run: {total_cells} cells{stored}")

    def cell_start(self, cell: Cell) -> None:
        self._cell_started = self._last = self._clock()
        self._line(f"cell {self.done + 1}/{self.total} started: {cell.label}")

    def step(self, step: int, total: int, loss: float, accuracy: float) -> None:
        now = self._clock()
        if now - self._last >= self.every_s:
            self._last = now
            self._line(f"  step {step}/{total} loss {loss:.3f} acc {accuracy:.3f}")

    def cell_dispatched(self, cell: Cell) -> None:
        self._line(f"cell sent to a worker: {cell.label}")

    def cell_end(self, cell: Cell, status: str) -> None:
        if status != "lost":  # a lost cell is not done: it stays pending for the next run
            self.done += 1
        self.counts[status] = self.counts.get(status, 0) + 1
        took = self._clock() - self._cell_started
        self._line(f"cell {self.done}/{self.total} {status}: {cell.label} ({took:.1f}s)")

    def waiting(self, cells: int) -> None:
        now = self._clock()
        if now - self._last >= self.every_s:
            self._last = now
            self._line(f"waiting for {cells} cell(s) another driver runs")

    def finish(self) -> None:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())) or "nothing ran"
        self._line(f"run finished: {counts}")


def make_reporter(console=None) -> Reporter:
    """A rich bar on a terminal or in a notebook, plain periodic lines anywhere else."""
    from rich.console import Console

    console = console or Console()
    if console.is_terminal or console.is_jupyter:
        return RichReporter(console)

    return LogReporter(plain_writer(console))


def plain_writer(console) -> Callable[[str], None]:
    """Write one line as it is (no markup, no wrapping, control characters as escapes) and
    flush, so a redirected file shows progress while the work runs."""

    def write(text: str) -> None:
        console.print(printable(text), highlight=False, soft_wrap=True, markup=False)
        console.file.flush()

    return write


def notebook_reporter() -> Reporter:
    """The default of library calls: a rich bar inside a notebook, silent anywhere else."""
    from rich.console import Console

    console = Console()
    return RichReporter(console) if console.is_jupyter else Reporter()

"""Progress of the probe pass: a no-op for library use, a rich display for the CLI.

Streaming 2^20 tokens takes minutes per cell, so the position reached is shown as it moves.
"""

from __future__ import annotations

from statebench.bench.config.labels import markup_safe
from statebench.bench.run.matrix import Cell
from statebench.bench.run.progress import plain_writer


class ProbeReporter:
    """Receives probe events; the base class ignores them (library code prints nothing)."""

    def start(self, total_cells: int, skipped: int) -> None: ...

    def cell_start(self, cell: Cell, max_len: int) -> None: ...

    def advance(self, position: int, max_len: int) -> None: ...

    def cell_end(self, cell: Cell, rows: list[dict]) -> None: ...

    def finish(self) -> None: ...


class RichProbeReporter(ProbeReporter):
    """Two bars: cells probed, and tokens streamed through the current cell."""

    def __init__(self, console=None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.cells_bar = None
        self.tokens_bar = None

    def start(self, total_cells: int, skipped: int) -> None:
        self.progress.start()
        info = f"{skipped} already probed" if skipped else ""
        self.cells_bar = self.progress.add_task(
            "probes", total=total_cells, completed=skipped, info=info
        )

    def cell_start(self, cell: Cell, max_len: int) -> None:
        if self.tokens_bar is not None:
            self.progress.remove_task(self.tokens_bar)
        self.tokens_bar = self.progress.add_task(
            f"  {markup_safe(cell.label)}", total=max_len, info=""
        )

    def advance(self, position: int, max_len: int) -> None:
        if self.tokens_bar is not None:
            self.progress.update(self.tokens_bar, completed=position, total=max_len)

    def cell_end(self, cell: Cell, rows: list[dict]) -> None:
        if self.tokens_bar is not None:
            self.progress.remove_task(self.tokens_bar)
            self.tokens_bar = None
        status = rows[0]["status"] if rows else "?"
        self.progress.update(self.cells_bar, advance=1, info=f"last: {status}")

    def finish(self) -> None:
        self.progress.stop()


class LogProbeReporter(ProbeReporter):
    """Plain flushed lines when output is not a terminal: each cell's start and end, and the
    position reached at most every `every_s` seconds."""

    def __init__(self, write, every_s: float = 10.0) -> None:
        import time

        self._write, self.every_s, self._clock = write, every_s, time.monotonic
        self.total = self.done = 0
        self._last = 0.0

    def start(self, total_cells: int, skipped: int) -> None:
        self.total, self.done = total_cells, skipped
        self._write(
            f"probe: {total_cells} cells" + (f", {skipped} already probed" if skipped else "")
        )

    def cell_start(self, cell: Cell, max_len: int) -> None:
        self._last = self._clock()
        self._write(f"probe {self.done + 1}/{self.total} started: {cell.label} (to {max_len})")

    def advance(self, position: int, max_len: int) -> None:
        if self._clock() - self._last >= self.every_s:
            self._last = self._clock()
            self._write(f"  position {position}/{max_len}")

    def cell_end(self, cell: Cell, rows: list[dict]) -> None:
        self.done += 1
        status = rows[0]["status"] if rows else "?"
        self._write(f"probe {self.done}/{self.total} {status}: {cell.label}")


def make_probe_reporter(console=None) -> ProbeReporter:
    """Rich bars on a terminal or in a notebook, plain periodic lines anywhere else."""
    from rich.console import Console

    console = console or Console()
    if console.is_terminal or console.is_jupyter:
        return RichProbeReporter(console)

    return LogProbeReporter(plain_writer(console))

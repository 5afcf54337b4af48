"""Every arch x task of a config builds: checked before a run directory is written.

An option out of range (`n_heads` that does not divide the width, `eigen="[0,2]"`,
`cell="glstm"`) or a parameter budget no width reaches would otherwise fail every cell at build
time and be stored as rows of status `error`. The check builds each distinct model of the
matrix the way a cell does (`bench.run.cell.build_cell_model`), on the meta device: no memory
is allocated and no weight initialised, so it costs milliseconds per distinct arch x task.
"""

from __future__ import annotations

import json
from dataclasses import replace

import torch
from statebench.bench.config import ConfigError
from statebench.bench.run.cell import build_cell_model
from statebench.bench.run.matrix import Cell
from statebench.tasks import get_task


def check_buildable(cells: list[Cell]) -> None:
    """Refuse (ConfigError naming the arch, its options and the task) a matrix with a model
    that cannot be built. Only an arch's own refusal counts (ValueError, TypeError): an outside
    arch that cannot be built on the meta device is left to build for real in its cell."""
    seen: set[tuple] = set()
    for cell in cells:
        task = get_task(cell.task, **cell.task_options)
        what = (cell.arch, json.dumps(cell.arch_options, sort_keys=True, default=str),
                cell.d_model, cell.n_layers, cell.param_budget, task.vocab_size,
                task.num_classes)  # fmt: skip
        if what in seen:
            continue
        seen.add(what)
        reason = _refusal(cell, task)
        if reason is None:
            continue
        arch = cell.label.split(" / ")[0]
        if cell.param_budget and _refusal(replace(cell, param_budget=None), task) is None:
            raise ConfigError(
                f"param_budget={cell.param_budget}: no width of {arch} reaches it for task "
                f"{cell.task!r} ({reason}); nothing was run"
            )
        raise ConfigError(
            f"archs: {arch} cannot be built for task {cell.task!r} ({reason}); nothing was run"
        )


def _refusal(cell: Cell, task) -> str | None:
    """Why the arch refuses to build this cell's model (first line), None when it builds."""
    try:
        with torch.device("meta"):
            build_cell_model(cell, task)
    except (ValueError, TypeError) as e:
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    return None

"""Re-evaluation: stored checkpoints measured at new lengths (or with new eval samples), untrained.

Eval settings are not part of a cell's key (bench.run.matrix), so new rows join the cell's file:
a length measured again replaces its old row, the others stay, nothing is doubled. Every
checkpoint carries its resolved cell (bench.store.RunDir.save_checkpoint), so `load_model` rebuilds
the trained model from the run directory alone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from statebench.bench.config import CellEval, ConfigError
from statebench.bench.config.lengths import valid_length_at_most
from statebench.bench.run import conformance
from statebench.bench.run.cell import DTYPES, build_cell_model, resolve_device
from statebench.bench.run.conformance import BUILT_IN, PASSED, Plugin, admit
from statebench.bench.run.evaluate import evaluate
from statebench.bench.run.matrix import Cell
from statebench.bench.run.threads import threads_per_cell, torch_threads
from statebench.bench.store import RunDir, manifest_cells
from statebench.bench.store.integrity import DamagedFile, ForeignFile, StoredFileError
from statebench.bench.store.schema import cell_status, is_failed
from statebench.models import SequenceModel
from statebench.tasks import get_task

log = logging.getLogger(__name__)

# Columns a measurement writes; everything else on a row describes the trained cell.
MEASURED = {
    "eval_len", "n_eval", "chance", "eval_seconds", "accuracy", "seq_accuracy",
    "scaled_accuracy", "loss", "id_accuracy", "ood_accuracy", "ood_chance",
    "ood_scaled_accuracy", "per_position_accuracy", "state_size", "status", "error",
    "created_at", "conformance",
}  # fmt: skip


NOT_STORED = "not stored"
SKIPPED = "skipped"


def stored_cell(run_dir: str | Path, key: str) -> Cell:
    """The resolved cell its checkpoint was trained from (the cell's own checkpoint only:
    bench.store.integrity)."""
    _, meta = RunDir(run_dir).load_checkpoint(key)
    return _cell_of(RunDir(run_dir), key, meta)


def _cell_of(run: RunDir, key: str, meta: dict[str, Any]) -> Cell:
    try:
        return Cell.from_dict(meta)
    except Exception as e:  # a checkpoint whose cell config this version cannot read
        raise DamagedFile(
            f"{run.checkpoint_file(key)} carries a cell config this statebench cannot read "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        ) from None


def load_model(
    run_dir: str | Path, cell: str | Cell, device: str | torch.device = "cpu"
) -> SequenceModel:
    """The trained model of one cell of a run (`cell`: its key or the Cell), in eval mode."""
    key = cell if isinstance(cell, str) else cell.key
    run = RunDir(run_dir)
    state, meta = run.load_checkpoint(key)
    resolved = _cell_of(run, key, meta)
    model = build_cell_model(resolved, get_task(resolved.task, **resolved.task_options))
    model.load_state_dict(state)
    model.to(device=torch.device(device), dtype=DTYPES[resolved.dtype])
    return model.eval()


@dataclass(frozen=True)
class _Planned:
    """A stored cell and what re-evaluating it takes: its rows, and its checkpoint's cell (None
    for a failed cell, which gets failure rows at the new lengths, never a measurement)."""

    rows: list[dict[str, Any]]
    cell: Cell | None


def _plan(run: RunDir, keys: list[str]) -> tuple[dict[str, _Planned], dict[str, str]]:
    """(the cells to measure, key -> why a cell is left as it is), all decided before anything
    is measured or written. A cell stored ok without a checkpoint of its own (missing, another
    cell's or run's) is skipped and keeps its rows; a damaged checkpoint refuses the whole
    command (DamagedFile naming it), so nothing is stored."""
    planned, left = {}, {}
    for key in keys:
        try:
            rows = run.read_rows(key)
        except FileNotFoundError:
            left[key] = NOT_STORED
            continue
        except StoredFileError as e:  # its `statebench run` trains it again
            left[key] = f"{NOT_STORED}: {e}"
            continue
        if not rows:  # `statebench run` trains it first
            left[key] = NOT_STORED
            continue
        # A cell with an ok row trained; its failed rows are lengths that failed alone (a
        # length whose forward pass raised), so it is measured again. Otherwise training failed.
        if not any(r["status"] == "ok" for r in rows):
            planned[key] = _Planned(rows, None)
            continue
        try:
            _, meta = run.load_checkpoint(key)
        except FileNotFoundError:
            left[key] = f"{SKIPPED}: no checkpoint ({run.checkpoint_file(key)} is missing)"
            continue
        except ForeignFile as e:
            left[key] = f"{SKIPPED}: {e}"
            continue
        planned[key] = _Planned(rows, _cell_of(run, key, meta))
    return planned, left


def parse_lengths(text: str) -> list[int]:
    """`--lengths 128,256` (or spaces) as sorted distinct integers >= 1; `1e6` is 1000000."""
    wanted = set()
    for word in text.replace(",", " ").split():
        try:
            value = int(word)
        except ValueError:
            try:
                number = float(word)
            except ValueError:
                number = math.nan
            if not (math.isfinite(number) and number == int(number)):
                raise ConfigError(
                    f"--lengths {text!r}: {word!r} is not a whole number; give integers >= 1, "
                    "e.g. 128,256"
                ) from None
            value = int(number)
        wanted.add(value)
    if not wanted or min(wanted) < 1:
        raise ConfigError(f"--lengths {text!r}: give integers >= 1, e.g. 128,256")
    return sorted(wanted)


def reevaluate_run(
    run_dir: str | Path,
    lengths: list[int],
    samples: int | None = None,
    device: str = "auto",
    allow_import: Collection[str] | None = None,
    skip_conformance: bool = False,
    threads: int | None = None,
    on_cell: Callable[[int, int, str, str], None] | None = None,
) -> dict[str, str]:
    """Measure every stored cell of a run at `lengths`; returns key -> what happened (the
    status of the new rows, `not stored ...` or `skipped: why`).

    `threads`: torch CPU threads, as `executor.threads` (None: one; 0: every core).
    `on_cell(done, total, key, outcome)` is called as each cell is measured (progress).

    Rebuilding a model imports its class. `allow_import` (the command line's list) names the
    dotted paths the run's checkpoints may import; any other one is refused before anything
    runs, so a run directory cannot make `statebench eval` execute code it carries. None (a
    Python caller) imports what the checkpoints name. A cell whose checkpoint is missing or not
    its own is skipped (its rows stay as they are); a damaged checkpoint refuses the command.
    The outside archs and tasks then pass the conformance door at these lengths
    (`skip_conformance`: unchecked, and the rows say so), and lengths whose memory floor exceeds
    the machine's are refused, before anything is written.
    """
    if samples is not None and samples < 1:
        raise ConfigError(f"--samples {samples}: sequences per length must be an integer >= 1")
    run = RunDir(run_dir)
    manifest = run.require_manifest()
    planned, outcome = _plan(run, manifest_cells(manifest))
    if allow_import is not None:
        named = {n for p in planned.values() if p.cell for n in (p.cell.arch, p.cell.task)}
        named = {n for n in named if ":" in n} - set(allow_import)
        if named:
            names = sorted(named)
            flags = " ".join(f"--allow-import {n}" for n in names)
            raise ConfigError(
                f"the checkpoints in {str(run_dir)!r} name outside code ({', '.join(names)}); "
                f"importing it runs that code, so eval imports only what you name: add {flags}"
            )
    cells = stored_cells(run_dir, manifest_cells(manifest))
    check_lengths_fit(cells, max(lengths), device)
    verdict = conformance.SKIPPED if skip_conformance else PASSED
    if not skip_conformance:
        admit(eval_plugins(cells, max(lengths)))
    torch_device = resolve_device(device)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    keys = [key for key in manifest_cells(manifest) if key in planned]
    written = 0
    with torch_threads(threads_per_cell(threads)):
        for done, key in enumerate(keys, 1):
            plan = planned[key]
            new = _measure(run, key, plan, lengths, samples, torch_device)
            for row in new:
                row["conformance"] = verdict if key in cells and cells[key].code else BUILT_IN
            measured = {r["eval_len"] for r in new}
            kept = [r for r in plan.rows if r["eval_len"] not in measured]
            run.write_cell(key, sorted(kept + new, key=lambda r: r["eval_len"]))
            outcome[key] = cell_status(r["status"] for r in new)
            written += len(new)
            if on_cell is not None:
                on_cell(done, len(keys), key, outcome[key])
    # The report names these lengths as added after training, when, and how many rows.
    evaluations = [*(run.manifest() or manifest).get("evaluations", [])]
    evaluations.append({"lengths": lengths, "samples": samples, "at": started, "rows": written})
    run.write_manifest({**(run.manifest() or manifest), "evaluations": evaluations})
    return {key: outcome[key] for key in manifest_cells(manifest) if key in outcome}


def stored_cells(run_dir: str | Path, keys: list[str]) -> dict[str, Cell]:
    """The resolved cells of the checkpoints that exist and carry their config."""
    cells = {}
    for key in keys:
        try:
            cells[key] = stored_cell(run_dir, key)
        except Exception:  # absent or unreadable: measured (as a failure) later
            continue
    return cells


def check_lengths_fit(cells: dict[str, Cell], length: int, device: str) -> None:
    """Refuse `length` when even its memory floor exceeds the machine's, for the widest cell."""
    from statebench.bench.config.memory import check_fits

    if not cells:
        return
    widest = max(cells.values(), key=lambda c: c.d_model)
    classes = max(get_task(c.task, **c.task_options).num_classes for c in cells.values())
    check_fits("--lengths", length, widest.d_model, classes, device)


def eval_plugins(cells: dict[str, Cell], length: int) -> list[Plugin]:
    """The outside archs and tasks of the stored cells, as the door checks them at `length`."""
    plugins = []
    for cell in cells.values():
        task = get_task(cell.task, **cell.task_options)
        made = valid_length_at_most(task, length) or length
        if cell.code.get("arch"):
            fed = made + task.extra_positions
            plugins.append(Plugin("arch", cell.arch, dict(cell.arch_options), fed, 0,
                                  cell.d_model))  # fmt: skip
        if cell.code.get("task"):
            plugins.append(Plugin("task", cell.task, dict(cell.task_options), made))
    return plugins


def _measure(
    run: RunDir, key: str, plan: _Planned, lengths: list[int], samples, device
) -> list[dict[str, Any]]:
    rows, cell = plan.rows, plan.cell
    failed = [r for r in rows if is_failed(r["status"])]
    ok = [r for r in rows if r["status"] == "ok"]
    base = {k: v for k, v in (ok or failed or rows)[0].items() if k not in MEASURED}
    base["created_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if cell is None:  # a failed cell: nothing to measure, its failure at the new lengths
        status = cell_status(r["status"] for r in rows)
        return _failed(base, lengths, status, failed[0]["error"] if failed else "")
    settings = cell.eval.model_dump() | {"lengths": lengths}
    if samples:
        settings["samples"] = samples
    eval_cfg = CellEval.model_validate(settings)
    model = load_model(run.path, key, device)
    task = get_task(cell.task, **cell.task_options)
    options = cell.task_options
    evals = evaluate(model, task, eval_cfg, cell.task, options, device, cell.train.len_max)
    out = []
    for ev in evals:
        row = {**base, "status": "ok", "error": "", **ev}  # a failed length's ev names its own
        row["state_size"] = model.state_size(ev["eval_len"])
        out.append(row)
    return out


def _failed(base: dict, lengths: list[int], status: str, error: str) -> list[dict]:
    nan = float("nan")
    scores = ("accuracy", "seq_accuracy", "scaled_accuracy", "loss", "id_accuracy",
              "ood_accuracy", "ood_scaled_accuracy")  # fmt: skip
    return [
        {
            **base,
            "eval_len": n,
            "n_eval": 0,
            **dict.fromkeys(scores, nan),
            "status": status,
            "error": str(error)[:2000],
        }  # fmt: skip
        for n in lengths
    ]

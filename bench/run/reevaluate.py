"""Re-evaluation: stored checkpoints measured at new lengths (or with new eval samples), untrained.

Eval settings are not part of a cell's key (bench.run.matrix), so new rows join the cell's file:
a length measured again replaces its old row, the others stay, nothing is doubled. Every
checkpoint carries its resolved cell (bench.store.RunDir.save_checkpoint), so `load_model` rebuilds
the trained model from the run directory alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from statebench.bench.config import CellEval, ConfigError
from statebench.bench.run.cell import DTYPES, build_cell_model, resolve_device
from statebench.bench.run.evaluate import evaluate
from statebench.bench.run.matrix import Cell
from statebench.bench.run.threads import threads_per_cell, torch_threads
from statebench.bench.store import RunDir, manifest_cells
from statebench.bench.store.schema import cell_status, is_failed
from statebench.models import SequenceModel
from statebench.tasks import get_task

log = logging.getLogger(__name__)

# Columns a measurement writes; everything else on a row describes the trained cell.
MEASURED = {
    "eval_len", "n_eval", "chance", "eval_seconds", "accuracy", "seq_accuracy",
    "scaled_accuracy", "loss", "id_accuracy", "ood_accuracy", "ood_chance",
    "ood_scaled_accuracy", "per_position_accuracy", "state_size", "status", "error",
    "created_at",
}  # fmt: skip


def stored_cell(run_dir: str | Path, key: str) -> Cell:
    """The resolved cell its checkpoint was trained from."""
    _, meta = RunDir(run_dir).load_checkpoint(key)
    if meta is None:
        raise ValueError(f"the checkpoint of cell {key} carries no config (an older run)")
    return Cell.from_dict(meta)


def load_model(
    run_dir: str | Path, cell: str | Cell, device: str | torch.device = "cpu"
) -> SequenceModel:
    """The trained model of one cell of a run (`cell`: its key or the Cell), in eval mode."""
    key = cell if isinstance(cell, str) else cell.key
    state, meta = RunDir(run_dir).load_checkpoint(key)
    if meta is None:
        raise ValueError(f"the checkpoint of cell {key} carries no config (an older run)")
    resolved = Cell.from_dict(meta)
    model = build_cell_model(resolved, get_task(resolved.task, **resolved.task_options))
    model.load_state_dict(state)
    model.to(device=torch.device(device), dtype=DTYPES[resolved.dtype])
    return model.eval()


def outside_names(run_dir: str | Path, keys: list[str]) -> set[str]:
    """The dotted paths (module:Class) that the stored checkpoints name as arch or task."""
    names = set()
    for key in keys:
        try:
            cell = stored_cell(run_dir, key)
        except Exception:  # absent or unreadable: measured (as a failure) later
            continue
        names |= {n for n in (cell.arch, cell.task) if ":" in n}
    return names


def reevaluate_run(
    run_dir: str | Path,
    lengths: list[int],
    samples: int | None = None,
    device: str = "auto",
    allow_import: Collection[str] | None = None,
    threads: int | None = None,
    on_cell: Callable[[int, int, str, str], None] | None = None,
) -> dict[str, str]:
    """Measure every stored cell of a run at `lengths`; returns key -> what happened.

    `threads`: torch CPU threads, as `executor.threads` (None: one; 0: every core).
    `on_cell(done, total, key, outcome)` is called as each cell is measured (progress).

    Rebuilding a model imports its class. `allow_import` (the command line's list) names the
    dotted paths the run's checkpoints may import; any other one is refused before anything
    runs, so a run directory cannot make `statebench eval` execute code it carries. None (a
    Python caller) imports what the checkpoints name.
    """
    run = RunDir(run_dir)
    manifest = run.manifest()
    if manifest is None:
        raise ConfigError(f"{str(run_dir)!r} holds no run")
    if allow_import is not None:
        named = outside_names(run_dir, manifest_cells(manifest)) - set(allow_import)
        if named:
            names = sorted(named)
            flags = " ".join(f"--allow-import {n}" for n in names)
            raise ConfigError(
                f"the checkpoints in {str(run_dir)!r} name outside code ({', '.join(names)}); "
                f"importing it runs that code, so eval imports only what you name: add {flags}"
            )
    torch_device = resolve_device(device)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    outcome, written = {}, 0
    keys = manifest_cells(manifest)
    with torch_threads(threads_per_cell(threads)):
        for done, key in enumerate(keys, 1):
            outcome[key], rows = _reevaluate_cell(run, key, lengths, samples, torch_device)
            written += rows
            if on_cell is not None:
                on_cell(done, len(keys), key, outcome[key])
    # The report names these lengths as added after training, when, and how many rows.
    evaluations = [*(run.manifest() or manifest).get("evaluations", [])]
    evaluations.append({"lengths": lengths, "samples": samples, "at": started, "rows": written})
    run.write_manifest({**(run.manifest() or manifest), "evaluations": evaluations})
    return outcome


def _reevaluate_cell(run: RunDir, key: str, lengths: list[int], samples, device) -> tuple[str, int]:
    """Measure one stored cell at `lengths` and store the rows beside its others; returns
    what happened and how many rows it wrote."""
    try:
        rows = run.read_rows(key)
    except Exception:  # absent or unreadable: `statebench run` trains it first
        return "not stored", 0
    if not rows:
        return "not stored", 0
    new = _measure(run, key, rows, lengths, samples, device)
    measured = {r["eval_len"] for r in new}
    kept = [r for r in rows if r["eval_len"] not in measured]
    run.write_cell(key, sorted(kept + new, key=lambda r: r["eval_len"]))
    return cell_status(r["status"] for r in new), len(new)


def _measure(
    run: RunDir, key: str, rows: list[dict], lengths: list[int], samples, device
) -> list[dict[str, Any]]:
    # A cell with an ok row trained; its failed rows are lengths that failed alone (a length
    # whose forward pass raised), so it is measured again. Otherwise training failed.
    trained = any(r["status"] == "ok" for r in rows)
    status = "ok" if trained else cell_status(r["status"] for r in rows)
    failed = [r for r in rows if is_failed(r["status"])]
    ok = [r for r in rows if r["status"] == "ok"]
    base = {k: v for k, v in (ok or failed or rows)[0].items() if k not in MEASURED}
    base["created_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    cell = stored_cell(run.path, key) if run.has_checkpoint(key) else None
    if status != "ok" or cell is None:  # nothing to measure: the failure, at the new lengths
        why = failed[0]["error"] if failed else "no checkpoint with its config"
        return _failed(base, lengths, status if status != "ok" else "error", why)
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

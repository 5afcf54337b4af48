"""Run one cell: build, train, evaluate, and turn every outcome (failures too) into result rows."""

from __future__ import annotations

import json
import logging
import math
import resource
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import torch
from statebench.bench.config.errors import DiskFull
from statebench.bench.config.lengths import eval_lengths
from statebench.bench.config.tracking import TrackingConfig
from statebench.bench.run.evaluate import evaluate
from statebench.bench.run.forward_check import check_forward
from statebench.bench.run.matrix import Cell, derive_seed
from statebench.bench.run.oom import is_oom
from statebench.bench.run.provenance import provenance
from statebench.bench.run.tracking import Tracker
from statebench.bench.run.train import (
    CellTimeout,
    Diverged,
    LogCallback,
    StepCallback,
    TrainResult,
    train_model,
)
from statebench.bench.run.training_log import TrainingLog
from statebench.bench.store import RunDir
from statebench.bench.store.schema import cell_status
from statebench.models import arch_class, build_model, match_params
from statebench.tasks import get_task

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class CellJob:
    """What a worker needs besides the cell (picklable for process pools and clusters)."""

    run_dir: str
    run_id: str
    device: str = "auto"
    tracking: TrackingConfig | None = None  # the [tracking] table, None when off
    # How outside code got in: "passed" the conformance door, or "skipped" it on request.
    conformance: str = "passed"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for, but torch sees no CUDA device")
    return torch.device(name)


def _peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return int(rss if sys.platform == "darwin" else rss * 1024)


def build_cell_model(cell: Cell, task) -> torch.nn.Module:
    d_model = cell.d_model
    if cell.param_budget:
        d_model = match_params(
            cell.arch,
            cell.param_budget,
            task.vocab_size,
            task.num_classes,
            cell.n_layers,
            **cell.arch_options,
        )
    return build_model(
        cell.arch,
        task.vocab_size,
        task.num_classes,
        d_model,
        cell.n_layers,
        seed=derive_seed("init", cell.seed),
        **cell.arch_options,
    )


def declared_time_parallel(arch: str, options: dict[str, Any]) -> bool | None:
    """What the arch class declares (Mixer.is_time_parallel) for these options; None when it
    declares nothing or cannot be loaded (the cell's own failure says why)."""
    try:
        declared = arch_class(arch).is_time_parallel(options)
    except Exception:  # noqa: BLE001 - a row is written whatever the class does
        return None
    return None if declared is None else bool(declared)


def base_row(cell: Cell, job: CellJob, device: torch.device) -> dict[str, Any]:
    """What every row of the cell carries, whatever happens to it: the cell, how its arch
    declares itself, and the provenance (outside code by its source hash)."""
    return {
        "run_id": job.run_id,
        "cell": cell.key,
        "arch": cell.arch,
        "arch_options": json.dumps(cell.arch_options, sort_keys=True),
        "task": cell.task,
        "task_options": json.dumps(cell.task_options, sort_keys=True),
        "time_parallel": declared_time_parallel(cell.arch, cell.arch_options),
        "arch_source_hash": cell.code.get("arch"),
        "task_source_hash": cell.code.get("task"),
        "seed": cell.seed,
        "lr": cell.lr,
        "d_model": cell.d_model,
        "n_layers": cell.n_layers,
        "param_budget": cell.param_budget,
        "train_len_min": cell.train.len_min,
        "train_len_max": cell.train.len_max,
        "device": device.type,
        "conformance": job.conformance if cell.code else "built-in",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **provenance(device),
    }


def train_columns(result: TrainResult, batched_cells: int = 1) -> dict[str, Any]:
    """The training results every row of a cell carries."""
    return {
        "learned": result.learned,
        "val_accuracy": result.val_accuracy,
        "val_loss": result.val_loss,
        "steps_to_target": result.steps_to_target,
        "train_steps": result.steps,
        "train_seconds": result.seconds,
        "tokens_per_second": result.tokens_per_second,
        "final_train_loss": result.final_loss,
        "final_train_accuracy": result.final_accuracy,
        "batched_cells": batched_cells,
    }


def _eval_rows(cell: Cell, model, task, base: dict, device: torch.device) -> list[dict]:
    """One ok row per eval length (a length's own status, e.g. diverged, overrides it)."""
    evals = evaluate(
        model, task, cell.eval, cell.task, cell.task_options, device, cell.train.len_max
    )
    peak = _peak_memory(device)
    rows = []
    for ev in evals:
        row = {**base, "status": "ok", "error": "", "peak_memory_bytes": peak, **ev}
        row["state_size"] = model.state_size(ev["eval_len"])
        rows.append(row)
    return rows


class CellAttempt:
    """One cell on its way to rows: built, checked, trained (here or with others: bench.run.
    batched), stored as a checkpoint, evaluated. `fail` turns an exception at any stage into
    the cell's failure rows, so a failing model is rows, never a crash."""

    def __init__(self, cell: Cell, job: CellJob, on_log: LogCallback | None = None) -> None:
        self.cell, self.job = cell, job
        self.device = resolve_device(job.device)
        self.base = base_row(cell, job, self.device)
        limit = cell.train.time_limit_s
        self.deadline = time.monotonic() + limit if limit else None
        self.stage = "build"
        self.training_log = TrainingLog(job.run_dir, job.run_id, cell.key, also=on_log)
        self.task = self.model = None

    def build(self) -> None:
        """Build the model on its device and dtype and check its forward pass."""
        cell, device = self.cell, self.device
        self.task = get_task(cell.task, **cell.task_options)
        self.model = build_cell_model(cell, self.task).to(device=device, dtype=DTYPES[cell.dtype])
        self.base.update(
            d_model=self.model.d_model, params=self.model.num_params(), kernel=self.model.kernel
        )
        self.stage = "check"
        check_forward(self.model, self.task, device)
        self.stage = "train"

    def training(self) -> dict[str, Any]:
        """`train_model`'s arguments beyond model, task, device and on_step: this cell's own
        settings, learning rate, data and validation streams, deadline and training log."""
        cell = self.cell
        return {
            "train": cell.train,
            "lr": cell.lr,
            "data_seed": derive_seed("train", cell.seed),
            "val_seed": derive_seed("val", cell.seed, cell.task, sorted(cell.task_options.items())),
            "deadline": self.deadline,
            "on_log": self.training_log,
        }

    def trained(self, result: TrainResult, batched_cells: int = 1) -> list[dict]:
        """Store the trained model and evaluate it: the cell's rows."""
        self.training_log.flush()
        self.base.update(train_columns(result, batched_cells))
        RunDir(self.job.run_dir).save_checkpoint(
            self.cell.key, self.model.state_dict(), self.cell.to_dict()
        )
        self.stage = "eval"
        return _eval_rows(self.cell, self.model, self.task, self.base, self.device)

    def fail(self, e: BaseException) -> list[dict]:
        cell, base, device = self.cell, self.base, self.device
        if isinstance(e, Diverged):
            self.training_log.flush()
            return failure_rows(cell, base, "diverged", str(e), device)
        if isinstance(e, CellTimeout):
            self.training_log.flush()
            return failure_rows(cell, base, "timeout", f"{self.stage}: {e}", device)
        status = "oom" if is_oom(e) else "error"
        log.warning("cell %s failed in %s: %s", cell.label, self.stage, e)
        return failure_rows(cell, base, status, f"{self.stage}: {type(e).__name__}: {e}", device)


def run_cell(
    cell: Cell,
    job: CellJob,
    on_step: StepCallback | None = None,
    on_log: LogCallback | None = None,
) -> list[dict]:
    """Train and evaluate one cell; never raises for a failing model, returns its rows.

    Training-log rows go to the cell's stored training log, and to `on_log` if given."""
    attempt = CellAttempt(cell, job, on_log)
    if attempt.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(attempt.device)
    try:
        attempt.build()
        result = train_model(
            attempt.model, attempt.task, device=attempt.device, on_step=on_step,
            **attempt.training(),
        )  # fmt: skip
        return attempt.trained(result)
    except DiskFull:  # not the model's failure: the run stops, and resuming reruns the cell
        raise
    except Exception as e:  # noqa: BLE001 - a failing cell is a row, never a crash
        return attempt.fail(e)


def failure_rows(
    cell: Cell, base: dict, status: str, error: str, device: torch.device
) -> list[dict]:
    """The rows of a failed cell: one per eval length, NaN metrics, its status and error.

    Public because executors write them too, for a cell they had to kill (hard time limit).
    """
    if device.type == "cuda":
        torch.cuda.empty_cache()
    nan = math.nan
    try:  # the lengths a finished cell would have rows for
        lengths = eval_lengths(get_task(cell.task, **cell.task_options), cell.eval.lengths)
    except ValueError:
        lengths = cell.eval.lengths
    return [
        {
            **base,
            "eval_len": length,
            "n_eval": 0,
            "accuracy": nan,
            "seq_accuracy": nan,
            "scaled_accuracy": nan,
            "loss": nan,
            "id_accuracy": nan,
            "ood_accuracy": nan,
            "ood_scaled_accuracy": nan,
            "status": status,
            "error": error[:2000],
            "peak_memory_bytes": _peak_memory(device),
        }
        for length in lengths
    ]


def execute_cell(cell: Cell, job: CellJob, on_step: StepCallback | None = None) -> str:
    """Run a cell and store its rows atomically; returns the cell's status.

    With a `[tracking]` backend, the cell is also one tracker run (stored rows come first)."""
    with Tracker(job.tracking, cell, job.run_id, job.run_dir) as tracker:
        rows = run_cell(cell, job, on_step, on_log=tracker.log)
        RunDir(job.run_dir).write_cell(cell.key, rows)
        tracker.summary(rows)
    return cell_status(r["status"] for r in rows)

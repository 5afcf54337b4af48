"""The columns of a result row (one per cell x eval length): the contract every reader relies on."""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

STATUSES = ("ok", "diverged", "oom", "timeout", "error", "skipped")
# Statuses that are not a failure: `skipped` is a length or probe bin the cell could not make,
# which fails nothing. Every other status marks the row (and its cell) failed.
NOT_FAILED = ("ok", "skipped")


def is_failed(status: object) -> bool:
    return str(status) not in NOT_FAILED


def cell_status(statuses: Iterable[object]) -> str:
    """A cell's status from its rows' statuses: its failure if any row failed, else ok."""
    failed = sorted({str(s) for s in statuses if is_failed(s)})
    return failed[0] if failed else "ok"


def as_flag(value: object) -> float:
    """A stored bool column's value (bool, 0/1, "true", or missing) -> 1.0 / 0.0 / NaN: NaN for
    rows stored before the column existed. The one parser every reader of a flag uses."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    if isinstance(value, str):
        return {"true": 1.0, "false": 0.0}.get(value.strip().lower(), math.nan)
    return float(bool(value))


# name -> pandas dtype. Order is the order in stored files.
ROW_COLUMNS: dict[str, str] = {
    "run_id": "string",
    "cell": "string",  # content hash of the cell's resolved config
    "arch": "string",
    "arch_options": "string",  # JSON
    "task": "string",
    "task_options": "string",  # JSON
    # The arch class's declaration for these options (Mixer.time_parallel / is_time_parallel),
    # recorded when the cell ran, so reports group outside archs without importing them.
    # Null: the class declares nothing (or a row from before the column).
    "time_parallel": "bool",
    "seed": "int64",
    "lr": "float64",
    "d_model": "int64",
    "n_layers": "int64",
    "params": "int64",
    "param_budget": "int64",  # the config's target size (params is what the width achieved)
    "state_size": "int64",  # floats carried per sequence at eval_len
    "train_len_min": "int64",
    "train_len_max": "int64",
    "eval_len": "int64",
    "n_eval": "int64",
    "accuracy": "float64",  # token accuracy over scored positions
    "seq_accuracy": "float64",  # every scored position right
    "scaled_accuracy": "float64",  # (accuracy - chance) / (1 - chance)
    "chance": "float64",
    "loss": "float64",
    # In-distribution vs beyond training: positions that consumed <= / > train_len_max inputs.
    "id_accuracy": "float64",
    "ood_accuracy": "float64",
    "ood_chance": "float64",
    "ood_scaled_accuracy": "float64",  # the headline score: (ood - ood_chance) / (1 - ood_chance)
    "per_position_accuracy": "object",  # list[float] over positions (NaN where unscored)
    "train_steps": "int64",
    "learned": "bool",  # the last train.hold_checks validation checks held the target
    "val_accuracy": "float64",  # last validation check (fixed held-out set, training lengths)
    "val_loss": "float64",
    "steps_to_target": "int64",  # first check of that held run (null: not learned)
    "final_train_loss": "float64",
    "final_train_accuracy": "float64",
    "train_seconds": "float64",
    "eval_seconds": "float64",
    "tokens_per_second": "float64",  # training throughput
    # Cells trained as one batched model with this one (1: alone; bench.run.batched). Its
    # train_seconds and tokens_per_second are then the group's wall time, shared.
    "batched_cells": "int64",
    "peak_memory_bytes": "int64",
    "device": "string",
    "kernel": "string",
    "status": "string",  # one of STATUSES
    "error": "string",
    # outside code: "passed" the conformance door or "skipped" it (--skip-conformance);
    # "built-in" for statebench's own archs and tasks (the test suite checks them)
    "conformance": "string",
    # provenance
    "statebench_version": "string",
    "git_sha": "string",
    # Source hashes of an outside (dotted-path or entry-point) arch or task: their code is not
    # covered by statebench_version and git_sha. Null for statebench's own archs and tasks.
    "arch_source_hash": "string",
    "task_source_hash": "string",
    "torch_version": "string",
    "cuda_version": "string",
    "device_name": "string",
    "hostname": "string",
    "cpu_threads": "int64",  # torch.get_num_threads(): CPU results depend on it
    "created_at": "string",  # ISO 8601 UTC
}

# Columns `load()` adds to result rows (derived from stored strings, not stored themselves), so
# a pivot on them keeps variants apart: `arch` alone merges mamba and mamba(eigen=[-1,1]).
LABEL_COLUMNS: dict[str, str] = {
    "label": "string",  # arch with its options, as the report shows it: mamba(eigen=[-1,1])
    "task_label": "string",  # task with its options but the readout: permutation(group=S3)
}


def with_labels(df: pd.DataFrame) -> pd.DataFrame:
    """Result rows with LABEL_COLUMNS, placed after `task_options`."""
    from statebench.bench.config.labels import task_label, with_options

    def labels(names: str, options: str, label) -> list[str]:
        return [
            label(str(n), "" if o is None or o is pd.NA else str(o))
            for n, o in zip(df[names], df[options], strict=True)
        ]

    out = df.drop(columns=[c for c in LABEL_COLUMNS if c in df])
    at = list(out.columns).index("task_options") + 1 if "task_options" in out else len(out.columns)
    values = {
        "label": labels("arch", "arch_options", with_options) if len(df) else [],
        "task_label": labels("task", "task_options", task_label) if len(df) else [],
    }
    for offset, (name, dtype) in enumerate(LABEL_COLUMNS.items()):
        out.insert(at + offset, name, pd.Series(values[name], index=out.index, dtype=dtype))
    return out


# Critical-time probe results (bench/probe): one row per (cell, threshold).
PROBE_COLUMNS: dict[str, str] = {
    "run_id": "string",
    "cell": "string",
    "arch": "string",
    "arch_options": "string",  # JSON (tells sweeps and option variants of one arch apart)
    "task": "string",
    "task_options": "string",  # JSON (S3 and A5 are different tasks)
    "label": "string",  # display label: arch with its options
    "time_parallel": "bool",  # the arch class's declaration, as on result rows
    "lr": "float64",  # learning rate of the probed cell (a sweep is not one t*)
    "seed": "int64",
    "d_model": "int64",
    "n_layers": "int64",
    "params": "int64",
    "train_len_max": "int64",
    "max_len": "int64",  # longest position probed
    "reached_len": "int64",  # longest position actually measured (< max_len if a budget stopped it)
    "threshold": "float64",  # accuracy level defining t*
    "threshold_name": "string",  # "half" (halfway between chance and id_accuracy) or "0.9"
    "id_accuracy": "float64",  # accuracy at positions <= train_len_max on the probe's streams
    "t_star": "float64",  # first position where smoothed accuracy < threshold; NaN if censored
    "t_star_lo": "float64",  # bootstrap 95% interval
    "t_star_hi": "float64",
    "censored": "bool",  # True: no drop up to reached_len (t* > reached_len)
    "t_star_in_training": "bool",  # t* <= train_len_max: a failure inside training, no horizon
    "stopped_by": "string",  # "" | time_budget | memory_budget | max_length | data | oom
    "probe_seconds": "float64",  # wall-clock of the streaming pass
    "probe_config": "string",  # JSON of the [probe] settings that produced the row
    "kernel": "string",
    "conformance": "string",  # as on result rows: built-in | passed | skipped
    "status": "string",  # ok | skipped (stopped early, no drop seen) | not_learned | diverged ...
    "error": "string",  # for ok/skipped rows: why the probe stopped before max_len, if it did
}

# Per-position probe curves: one row per (cell, position bin).
CURVE_COLUMNS: dict[str, str] = {
    "run_id": "string",
    "cell": "string",
    "arch": "string",
    "task": "string",
    "seed": "int64",
    "position": "int64",  # bin start (1-based token position)
    "position_end": "int64",
    "accuracy": "float64",  # mean accuracy over eval sequences in this bin
    "n": "int64",  # scored tokens in the bin
    "status": "string",  # ok | skipped (past the probe's reached_len)
}

# Training logs: one row per `train.log_every` steps of one cell, written by its worker.
TRAINING_LOG_COLUMNS: dict[str, str] = {
    "run_id": "string",
    "cell": "string",
    "step": "int64",
    "tokens": "int64",  # training tokens seen up to this step
    "seconds": "float64",  # wall-clock since training started
    "loss": "float64",  # training loss of this step's batch
    "accuracy": "float64",  # training accuracy of this step's batch
    "lr": "float64",  # learning rate used at this step
    "val_loss": "float64",  # validation check (fixed held-out set); NaN on steps without one
    "val_accuracy": "float64",
    "worker": "string",  # host:pid of the process that trained the cell
}

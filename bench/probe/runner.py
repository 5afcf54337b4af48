"""Probe a matrix: train (or reuse) every cell through the normal harness, then measure t*.

A probe run is a normal run plus two tables. Cells are trained by `bench.run.runner.run_matrix`
(executors, claims, resume), so the run directory holds the usual result rows and checkpoints;
a cell already stored is not retrained, its checkpoint is loaded. Each cell's
trained model then streams `probe.max_len` tokens (`bench.probe.streaming`), and its binned
hits become t* rows (`probes/<key>.parquet`, one per threshold) and a per-bin curve
(`curves/<key>.parquet`). A probe already stored with the same settings is not redone; one with
other settings (say a longer max_len) is replaced. A cell whose training never reached its
validation target is `not_learned` without streaming: the leaderboard and the t* table share
one verdict, and a model the run calls not learned gets no critical time.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from statebench.bench.config import ConfigError, MatrixConfig
from statebench.bench.config.labels import with_options
from statebench.bench.config.probe import ProbeConfig
from statebench.bench.probe.estimator import (
    geometric_edges,
    threshold_name,
    threshold_value,
)
from statebench.bench.probe.measure import probe_rows
from statebench.bench.probe.progress import ProbeReporter
from statebench.bench.probe.stream import ChunkStream, streaming_task
from statebench.bench.probe.streaming import StreamCounts, stream_counts
from statebench.bench.run.cell import (
    DTYPES,
    build_cell_model,
    declared_time_parallel,
    resolve_device,
)
from statebench.bench.run.executors import Executor
from statebench.bench.run.matrix import Cell, derive_seed
from statebench.bench.run.progress import Reporter
from statebench.bench.run.runner import prepare_run, run_matrix
from statebench.bench.store import RunDir
from statebench.bench.store.schema import as_flag, cell_status, is_failed

log = logging.getLogger(__name__)


def expand_sweep(config: MatrixConfig) -> MatrixConfig:
    """Every arch at every (n_layers, d_model) of `probe.sweep`: each its own cell and key.

    A sweep value replaces the arch's own size (ArchSpec.d_model / n_layers); an empty list
    keeps it. A d_model sweep contradicts a parameter budget (which fixes d_model), so the two
    together are refused.
    """
    sweep = config.probe.sweep
    if not sweep.n_layers and not sweep.d_model:
        return config
    if sweep.d_model and config.model.param_budget:
        raise ConfigError(
            "probe.sweep.d_model cannot be combined with model.param_budget (which sets "
            "d_model per arch); drop one of them"
        )
    archs = [
        arch.model_copy(update={"n_layers": n_layers, "d_model": d_model})
        for arch in config.archs
        for n_layers in sweep.n_layers or [arch.n_layers]
        for d_model in sweep.d_model or [arch.d_model]
    ]
    return config.model_copy(update={"archs": archs})


def probe_settings(probe: ProbeConfig) -> str:
    """The settings that decide a cell's probe rows (JSON, stored on every row)."""
    return json.dumps(probe.model_dump(mode="json", exclude={"sweep"}), sort_keys=True)


def stored_probe_settings(run_dir: Path, key: str) -> str | None:
    run = RunDir(run_dir)
    if run.version(key, "probes") is None:
        return None
    try:
        rows = run.read_rows(key, "probes", columns=["probe_config"])
    except Exception as e:  # unreadable: probe again
        log.warning("ignoring unreadable probe file of %s (%s)", key, e)
        return None
    return rows[0]["probe_config"] if rows else None


def run_probe(
    config: MatrixConfig,
    run_dir: Path | None = None,
    reporter: Reporter | None = None,
    probe_reporter: ProbeReporter | None = None,
    executor: Executor | None = None,
    require_same_code: bool = False,
) -> tuple[Path, list[Cell]]:
    """Train what is missing, probe what is not yet probed with these settings.

    Training is `statebench run`'s: the matrix runner, its executors and claims (a cell stored
    ok without a checkpoint counts as pending), so probe drivers share cells like run drivers.
    """
    probe_reporter = probe_reporter or ProbeReporter()
    config = expand_sweep(config)
    run_dir = run_matrix(
        config,
        run_dir,
        reporter,
        executor=executor,
        need_checkpoints=True,
        require_same_code=require_same_code,
    )
    run_dir, run_id, cells = prepare_run(config, run_dir)
    run = RunDir(run_dir)
    statuses = run.scan().statuses
    stored = [c for c in cells if c.key in statuses]
    if len(stored) < len(cells):
        log.warning("%d cell(s) not stored yet: probing the others", len(cells) - len(stored))
    settings = probe_settings(config.probe)
    probes_todo = [c for c in stored if stored_probe_settings(run_dir, c.key) != settings]
    probe_reporter.start(len(cells), len(cells) - len(probes_todo))
    try:
        for cell in probes_todo:
            probe_reporter.cell_start(cell, config.probe.max_len)
            rows, curve = probe_cell(cell, config.probe, run_dir, run_id, config.device,
                                     on_progress=probe_reporter.advance)  # fmt: skip
            run.write_table("curves", cell.key, curve)  # curves first: a probe
            run.write_table("probes", cell.key, rows)  # file implies its curve
            probe_reporter.cell_end(cell, rows)
    finally:
        probe_reporter.finish()
    return run_dir, cells


def _cell_row(run_dir: Path, cell: Cell) -> dict[str, Any]:
    """The stored result rows of a cell, summarised: status, error, params, kernel, d_model."""
    rows = RunDir(run_dir).read_rows(cell.key)
    failed = [r for r in rows if is_failed(r["status"])]
    row = (failed or rows)[0]
    return {
        "status": cell_status(r["status"] for r in rows),
        "error": row.get("error") or "",
        "params": row.get("params"),
        "kernel": row.get("kernel"),
        "time_parallel": row.get("time_parallel"),
        "d_model": row.get("d_model"),
        "learned": row.get("learned"),
        "val_accuracy": row.get("val_accuracy"),
    }


def _not_learned_in_training(stored: dict[str, Any]) -> bool:
    """The training row says its validation check never reached the target (a row from
    before the flag says nothing: the probe's own in-distribution check decides)."""
    return as_flag(stored.get("learned")) == 0.0


def probe_cell(
    cell: Cell,
    probe: ProbeConfig,
    run_dir: Path,
    run_id: str,
    device: str = "auto",
    on_progress=None,
) -> tuple[list[dict], list[dict]]:
    """Probe one stored cell: (t* rows, one per threshold; curve rows, one per bin)."""
    settings = probe_settings(probe)
    stored = _cell_row(run_dir, cell)
    base = {
        "run_id": run_id,
        "cell": cell.key,
        "arch": cell.arch,
        "arch_options": json.dumps(cell.arch_options, sort_keys=True),
        "task": cell.task,
        "task_options": json.dumps(cell.task_options, sort_keys=True),
        "label": with_options(cell.arch, cell.arch_options),
        # as the training row recorded it; a row from before the column: the class, loaded
        # anyway to stream the cell
        "time_parallel": (
            stored["time_parallel"]
            if stored["time_parallel"] is not None
            else declared_time_parallel(cell.arch, cell.arch_options)
        ),
        "lr": cell.lr,
        "seed": cell.seed,
        "d_model": stored["d_model"] if stored["d_model"] is not None else cell.d_model,
        "n_layers": cell.n_layers,
        "params": stored["params"],
        "train_len_max": cell.train.len_max,
        "max_len": probe.max_len,
        "kernel": stored["kernel"],
        "probe_config": settings,
    }
    chance = float(streaming_task(cell.task, cell.task_options).chance)
    if stored["status"] != "ok":
        error = f"the cell did not train ({stored['status']}): {stored['error']}"
        return _failed(base, probe, chance, stored["status"], error), []
    if _not_learned_in_training(stored):
        val = stored["val_accuracy"]
        error = (
            f"validation accuracy {float(val if val is not None else math.nan):.3f} at training "
            f"lengths never reached train.target_accuracy={cell.train.target_accuracy:g}: no t*"
        )
        return _failed(base, probe, chance, "not_learned", error), []
    try:
        counts = _stream(cell, probe, run_dir, device, on_progress)
    except Exception as e:  # noqa: BLE001 - a failing probe is a row, never a crash
        log.warning("probe of %s failed: %s", cell.label, e)
        return _failed(base, probe, chance, "error", f"{type(e).__name__}: {e}"), []
    base["kernel"] = counts.kernel or base["kernel"]  # streaming may take another path
    return _probe_rows(base, probe, cell, counts, chance), _curve_rows(base, counts)


def _stream(
    cell: Cell, probe: ProbeConfig, run_dir: Path, device_name: str, on_progress
) -> StreamCounts:
    device = resolve_device(device_name)
    task = streaming_task(cell.task, cell.task_options)
    model = build_cell_model(cell, task)
    weights, _ = RunDir(run_dir).load_checkpoint(cell.key)
    model.load_state_dict(weights)
    model.to(device=device, dtype=DTYPES[cell.dtype])
    seed = derive_seed("probe", probe.seed, cell.task, sorted(cell.task_options.items()))
    stream = ChunkStream(task, probe.samples, probe.chunk, seed, device, probe.max_len,
                         probe.data_budget_bytes)  # fmt: skip
    return stream_counts(
        model,
        stream,
        probe.max_len,
        geometric_edges(probe.max_len, probe.bins_per_octave),
        step_work=probe.step_work,
        time_budget_s=probe.time_budget_s,
        memory_budget_bytes=probe.memory_budget_bytes,
        on_progress=on_progress,
        id_len=cell.train.len_max,
    )


def _probe_rows(
    base: dict, probe: ProbeConfig, cell: Cell, counts: StreamCounts, chance: float
) -> list[dict]:
    return probe_rows(base, probe, cell.key, counts, chance, cell.train.len_max)


def _curve_rows(base: dict, counts: StreamCounts) -> list[dict]:
    keep = ("run_id", "cell", "arch", "task", "seed")
    correct = counts.correct.sum(axis=0)
    scored = counts.scored.sum(axis=0)
    rows = []
    for b in range(len(counts.edges) - 1):
        start, end = int(counts.edges[b]), int(counts.edges[b + 1]) - 1
        measured = start <= counts.reached_len
        rows.append(
            {
                **{k: base[k] for k in keep},
                "position": start,
                "position_end": min(end, counts.reached_len) if measured else end,
                "accuracy": correct[b] / scored[b] if scored[b] > 0 else math.nan,
                "n": int(scored[b]),
                "status": "ok" if measured else "skipped",
            }
        )
    return rows


def _failed(base: dict, probe: ProbeConfig, chance: float, status: str, error: str) -> list[dict]:
    return [
        {
            **base,
            "reached_len": 0,
            "threshold": threshold_value(spec, chance),
            "threshold_name": threshold_name(spec),
            "t_star": math.nan,
            "t_star_lo": math.nan,
            "t_star_hi": math.nan,
            "censored": False,
            "stopped_by": "",
            "status": status,
            "error": error[:2000],
        }
        for spec in probe.thresholds
    ]

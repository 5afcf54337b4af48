"""Fixtures for tests/bench. Plot/report fixtures: synthetic runs with realistic result rows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from statebench.bench.store.schema import PROBE_COLUMNS, ROW_COLUMNS

# --- plots & report: synthetic runs -------------------------------------------------------------

PLOT_ARCHS = ("transformer", "mamba", "lstm", "griffin")
PLOT_TASKS = ("parity", "modular_sum", "flipflop")
PLOT_CHANCE = {"parity": 0.5, "modular_sum": 0.2, "flipflop": 0.5}
# Length (x train_len_max) at which scaled accuracy halves: transformer collapses soon after
# the training range, griffin/mamba later, the LSTM never within the grid.
PLOT_HALF_LIFE = {"transformer": 1.5, "mamba": 6.0, "griffin": 3.0, "lstm": math.inf}
PLOT_TASK_EASE = {"parity": 0.6, "modular_sum": 1.0, "flipflop": 2.5}  # scales the half-life
PLOT_EVAL_EXPONENT = {"transformer": 2.0}  # others: 1.0
PLOT_THROUGHPUT = {"transformer": 2.1e5, "mamba": 1.3e5, "lstm": 4.5e4, "griffin": 1.0e5}


def _with_schema(rows: list[dict], columns: dict[str, str]) -> pd.DataFrame:
    """Rows as the store would hand them: schema columns and dtypes, nullable where failed."""
    df = pd.DataFrame.from_records(rows)
    for name, dtype in columns.items():
        if name not in df:
            df[name] = None
        nullable = {"int64": "Int64", "bool": "boolean"}.get(dtype, dtype)
        if dtype != "object":
            df[name] = df[name].astype(nullable)
    return df[list(columns)]


def _state_size(arch: str, d_model: int, n_layers: int, length: int) -> int:
    if arch == "transformer":
        return 2 * n_layers * d_model * length  # KV cache
    return n_layers * d_model * {"mamba": 16, "lstm": 2, "griffin": 1}.get(arch, 4)


def make_plot_results(
    archs=PLOT_ARCHS,
    tasks=PLOT_TASKS,
    seeds=(0, 1, 2),
    eval_lens=(16, 32, 64, 128, 256, 512, 1024, 2048),
    train_len=(8, 64),
    failures: dict | None = None,
    missing=(),
    eval_exponent: dict | None = None,
    lrs=(1e-3,),
    rng_seed: int = 0,
) -> pd.DataFrame:
    """Realistic result rows for a synthetic run.

    failures: {(arch, task): status} -> those cells become single failed rows (NaN metrics,
    eval_len -1, an error message), as the runner writes them. missing: (arch, task) pairs
    absent altogether. eval_exponent: {arch: b} for eval_seconds ~ L**b (default 2 for the
    transformer, 1 otherwise). lrs: several values make a sweep (the smallest lr scores best).
    """
    rng = np.random.default_rng(rng_seed)
    failures = failures or {}
    exponents = {**PLOT_EVAL_EXPONENT, **(eval_exponent or {})}
    d_model, n_layers, n_eval = 64, 2, 256
    rows = []
    for arch in archs:
        for task in tasks:
            if (arch, task) in missing:
                continue
            chance = PLOT_CHANCE.get(task, 0.25)
            for lr in lrs:
                for seed in seeds:
                    cell = f"{arch}-{task}-{seed}-{lr:g}"
                    base = {
                        "run_id": "synthetic",
                        "cell": cell,
                        "arch": arch,
                        "arch_options": "{}",
                        "task": task,
                        "task_options": "{}",
                        "seed": seed,
                        "lr": lr,
                        "d_model": d_model,
                        "n_layers": n_layers,
                        "params": 100_000 + 2_000 * archs.index(arch) + 64 * tasks.index(task),
                        "train_len_min": train_len[0],
                        "train_len_max": train_len[1],
                        "chance": chance,
                        "train_steps": 2000,
                        "device": "cpu",
                        "kernel": "sdpa" if arch == "transformer" else "ref",
                        "statebench_version": "0.1.0",
                        "git_sha": "abc1234",
                        "torch_version": "2.5.0",
                        "cuda_version": None,
                        "device_name": "cpu",
                        "hostname": "test",
                        "created_at": "2025-01-01T00:00:00Z",
                    }
                    status = failures.get((arch, task))
                    if status and status != "ok":
                        # runners write eval_len -1 or leave it empty: cover both
                        rows.append(
                            {
                                **base,
                                "eval_len": -1 if status == "diverged" else None,
                                "status": status,
                                "error": f"Traceback (most recent call last):\n  ...\n"
                                f"RuntimeError: {status} at step 123",
                            }
                        )
                        continue
                    penalty = 0.15 * math.log10(lr / min(lrs))  # worse lr, worse score
                    tps = PLOT_THROUGHPUT.get(arch, 8e4) * (1 + 0.05 * rng.standard_normal())
                    for length in eval_lens:
                        life = PLOT_HALF_LIFE.get(arch, 4.0) * PLOT_TASK_EASE.get(task, 1.0)
                        ratio = length / (life * train_len[1])
                        scaled = 1 / (1 + ratio**3) if length > train_len[1] else 1.0
                        scaled = float(
                            np.clip(scaled - penalty + 0.03 * rng.standard_normal(), -0.05, 1.0)
                        )
                        acc = chance + (1 - chance) * scaled
                        prefactor = 1e-4 * (1 + archs.index(arch))  # archs differ in speed
                        seconds = prefactor * length ** exponents.get(arch, 1.0)
                        rows.append(
                            {
                                **base,
                                "state_size": _state_size(arch, d_model, n_layers, length),
                                "eval_len": length,
                                "n_eval": n_eval,
                                "accuracy": acc,
                                "seq_accuracy": acc ** (length / 8),
                                "scaled_accuracy": scaled,
                                "loss": -math.log(max(acc, 1e-3)),
                                "per_position_accuracy": [acc] * min(length, 64),
                                "final_train_loss": 0.01,
                                "final_train_accuracy": 0.99,
                                "train_seconds": 60.0,
                                "eval_seconds": seconds * n_eval,
                                "tokens_per_second": tps,
                                "peak_memory_bytes": 10**8 + length * 10**4,
                                "status": "ok",
                                "error": None,
                            }
                        )
    return _with_schema(rows, ROW_COLUMNS)


def make_plot_probes(
    archs=PLOT_ARCHS,
    tasks=PLOT_TASKS,
    seeds=(0, 1, 2),
    train_len_max=64,
    max_len=8192,
    skipped=(),
    failed=(),
) -> pd.DataFrame:
    """Probe rows at thresholds "half" and "0.9", as bench.probe writes them: finite t* for
    decaying archs, censored (t* NaN, lo = reached_len) for those that never drop (the LSTM).
    skipped: (arch, task) pairs stopped early by a time budget with no drop seen (status
    skipped, censored at reached_len 1024). failed: pairs whose probe raised (status error)."""
    rng = np.random.default_rng(1)
    rows = []
    for arch in archs:
        for task in tasks:
            for seed in seeds:
                for name, threshold, factor in (("half", 0.75, 1.0), ("0.9", 0.9, 0.6)):
                    life = PLOT_HALF_LIFE.get(arch, 4.0) * PLOT_TASK_EASE.get(task, 1.0)
                    life *= train_len_max * factor
                    censored = not math.isfinite(life) or life > max_len
                    t = math.nan if censored else life * (1 + 0.1 * rng.standard_normal())
                    row = {
                        "run_id": "synthetic",
                        "cell": f"{arch}-{task}-{seed}",
                        "arch": arch,
                        "task": task,
                        "seed": seed,
                        "d_model": 64,
                        "n_layers": 2,
                        "params": 100_000,
                        "train_len_max": train_len_max,
                        "max_len": max_len,
                        "reached_len": max_len,
                        "threshold": threshold,
                        "threshold_name": name,
                        "t_star": t,
                        "t_star_lo": t * 0.85,
                        "t_star_hi": t * 1.2,
                        "censored": censored,
                        "stopped_by": "",
                        "kernel": "ref",
                        "status": "ok",
                        "error": None,
                    }
                    if censored:
                        row.update(t_star_lo=max_len, t_star_hi=math.nan)
                    if (arch, task) in skipped:
                        row.update(
                            t_star=math.nan,
                            t_star_lo=1024.0,
                            t_star_hi=math.nan,
                            censored=True,
                            reached_len=1024,
                            stopped_by="time_budget",
                            status="skipped",
                            error="time budget of 60 s reached at position 1024",
                        )
                    if (arch, task) in failed:
                        row.update(
                            t_star=math.nan,
                            t_star_lo=math.nan,
                            t_star_hi=math.nan,
                            censored=False,
                            reached_len=0,
                            status="error",
                            error="Traceback (most recent call last):\n  ...\n"
                            "RuntimeError: probe failed",
                        )
                    rows.append(row)
    return _with_schema(rows, PROBE_COLUMNS)


def make_plot_manifest() -> dict:
    return {
        "run_id": "synthetic",
        "config": {
            "name": "synthetic",
            "archs": list(PLOT_ARCHS),
            "tasks": list(PLOT_TASKS),
            "seeds": [0, 1, 2],
            "train": {"steps": 2000, "lr": 1e-3, "batch_size": 64, "clip": None},
            "eval": {"lengths": [16, 32, 64, 128, 256, 512, 1024, 2048], "n_eval": 256},
        },
        "environment": {
            "statebench_version": "0.1.0",
            "git_sha": "abc1234",
            "torch_version": "2.5.0",
            "python": "3.11.7",
            "device": {"name": "cpu", "count": 1},
        },
    }


PLOT_SCENARIOS = (
    "full",
    "missing_cells",
    "failed_cells",
    "single_seed",
    "no_probes",
    "single_arch",
    "single_task",
    "all_failed",
    "sweep",
)


def make_plot_scenario(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results, probes) for one robustness case the figures and the report must survive."""
    probes = make_plot_probes(skipped=[("mamba", "flipflop")], failed=[("griffin", "parity")])
    if name == "full":
        return make_plot_results(), probes
    if name == "missing_cells":
        return make_plot_results(missing=[("mamba", "parity"), ("lstm", "flipflop")]), probes
    if name == "failed_cells":
        results = make_plot_results(
            failures={
                ("griffin", "parity"): "diverged",
                ("mamba", "flipflop"): "error",
                ("transformer", "modular_sum"): "oom",
                ("lstm", "parity"): "timeout",
            }
        )
        # a partial failure: an otherwise ok cell that ran out of memory at its longest length
        longest = (results["arch"] == "transformer") & (results["eval_len"] == 2048)
        metrics = ["accuracy", "seq_accuracy", "scaled_accuracy", "loss", "eval_seconds"]
        results.loc[longest, metrics] = np.nan
        results.loc[longest, ["status", "error"]] = ["oom", "CUDA out of memory"]
        return results, probes
    if name == "single_seed":
        return make_plot_results(seeds=(0,)), make_plot_probes(seeds=(0,))
    if name == "no_probes":
        return make_plot_results(), make_plot_probes().iloc[0:0]
    if name == "single_arch":
        return make_plot_results(archs=("mamba",)), make_plot_probes(archs=("mamba",))
    if name == "single_task":
        return make_plot_results(tasks=("parity",)), make_plot_probes(tasks=("parity",))
    if name == "all_failed":
        fail = {(a, t): "diverged" for a in PLOT_ARCHS for t in PLOT_TASKS}
        return make_plot_results(failures=fail), probes.iloc[0:0]
    if name == "sweep":
        return make_plot_results(lrs=(1e-3, 1e-2)), probes
    raise KeyError(name)


@pytest.fixture(params=PLOT_SCENARIOS)
def synthetic_scenario(request) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """Each robustness case in turn: (name, results, probes)."""
    return (request.param, *make_plot_scenario(request.param))


@pytest.fixture
def synthetic_results() -> pd.DataFrame:
    return make_plot_results()


@pytest.fixture
def synthetic_probes() -> pd.DataFrame:
    return make_plot_probes()


@pytest.fixture
def synthetic_manifest() -> dict:
    return make_plot_manifest()


@pytest.fixture
def synthetic_results_factory():
    """make_plot_results, for tests that need a variant (failures, one seed, ...)."""
    return make_plot_results


@pytest.fixture
def synthetic_probes_factory():
    return make_plot_probes

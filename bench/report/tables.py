"""The report's tables, assembled from result and probe rows (no rendering here).

Every number comes from `bench.analysis`; these functions only choose rows and format cells.
"""

from __future__ import annotations

import json
import logging
import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from statebench.bench.analysis.grouping import (
    RECURRENCE_COMPLETE,
    TIME_PARALLEL,
)
from statebench.bench.analysis.measured_lengths import LengthHistory
from statebench.bench.analysis.probes import prepare_probes, split_configs
from statebench.bench.analysis.scores import NOT_LEARNED, prepare
from statebench.bench.analysis.summary import split_train_lengths, summarize_headline
from statebench.bench.analysis.tstar import summarize_t_star
from statebench.bench.analysis.verdict import label_groups
from statebench.bench.config.tables import TrainConfig
from statebench.bench.plots.size import size_table
from statebench.bench.plots.style import arch_order, format_count, format_length, task_order
from statebench.bench.run.competence import not_held

log = logging.getLogger(__name__)

PROVENANCE_COLUMNS = (
    "statebench_version",
    "git_sha",
    "torch_version",
    "cuda_version",
    "device_name",
    "hostname",
)
NOT_RUN = "—"


def _mean_cell(row: pd.Series) -> str:
    if row["n_seeds"] == 0:
        return str(row["status"]) if row["status"] != "ok" else "n/a"
    text = f"{row['mean']:.2f}" + ("†" if row["partial"] else "")
    text += f" ± {(row['hi'] - row['lo']) / 2:.2f}" if row["n_seeds"] > 1 else " (1 seed)"
    if row["n_failed"]:
        text += f" ({row['n_seeds']}/{row['n_cells']} ok)"
    return text


def _best_cell(row: pd.Series) -> str:
    if row["n_seeds"] == 0:
        return str(row["status"]) if row["status"] != "ok" else "n/a"
    return (
        f"{row['best']:.2f}"
        + ("†" if row["partial"] else "")
        + (f" ({row['n_seeds']}/{row['n_cells']} ok)" if row["n_failed"] else "")
    )


def leaderboards(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two arch x task tables of the headline score: mean ± 95% CI, and best-of-N.

    Rows are sorted by the average over the tasks each arch ran (a failed cell counts as 0 in
    that average, so failing is never better than scoring low); columns are params, state
    size, one per task, then the average. Pairs never run show an em dash.
    """
    summary = summarize_headline(results)
    if summary.empty:
        return pd.DataFrame(), pd.DataFrame()
    tasks = task_order(summary["task"])
    sizes = size_table(split_train_lengths(prepare(results)))  # a study's rows by length
    tables = []
    for value, render in (("mean", _mean_cell), ("best", _best_cell)):
        summary = summary.assign(_text=summary.apply(render, axis=1))
        wide = summary.pivot(index="arch", columns="task", values="_text").reindex(columns=tasks)
        score = summary.assign(_v=summary[value].fillna(0.0)).groupby("arch")["_v"].mean()
        wide = wide.fillna(NOT_RUN)
        wide.insert(
            0,
            "state size",
            [format_count(sizes["state_size"].get(a, math.nan)) for a in wide.index],
        )
        wide.insert(
            0, "params", [format_count(sizes["params"].get(a, math.nan)) for a in wide.index]
        )
        wide["average"] = [f"{score[a]:.2f}" for a in wide.index]
        rank = {a: i for i, a in enumerate(arch_order(wide.index))}
        order = sorted(wide.index, key=lambda a: (-score[a], rank[a]))
        tables.append(wide.loc[order].rename_axis("arch").reset_index())
    return tables[0], tables[1]


def _t_star_text(group: pd.DataFrame, interval: bool = False) -> str:
    """`412 [300, 520]`, `> 8192` (half or more seeds censored), or `not learned`: the seeds of
    one arch x task summarized by `bench.analysis.tstar` (censoring handled)."""
    summary = summarize_t_star(group)
    if summary.n_measured == 0:
        if summary.n_not_learned:
            return "not learned"
        return "/".join(sorted(s.replace("_", " ") for s in set(group["status"])))
    text = summary.text()
    if summary.median_censored:
        why = sorted({s for s in group["stopped_by"] if s})
        text += f" ({', '.join(why)})" if why else ""
    elif interval and np.isfinite(summary.lo):
        hi = f"{summary.hi:.0f}" if np.isfinite(summary.hi) else "∞"
        text += f" [{summary.lo:.0f}, {hi}]"
    elif summary.n_censored:
        text += f" (+{summary.n_censored} censored)"
    if summary.n_not_learned:
        text += f" ({summary.n_not_learned} not learned)"
    return text


def critical_time_table(probes: pd.DataFrame) -> pd.DataFrame:
    """Arch x task (display labels): median t* over seeds at the default threshold."""
    rows = split_configs(prepare_probes(probes))
    if rows.empty:
        return pd.DataFrame()
    records = [
        {"arch": a, "task": t, "t*": _t_star_text(g)}
        for (a, t), g in rows.groupby(["arch", "task"])
    ]
    wide = pd.DataFrame(records).pivot(index="arch", columns="task", values="t*")
    wide = wide.reindex(index=arch_order(wide.index), columns=task_order(wide.columns))
    return wide.fillna(NOT_RUN).rename_axis("arch").reset_index()


def conjecture_table(probes: pd.DataFrame) -> pd.DataFrame:
    """Per probed task: t* [interval] per arch, archs grouped time-parallel first, then
    recurrence-complete, by each arch class's own declaration (`Mixer.time_parallel`), as the
    rows recorded it when their cells ran (outside archs included)."""
    rows = split_configs(prepare_probes(probes))
    if rows.empty:
        return pd.DataFrame()
    groups = label_groups(probes, rows)
    order = {TIME_PARALLEL: 0, RECURRENCE_COMPLETE: 1}
    archs = sorted(
        arch_order(rows["arch"]), key=lambda a: order.get(groups[a], 2)
    )  # stable: arch order inside each group
    tasks = task_order(rows["task"])
    records = []
    for arch in archs:
        record = {"group": groups[arch], "arch": arch}
        for task in tasks:
            group = rows[(rows["arch"] == arch) & (rows["task"] == task)]
            record[task] = _t_star_text(group, interval=True) if len(group) else NOT_RUN
        records.append(record)
    return pd.DataFrame.from_records(records, columns=["group", "arch", *tasks])


def _error_summary(error: str, limit: int = 240) -> str:
    """The informative line of an error (a traceback's last line), shortened for a table."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[-1] if lines else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _not_learned(rows: pd.DataFrame, train: dict) -> pd.DataFrame:
    """One row per cell whose validation target did not hold: `not_learned`, with the reason in
    the words training uses (`not_held`), so a last check at the target that did not hold long
    enough never reads as "below the target"."""
    unlearned = rows[(rows["learned"] == 0.0) & (rows["status"] == "ok")]
    cells = unlearned.drop_duplicates(["arch", "task", "seed", "lr", "d_model", "n_layers"])
    known = TrainConfig.model_fields
    rule = SimpleNamespace(
        target_accuracy=train.get("target_accuracy") or known["target_accuracy"].default,
        hold_checks=train.get("hold_checks") or 1,  # runs before the hold rule: one check
    )
    errors = [
        not_held(v, rule) if np.isfinite(v) else "validation never ran: no accuracy recorded"
        for v in cells["val_accuracy"]
    ]
    return cells.assign(stage="train", length="", status=NOT_LEARNED, error=errors)


def failures_table(
    results: pd.DataFrame, probes: pd.DataFrame, train: dict | None = None
) -> pd.DataFrame:
    """Every failed, diverged, oom, timeout, skipped or not-learned cell (train or probe), with
    its error and learning rate. A cell whose validation target did not hold (`train`: the
    config's `[train]` table, for the target and the hold rule) is listed as `not_learned`
    whether or not the run has probes."""
    frames = []
    rows = prepare(results)
    bad = rows[rows["status"] != "ok"]
    if not bad.empty:
        first = bad.drop_duplicates(
            ["arch", "task", "seed", "lr", "d_model", "n_layers", "status", "error"]
        )
        frames.append(
            first.assign(
                stage="train/eval",
                length=[format_length(v) if v > 0 else "" for v in first["eval_len"]],
            )
        )
    unlearned = _not_learned(rows, train or {})
    if not unlearned.empty:
        frames.append(unlearned)
    if probes is not None and not probes.empty:
        prows = prepare(probes)
        bad = prows[prows["status"] != "ok"].drop_duplicates(["arch", "task", "seed", "status"])
        # a cell whose training missed its target is listed once, above, not again here
        known = set(zip(unlearned["arch"], unlearned["task"], unlearned["seed"], strict=True))
        again = [
            s == NOT_LEARNED and (a, t, seed) in known
            for a, t, seed, s in zip(
                bad["arch"], bad["task"], bad["seed"], bad["status"], strict=True
            )
        ]
        frames.append(bad[~np.array(again, dtype=bool)].assign(stage="probe", length=""))
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    out["seed"] = [f"{s:.0f}" if np.isfinite(s) else "" for s in out["seed"]]
    out["lr"] = [f"{v:g}" if np.isfinite(v) else "" for v in out["lr"]]
    out["error"] = out["error"].map(_error_summary)
    return out[["stage", "arch", "task", "seed", "lr", "length", "status", "error"]]


def provenance_tables(results: pd.DataFrame, manifest: dict) -> list[tuple[str, pd.DataFrame]]:
    """Environment from the manifest, versions seen on result rows, and kernels per arch."""
    tables = []
    env = _flatten(manifest.get("environment") or {})
    if env:
        tables.append(
            (
                "Environment (manifest)",
                pd.DataFrame({"field": list(env), "value": [str(v) for v in env.values()]}),
            )
        )
    rows = prepare(results)
    seen = {}
    for col in PROVENANCE_COLUMNS:
        if col in results:
            values = sorted({str(v) for v in results[col] if not _missing(v)})
            if values:
                seen[col] = ", ".join(values)
    if seen:
        tables.append(
            (
                "Versions on result rows",
                pd.DataFrame({"field": list(seen), "value": list(seen.values())}),
            )
        )
    if not rows.empty:
        records = []
        for arch in arch_order(rows["arch"]):
            group = rows[rows["arch"] == arch]
            records.append(
                {
                    "arch": arch,
                    "kernels": ", ".join(sorted(set(group["kernel"]) - {""})) or "n/a",
                    "devices": ", ".join(sorted(set(group["device"]) - {""})) or "n/a",
                }
            )
        tables.append(("Kernels per arch", pd.DataFrame.from_records(records)))
    outside = _outside_code(results)
    if not outside.empty:
        tables.append(("Outside code (source hashes)", outside))
    return tables


def _outside_code(results: pd.DataFrame) -> pd.DataFrame:
    """Archs and tasks from outside statebench, by the source hash their rows carry: their
    code is not covered by the statebench version and git commit. `conformance` says whether
    it passed the conformance door or was let in unchecked (--skip-conformance)."""
    records = []
    door = "conformance" in results
    for kind in ("arch", "task"):
        column = f"{kind}_source_hash"
        if column not in results:
            continue
        rows = results[[kind, column]].dropna().astype(str)
        rows = rows[rows[column] != ""]
        for name, group in rows.groupby(kind, sort=True):
            hashes = ", ".join(sorted(set(group[column])))
            record = {"kind": kind, "name": name, "source hash": hashes}
            if door:
                seen = results.loc[group.index, "conformance"]
                record["conformance"] = ", ".join(sorted({str(v) for v in seen.dropna()}))
            records.append(record)
    columns = ["kind", "name", "source hash", *(["conformance"] if door else [])]
    return pd.DataFrame.from_records(records, columns=columns)


def _missing(value) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _toml_ready(value):
    """TOML has no null: drop None; tuples become lists; keys become strings."""
    if isinstance(value, dict):
        return {str(k): _toml_ready(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_toml_ready(v) for v in value if v is not None]
    return value


def config_text(config: dict, history: LengthHistory | None = None) -> tuple[str, str]:
    """The resolved config as TOML (what users write), else JSON; returns (language, text).

    With `history`, `eval.lengths` shows the lengths measured (`statebench eval` adds some
    after training), with a comment naming the configured ones and the added ones."""
    comment = ""
    if history is not None and history.changed and isinstance(config.get("eval"), dict):
        config = {**config, "eval": {**config["eval"], "lengths": history.measured}}
        comment = f"# lengths: measured; the run's config asked for {history.configured}"
        if history.added:
            comment += f"; added by statebench eval: {history.added}"
    try:
        import tomli_w

        text = tomli_w.dumps(_toml_ready(config))
        if comment:
            text = text.replace("\n[eval]\n", f"\n[eval]\n{comment}\n", 1)
        return "toml", text
    except Exception as e:  # tomli_w missing, or a value TOML cannot hold
        log.info("config not representable as TOML (%s); showing JSON", e)
        return "json", json.dumps(config, indent=2, sort_keys=True, default=str)

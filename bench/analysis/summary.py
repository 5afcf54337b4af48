"""Per arch x task summaries of the headline score: mean with a 95% interval over seeds, and
best-of-N, as the heatmap and the report's leaderboards show them.

Seeds are the cells of one arch x task that differ only by seed (a sweep's configuration is
chosen first, `select_best_config`). The cells of a training-length study are not seeds of one
model: each was trained at its own length, so each length is summarized as a model of its own,
`lstm(train_len=16)`, never pooled with the others.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statebench.bench.analysis.scores import (
    headline_score,
    prepare,
    select_best_config,
    state_size_at_longest,
)
from statebench.bench.analysis.stats import mean_ci
from statebench.bench.config.labels import arch_order, task_order

SUMMARY_COLUMNS = [
    "arch",
    "task",
    "mean",
    "lo",
    "hi",
    "best",
    "n_seeds",
    "n_cells",
    "n_failed",
    "partial",
    "status",
    "error",
    "params",
    "state_size",
]


def several_train_lengths(df: pd.DataFrame) -> bool:
    """Whether some arch x task was trained at two or more lengths (a training-length study)."""
    rows = prepare(df)
    if rows.empty:
        return False
    return bool((rows.groupby(["arch", "task"])["train_len_max"].nunique() >= 2).any())


def with_train_len(arch: str, length: float) -> str:
    """`lstm` -> `lstm(train_len=16)`, `mamba(eigen=[-1,1])` -> `mamba(eigen=[-1,1],train_len=16)`
    (the `with_options` form, so the label keeps its arch family's colour)."""
    option = f"train_len={int(length)}"
    return f"{arch[:-1]},{option})" if arch.endswith(")") else f"{arch}({option})"


def split_train_lengths(rows: pd.DataFrame) -> pd.DataFrame:
    """Prepared rows with the training length in the arch label wherever an arch x task holds
    cells of several training lengths (placeholders of absent cells, whose length is unknown,
    keep the plain label). `_arch_base` keeps the arch each label belongs to."""
    rows = rows.assign(_arch_base=rows["arch"])
    lengths = rows["train_len_max"]
    several = rows.groupby(["arch", "task"])["train_len_max"].transform("nunique") >= 2
    split = several & np.isfinite(lengths)
    if not split.any():
        return rows
    labels = [
        with_train_len(a, n) if s else a
        for a, n, s in zip(rows["arch"], lengths, split, strict=True)
    ]
    return rows.assign(arch=labels)


def _arch_ranks(rows: pd.DataFrame) -> dict[str, int]:
    """Rank of each arch label: the canonical arch order, a study's labels by training length."""
    labels = rows.drop_duplicates("arch")
    canon = {a: i for i, a in enumerate(arch_order(labels["_arch_base"]))}
    keys = {
        label: (canon[base], n if label != base else 0.0, label)
        for label, base, n in zip(
            labels["arch"], labels["_arch_base"], labels["train_len_max"], strict=True
        )
    }
    return {label: i for i, label in enumerate(sorted(keys, key=keys.__getitem__))}


def summarize_headline(df: pd.DataFrame) -> pd.DataFrame:
    """Per arch x task: headline score as mean with 95% CI over seeds, and as best-of-N.

    Columns: arch, task, mean, lo, hi, best, n_seeds (ok scores), n_cells, n_failed, partial
    (scored cells with some failed eval lengths), status ("ok" when at least one seed scored,
    else the commonest failure), error, params (median over cells) and state_size (at the
    longest eval length). Rows come sorted by arch then task in the canonical order; in a
    training-length study, `arch` names the training length too (`lstm(train_len=16)`).
    """
    rows = select_best_config(split_train_lengths(prepare(df)))
    scores = headline_score(rows)
    if scores.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    state = state_size_at_longest(rows, ["arch", "task"])
    records = [
        {
            "arch": a,
            "task": t,
            **_seed_summary(group),
            "state_size": float(state.get((a, t), np.nan)),
        }
        for (a, t), group in scores.groupby(["arch", "task"], sort=False)
    ]
    out = pd.DataFrame.from_records(records, columns=SUMMARY_COLUMNS)
    arch_rank = _arch_ranks(rows)
    task_rank = {t: i for i, t in enumerate(task_order(out["task"]))}
    out = out.assign(_a=out["arch"].map(arch_rank), _t=out["task"].map(task_rank))
    return out.sort_values(["_a", "_t"]).drop(columns=["_a", "_t"]).reset_index(drop=True)


def _seed_summary(group: pd.DataFrame) -> dict:
    """The headline scores of one arch x task's cells: mean ± CI, best-of-N, what failed."""
    ci = mean_ci(group["score"])
    failed = group[group["status"] != "ok"]
    statuses = failed["status"].value_counts()
    return {
        "mean": ci.mean,
        "lo": ci.lo,
        "hi": ci.hi,
        "best": float(group["score"].max()) if ci.n else np.nan,
        "n_seeds": ci.n,
        "n_cells": len(group),
        "n_failed": len(failed),
        "partial": int((group["failed_lengths"] > 0).sum()),
        "status": "ok" if ci.n or statuses.empty else str(statuses.index[0]),
        "error": next((e for e in failed["error"] if e), ""),
        "params": float(group["params"].median()),
    }

"""From result rows to the numbers every figure and the report agree on.

The one headline number of a cell is defined here (`headline_score`), and so is how a sweep's
configuration is picked; `bench.analysis.summary` summarizes the scores over seeds.
Figures and the report call these functions rather than recomputing, so they cannot disagree.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from statebench.bench.analysis.coverage import ABSENT_STATUSES
from statebench.bench.analysis.selection import best_on_validation
from statebench.bench.config.labels import task_label, with_options
from statebench.bench.store.schema import as_flag

log = logging.getLogger(__name__)

STRING_COLUMNS = ("arch", "task", "status", "error", "kernel", "device", "cell", "stopped_by")
NUMERIC_COLUMNS = (
    "seed",
    "lr",
    "d_model",
    "n_layers",
    "params",
    "state_size",
    "train_len_min",
    "train_len_max",
    "eval_len",
    "n_eval",
    "accuracy",
    "seq_accuracy",
    "scaled_accuracy",
    "id_accuracy",
    "ood_accuracy",
    "ood_scaled_accuracy",
    "val_accuracy",
    "val_loss",
    "ood_chance",
    "chance",
    "loss",
    "train_steps",
    "train_seconds",
    "eval_seconds",
    "tokens_per_second",
    "peak_memory_bytes",
)
HEADLINE_DEFINITION = (
    "Headline score: per cell (arch x task x seed), the mean out-of-distribution scaled "
    "accuracy ((accuracy - chance) / (1 - chance) over the positions beyond the training "
    "range only; 0 = chance, 1 = perfect) over the eval lengths beyond the training range "
    "(eval_len > train_len_max), each length weighted equally. A cell whose validation check "
    "never reached the target accuracy is **not learned**: it has no score and counts as failed."
)
NOT_LEARNED = "not_learned"
# Columns that make two cells of one arch x task differ other than by seed (a sweep).
CONFIG_COLUMNS = ("lr", "d_model", "n_layers")


def _text(series: pd.Series) -> pd.Series:
    """Plain Python strings, '' for missing: groupby and comparisons stay NA-free."""
    return series.map(
        lambda v: "" if v is None or (isinstance(v, float) and v != v) or v is pd.NA else str(v)
    ).astype(object)


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with NA-safe text columns and float numeric columns, whatever dtypes came in.

    Failed cells carry NaN metrics and a NaN or -1 eval_len; the readers below must not trip on
    nullable integers, pyarrow strings or missing columns, so everything is normalized once here.
    """
    out = df.copy()
    for col in STRING_COLUMNS:
        out[col] = _text(out[col]) if col in out else ""
    if "status" not in df:
        out["status"] = "ok"
    out.loc[out["status"] == "", "status"] = "error"
    for col in NUMERIC_COLUMNS:
        values = pd.to_numeric(out[col], errors="coerce") if col in out else np.nan
        out[col] = pd.Series(values, index=out.index).to_numpy(dtype=float, na_value=np.nan)
    out["learned"] = out["learned"].map(as_flag).astype(float) if "learned" in out else np.nan
    for col in ("arch_options", "task_options"):
        out[col] = _text(out[col]) if col in out else ""
    # An arch or task run with options (mamba eigen=[-1,1], permutation group=S3) is its own
    # line, row and colour, never a "config" that a best-of sweep would pick from.
    out["arch"] = [
        with_options(a, o) for a, o in zip(out["arch"], out["arch_options"], strict=True)
    ]
    out["task"] = [task_label(t, o) for t, o in zip(out["task"], out["task_options"], strict=True)]
    out["arch_options"] = ""  # folded into the names: preparing twice changes nothing
    out["task_options"] = ""
    return out


def ood_score(rows: pd.DataFrame) -> pd.Series:
    """Per row, the out-of-distribution scaled accuracy (positions beyond training only),
    falling back to the pooled `scaled_accuracy` on rows stored before the split existed."""
    return rows["ood_scaled_accuracy"].where(
        np.isfinite(rows["ood_scaled_accuracy"]), rows["scaled_accuracy"]
    )


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that hold a measurement: status ok and a positive eval length."""
    rows = prepare(df)
    keep = (rows["status"] == "ok") & np.isfinite(rows["eval_len"]) & (rows["eval_len"] > 0)
    return rows[keep]


def cell_columns(df: pd.DataFrame) -> list[str]:
    """What identifies one trained model: arch, task, seed and the config (and the cell hash)."""
    cols = ["arch", "task", "seed", *CONFIG_COLUMNS]
    if "cell" in df and (df["cell"] != "").all():
        cols.append("cell")
    return cols


def headline_score(df: pd.DataFrame) -> pd.DataFrame:
    """The headline score of each cell: mean scaled accuracy over eval lengths beyond training.

    Definition: for one cell (one arch x task x seed x config), the mean of `scaled_accuracy`
    (0 = chance, 1 = perfect) over its ok rows with `eval_len > train_len_max`. It measures what
    this benchmark is about (tracking state past the lengths seen in training) on a scale that
    is comparable across tasks with different chance levels. Every eval length beyond the train
    range weighs the same, so a model that holds up to 2x and then collapses scores below one
    that holds everywhere. A cell with no ok row beyond training range scores NaN, with the
    status of its failure ("diverged", "oom", ...) or "ok" if it simply was not evaluated there.

    Returns one row per cell: arch, task, seed, the config columns, score, n_lengths, status,
    error, params. failed_lengths counts the non-ok rows of a cell that still scored (say an
    oom at the longest length): its score averages only the lengths that ran, so summaries
    flag it (`partial`) instead of hiding it.
    """
    rows = prepare(df)
    if rows.empty:
        return pd.DataFrame(
            columns=[
                *cell_columns(rows),
                *("score", "n_lengths", "failed_lengths", "status", "error", "params"),
            ]
        )
    keys = cell_columns(rows)
    score = ood_score(rows)
    beyond = (
        (rows["status"] == "ok")
        & (rows["eval_len"] > rows["train_len_max"])
        & np.isfinite(score)
        & (rows["learned"] != 0.0)
    )
    rows = rows.assign(_beyond=beyond, _score=score.where(beyond))
    records = [
        {**dict(zip(keys, key, strict=True)), **_cell_score(cell)}
        for key, cell in rows.groupby(keys, dropna=False, sort=False)
    ]
    return pd.DataFrame.from_records(records)


def headline_lengths(df: pd.DataFrame) -> dict[int, list[int]]:
    """The eval lengths the headline averages, per training length (train_len_max): those
    beyond it with an ok row. Most runs have one training length, a length study several."""
    rows = ok_rows(df)
    rows = rows[np.isfinite(rows["train_len_max"]) & (rows["eval_len"] > rows["train_len_max"])]
    return {
        int(train): sorted({int(n) for n in group["eval_len"]})
        for train, group in rows.groupby("train_len_max")
    }


def _cell_score(cell: pd.DataFrame) -> dict:
    """One cell's headline fields from its rows (`_beyond`, `_score` marked by headline_score)."""
    failed = cell[cell["status"] != "ok"]
    n = int(cell["_beyond"].sum())
    status = "ok" if n or failed.empty else str(failed["status"].iloc[0])
    if (cell["learned"] == 0.0).any():  # scoring an unlearned model would read as a result
        status = NOT_LEARNED
    return {
        "score": float(cell["_score"].mean()) if n else np.nan,
        "n_lengths": n,
        "failed_lengths": len(failed) if n else 0,
        "status": status,
        "error": next((e for e in failed["error"] if e), ""),
        "params": float(cell["params"].median()),
    }


def _best_config_keys(rows: pd.DataFrame) -> pd.DataFrame:
    """Per arch x task, the config chosen on validation accuracy (bench.analysis.selection): the
    best mean `val_accuracy` over its cells, at training lengths, never a test-length score. Rows
    stored before the validation check existed carry none; for them the best mean headline
    score decides (ties: first seen)."""
    config = list(CONFIG_COLUMNS)
    per_cell = rows.drop_duplicates(cell_columns(rows))
    if np.isfinite(per_cell["val_accuracy"]).any():
        return best_on_validation(per_cell, ["arch", "task"], config)
    means = (
        headline_score(rows)
        .groupby(["arch", "task", *config], dropna=False, sort=False)["score"]
        .mean()
        .reset_index()
    )
    means["_rank"] = means["score"].fillna(-np.inf)
    best = means.sort_values("_rank", ascending=False, kind="stable")
    return best.drop_duplicates(["arch", "task"])[["arch", "task", *config]]


def select_best_config(df: pd.DataFrame) -> pd.DataFrame:
    """Keep, per arch x task, only the configuration (lr, width, depth) chosen on validation.

    A sweep compares archs at their chosen setting; without this a figure would average tuned
    and untuned runs together. The choice never looks at the test lengths (`_best_config_keys`).
    Placeholders of absent cells (bench.analysis.coverage) know only their lr, from the
    manifest's label: they are no configuration of their own and stay with the chosen lr, so
    they still count as failed. With one configuration per arch x task this is a no-op.
    """
    rows = prepare(df)
    if rows.empty:
        return rows
    config = list(CONFIG_COLUMNS)
    absent = rows["status"].isin(ABSENT_STATUSES)
    present = rows[~absent]
    n_configs = present.groupby(["arch", "task"])[config].nunique(dropna=False)
    if (n_configs.max(axis=1) <= 1).all():
        return rows
    best = _best_config_keys(present)
    log.info("sweep: keeping the validation-chosen config for %d arch x task pairs", len(best))
    # merge on the config values: NaN never equals NaN, so compare through a text key.
    chosen = _text_key(rows[["arch", "task", *config]]).isin(set(_text_key(best)))
    lrs = best.set_index(["arch", "task"])["lr"]
    lr = [lrs.get((a, t), np.nan) for a, t in zip(rows["arch"], rows["task"], strict=True)]
    same_lr = np.isclose(rows["lr"], lr, rtol=1e-5) | rows["lr"].isna()
    return rows[(chosen & ~absent) | (absent & same_lr)]


def _text_key(frame: pd.DataFrame) -> pd.Series:
    """One string per row ("nan" for a missing value: pandas' str dtype would keep NaN)."""
    return frame.apply(lambda col: col.map(str)).agg("|".join, axis=1)


def state_size_at_longest(df: pd.DataFrame, by: list[str]) -> pd.Series:
    """State size (floats per sequence) at the longest eval length, median over cells, per group.

    Attention's KV cache grows with length, so only the longest length compares fairly.
    """
    rows = prepare(df)
    rows = rows[np.isfinite(rows["state_size"]) & (rows["eval_len"] > 0)]
    if rows.empty:
        return pd.Series(dtype=float)
    longest = rows.groupby(by)["eval_len"].transform("max")
    return rows[rows["eval_len"] == longest].groupby(by)["state_size"].median()

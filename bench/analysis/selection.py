"""Learning-rate (and sweep) choice on validation accuracy, never on the test lengths.

A cell's `val_accuracy` comes from a held-out set at training lengths (bench.run.train). Per
architecture (with its options) and task (with its options), the learning rate with the best
mean validation accuracy over seeds is kept, ties going to the lower validation loss; the test
lengths never enter the choice, so the scores reported at them are not selected on themselves.
The report and the figures choose a sweep's configuration the same way
(`bench.analysis.scores.select_best_config`). (The Deletang protocol score, max over seeds and
lrs on the test lengths, is the paper's own protocol and stays as such, labelled so.)
"""

from __future__ import annotations

import pandas as pd

GROUP = ("arch", "arch_options", "task", "task_options")


def best_on_validation(per_cell: pd.DataFrame, group: list[str], config: list[str]) -> pd.DataFrame:
    """Per `group`, the `config` values with the best mean `val_accuracy` over its cells (one
    row per cell), ties to the lower mean `val_loss`, then to the first seen."""
    losses = per_cell["val_loss"] if "val_loss" in per_cell else float("nan")
    cells = per_cell.assign(_acc=per_cell["val_accuracy"], _loss=losses)
    means = cells.groupby([*group, *config], dropna=False, sort=False)[["_acc", "_loss"]].mean()
    means = means.reset_index()
    means["_acc"] = means["_acc"].fillna(-1.0)
    means["_loss"] = means["_loss"].fillna(float("inf"))
    ranked = means.sort_values(["_acc", "_loss"], ascending=[False, True], kind="stable")
    return ranked.drop_duplicates(group)[[*group, *config]]


def best_lr_on_validation(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per arch x task group: the chosen `lr`, its mean `val_accuracy` and `val_loss`."""
    keys = [k for k in GROUP if k in rows]
    per_cell = rows.drop_duplicates("cell") if "cell" in rows else rows
    best = best_on_validation(per_cell, keys, ["lr"])
    means = per_cell.groupby([*keys, "lr"], dropna=False)[["val_accuracy", "val_loss"]].mean()
    return best.merge(means.reset_index(), on=[*keys, "lr"], how="left")


def select_lr_on_validation(rows: pd.DataFrame) -> pd.DataFrame:
    """The result rows of the validation-chosen learning rate only (every seed and length)."""
    keys = [k for k in GROUP if k in rows]
    best = best_lr_on_validation(rows)
    return rows.merge(best[[*keys, "lr"]], on=[*keys, "lr"], how="inner")

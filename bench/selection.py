"""Learning-rate choice on validation accuracy, never on the test lengths.

A cell's `val_accuracy` comes from a held-out set at training lengths (bench.train). Per
architecture (with its options) and task (with its options), the learning rate with the best
mean validation accuracy over seeds is kept, ties going to the lower validation loss; the test
lengths never enter the choice, so the scores reported at them are not selected on themselves.
(The Deletang protocol score, max over seeds and lrs on the test lengths, is the paper's own
protocol and stays as such, labelled so.)
"""

from __future__ import annotations

import pandas as pd

GROUP = ("arch", "arch_options", "task", "task_options")


def best_lr_on_validation(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per arch x task group: the chosen `lr`, its mean `val_accuracy` and `val_loss`."""
    keys = [k for k in GROUP if k in rows]
    per_cell = rows.drop_duplicates("cell") if "cell" in rows else rows
    means = (
        per_cell.groupby([*keys, "lr"], dropna=False)[["val_accuracy", "val_loss"]]
        .mean()
        .reset_index()
    )
    means["_acc"] = means["val_accuracy"].fillna(-1.0)
    means["_loss"] = means["val_loss"].fillna(float("inf"))
    ranked = means.sort_values(["_acc", "_loss"], ascending=[False, True], kind="stable")
    return ranked.drop_duplicates(keys)[[*keys, "lr", "val_accuracy", "val_loss"]]


def select_lr_on_validation(rows: pd.DataFrame) -> pd.DataFrame:
    """The result rows of the validation-chosen learning rate only (every seed and length)."""
    keys = [k for k in GROUP if k in rows]
    best = best_lr_on_validation(rows)
    return rows.merge(best[[*keys, "lr"]], on=[*keys, "lr"], how="inner")

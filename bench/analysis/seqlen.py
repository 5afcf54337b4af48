"""The training-length study: final held-out loss against the trained length, per arch x task.

Each cell trains on exactly one length (`train_lengths` in the config) for the same wall clock;
its final loss is the median of the last FINAL_CHECKS validation losses of its training log (one
held-out set shared by every length, so cells compare; a median, so one loss spike in the last
steps does not decide a point). The fit is loss ~ a * L**b in log-log space, with b's 95%
interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statebench.bench.analysis.stats import fit_power_law_ci
from statebench.bench.config.labels import arch_order, task_order

FINAL_CHECKS = 5


def is_length_study(logs: pd.DataFrame) -> bool:
    """Labelled training logs from cells trained at two or more lengths of one arch x task."""
    if logs is None or logs.empty or "train_len_max" not in logs:
        return False
    counts = logs.groupby(["arch", "task"])["train_len_max"].nunique()
    return bool((counts >= 2).any())


def final_losses(logs: pd.DataFrame) -> pd.DataFrame:
    """Per cell: arch, task, seed, train_len (its one training length), final validation loss
    (median of the last FINAL_CHECKS checks; of the last training losses when the log has no
    validation), seconds, steps."""
    records = []
    for cell, rows in logs.groupby("cell", sort=False):
        val = rows[np.isfinite(rows["val_loss"])]
        last = val["val_loss"] if not val.empty else rows["loss"]
        records.append(
            {
                "cell": cell,
                "arch": rows["arch"].iloc[0],
                "task": rows["task"].iloc[0],
                "seed": rows["seed"].iloc[0],
                "train_len": float(rows["train_len_max"].iloc[0]),
                "loss": float(last.iloc[-FINAL_CHECKS:].median()),
                "seconds": float(rows["seconds"].max()),
                "steps": float(rows["step"].max()),
            }
        )
    columns = ["cell", "arch", "task", "seed", "train_len", "loss", "seconds", "steps"]
    return pd.DataFrame.from_records(records, columns=columns)


def scaling_exponents(final: pd.DataFrame) -> pd.DataFrame:
    """Per arch x task: the fitted exponent b of loss ~ a * L**b, its 95% interval, n points."""
    records = []
    for task in task_order(final["task"]):
        for arch in arch_order(final.loc[final["task"] == task, "arch"]):
            rows = final[(final["task"] == task) & (final["arch"] == arch)]
            fit = fit_power_law_ci(rows["train_len"], rows["loss"])
            records.append(
                {
                    "arch": arch,
                    "task": task,
                    "exponent": fit.law.exponent,
                    "lo": fit.lo,
                    "hi": fit.hi,
                    "prefactor": fit.law.prefactor,
                    "n": fit.law.n,
                }
            )
    columns = ["arch", "task", "exponent", "lo", "hi", "prefactor", "n"]
    return pd.DataFrame.from_records(records, columns=columns)

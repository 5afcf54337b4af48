"""Training logs joined with the identity of their cells (arch, task, seed, training length)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from statebench.bench.analysis.scores import prepare

LOG_NUMERIC = ("step", "tokens", "seconds", "loss", "accuracy", "lr", "val_loss", "val_accuracy")


def label_training_log(logs: pd.DataFrame | None, results: pd.DataFrame) -> pd.DataFrame:
    """Log rows with the display labels of their cell (from the result rows: arch, task, seed,
    training length and `cell_lr`, the learning rate the cell was configured with; the log's own
    `lr` is the scheduled one at each step), numeric columns as floats; rows of cells without a
    result row are dropped (nothing to name them by)."""
    identity = ["cell", "arch", "task", "seed", "train_len_max", "cell_lr"]
    if logs is None or logs.empty or results.empty or "cell" not in results:
        return pd.DataFrame(columns=[*identity, *LOG_NUMERIC])
    rows = prepare(results)  # its `lr` is always there, as floats
    rows = rows.assign(cell_lr=rows["lr"])
    ids = rows[rows["cell"] != ""].drop_duplicates("cell")[identity]
    out = logs.assign(cell=logs["cell"].astype(str)).merge(ids, on="cell", how="inner")
    for col in LOG_NUMERIC:
        values = pd.to_numeric(out[col], errors="coerce") if col in out else np.nan
        out[col] = pd.Series(values, index=out.index).to_numpy(dtype=float, na_value=np.nan)
    return out.sort_values(["cell", "step"], kind="stable", ignore_index=True)

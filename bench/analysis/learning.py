"""Training logs joined with the identity of their cells (arch, task, seed, training length)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from statebench.bench.analysis.scores import prepare

LOG_NUMERIC = ("step", "tokens", "seconds", "loss", "accuracy", "lr", "val_loss", "val_accuracy")


def label_training_log(logs: pd.DataFrame | None, results: pd.DataFrame) -> pd.DataFrame:
    """Log rows with the display labels of their cell (from the result rows), numeric columns
    as floats; rows of cells without a result row are dropped (nothing to name them by)."""
    if logs is None or logs.empty or results.empty or "cell" not in results:
        return pd.DataFrame(columns=["cell", "arch", "task", "seed", "train_len_max", *LOG_NUMERIC])
    rows = prepare(results)
    ids = rows[rows["cell"] != ""].drop_duplicates("cell")[
        ["cell", "arch", "task", "seed", "train_len_max"]
    ]
    out = logs.assign(cell=logs["cell"].astype(str)).merge(ids, on="cell", how="inner")
    for col in LOG_NUMERIC:
        values = pd.to_numeric(out[col], errors="coerce") if col in out else np.nan
        out[col] = pd.Series(values, index=out.index).to_numpy(dtype=float, na_value=np.nan)
    return out.sort_values(["cell", "step"], kind="stable", ignore_index=True)

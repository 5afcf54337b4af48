"""The score of a published protocol, stated by the config's `[score]` table.

Deletang et al. 2023 score a trained model by its mean accuracy over every eval length in
41..500, then report, per arch x task, the maximum over seeds and learning rates. We compute
that (and the mean, which the paper does not report) from the stored rows, so a `deletang` run
compares with the paper's tables directly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statebench.bench.analysis.scores import prepare


def protocol_scores(results: pd.DataFrame, score_cfg: dict, train_len_max: int) -> pd.DataFrame:
    """Per arch x task: the max and mean over cells (seeds x lrs) of each cell's mean accuracy
    over eval lengths >= min_len (default: beyond training). Failed cells score NaN and count
    in `n_cells` but not in the summaries."""
    rows = prepare(results)
    min_len = score_cfg.get("min_len") or train_len_max + 1
    ok = rows[(rows["status"] == "ok") & (rows["eval_len"] >= min_len)]
    per_cell = ok.groupby(["arch", "task", "cell"], sort=False)["accuracy"].mean()
    all_cells = rows.groupby(["arch", "task"], sort=False)["cell"].nunique()
    if per_cell.empty:
        return pd.DataFrame(columns=["arch", "task", "max", "mean", "n_scored", "n_cells"])
    grouped = per_cell.groupby(level=["arch", "task"], sort=False)
    out = pd.DataFrame({"max": grouped.max(), "mean": grouped.mean(), "n_scored": grouped.size()})
    out["n_cells"] = all_cells.reindex(out.index).to_numpy()
    out.attrs["min_len"] = int(min_len)
    return out.reset_index()


def protocol_table(scores: pd.DataFrame, aggregate: str) -> pd.DataFrame:
    """Arch rows x task columns of the chosen aggregate, as percentages (the paper's format)."""
    if scores.empty:
        return pd.DataFrame()
    table = scores.pivot(index="arch", columns="task", values=aggregate) * 100
    return table.round(1).replace({np.nan: None}).reset_index()

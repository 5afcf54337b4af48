"""The score of a published protocol, stated by the config's `[score]` table.

Deletang et al. 2023 score a trained model by its mean accuracy over every eval length in
41..500, then report, per arch x task, the maximum over seeds and learning rates. We compute
that (and the mean, which the paper does not report) from the stored rows, so a `deletang` run
compares with the paper's tables directly. The paper's measure scores every model, learned or
not; ours also counts the models that learned the task in distribution (the validation target
held), and the tables mark an arch x task none of whose models did: its number is the
extrapolation of a model that never solved the training lengths.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statebench.bench.analysis.scores import prepare

NOT_LEARNED = "not learned"


def protocol_scores(results: pd.DataFrame, score_cfg: dict, train_len_max: int) -> pd.DataFrame:
    """Per arch x task: the max and mean over cells (seeds x lrs) of each cell's mean accuracy
    over eval lengths >= min_len (default: beyond training); `n_learned`, the scored cells that
    learned the task in distribution, of `n_known` that record whether they did. Failed cells
    score NaN and count in `n_cells` but not in the summaries."""
    rows = prepare(results)
    min_len = score_cfg.get("min_len") or train_len_max + 1
    ok = rows[(rows["status"] == "ok") & (rows["eval_len"] >= min_len)]
    keys = ["arch", "task", "cell"]
    per_cell = ok.groupby(keys, sort=False)["accuracy"].mean()
    flag = ok.groupby(keys, sort=False)["learned"].max()  # NaN: a row from before the flag
    all_cells = rows.groupby(["arch", "task"], sort=False)["cell"].nunique()
    if per_cell.empty:
        columns = ["arch", "task", "max", "mean", "n_scored", "n_learned", "n_known", "n_cells"]
        return pd.DataFrame(columns=columns)
    grouped = per_cell.groupby(level=["arch", "task"], sort=False)
    out = pd.DataFrame({"max": grouped.max(), "mean": grouped.mean(), "n_scored": grouped.size()})
    by_pair = ["arch", "task"]
    out["n_learned"] = (flag >= 1.0).groupby(level=by_pair, sort=False).sum().astype(int)
    out["n_known"] = flag.notna().groupby(level=by_pair, sort=False).sum().astype(int)
    out["n_cells"] = all_cells.reindex(out.index).to_numpy()
    out.attrs["min_len"] = int(min_len)
    return out.reset_index()


def protocol_table(scores: pd.DataFrame, aggregate: str) -> pd.DataFrame:
    """Arch rows x task columns of the chosen aggregate, as percentages (the paper's format).

    A cell none of whose models learned the task reads "<score> (not learned)"; rows written
    before the learned flag existed say nothing either way."""
    if scores.empty:
        return pd.DataFrame()
    unlearned = (scores["n_learned"] == 0) & (scores["n_known"] > 0)
    text = [
        None if np.isnan(value) else f"{value * 100:.1f}" + (f" ({NOT_LEARNED})" if bad else "")
        for value, bad in zip(scores[aggregate], unlearned, strict=True)
    ]
    shown = scores.assign(shown=text)
    return shown.pivot(index="arch", columns="task", values="shown").reset_index()


def learned_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Arch rows x task columns of "k of n": models that learned the task in distribution, of
    those that record whether they did."""
    if scores.empty:
        return pd.DataFrame()
    counts = [f"{k} of {n}" for k, n in zip(scores["n_learned"], scores["n_known"], strict=True)]
    return (
        scores.assign(shown=counts)
        .pivot(index="arch", columns="task", values="shown")
        .reset_index()
    )

"""t* over seeds, with censoring handled: one plain function the report and figures call.

Group probe rows by (label, task, task_options, threshold_name, lr) first: option variants, task
variants and learning rates are different measurements, never pooled into one median.

Within a group, seeds that did not learn (or failed) give no t*; they are counted, not
averaged in. A censored seed is only known to exceed its reached length, so it sorts above
every finite t*: once half or more of the measured seeds are censored the median is "> L"
(L: the smallest reached length among the censored ones), else it is the middle finite value.
The interval is taken over seeds when there are several (their t* spread, censored ones
unbounded above), and from the one seed's bootstrap over streams when there is one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

GROUP_KEYS = ("label", "task", "task_options", "threshold_name", "lr")


@dataclass(frozen=True)
class TStarSummary:
    n_seeds: int  # rows in the group
    n_measured: int  # seeds with a t* or a censored bound
    n_censored: int
    n_not_learned: int
    median: float  # NaN when no seed was measured
    median_censored: bool  # True: the median is only known to exceed `median`
    lo: float
    hi: float  # NaN: unbounded above within what was measured

    def text(self) -> str:
        if self.n_measured == 0:
            return "not learned" if self.n_not_learned else "-"
        if self.median_censored:
            return f"> {self.median:.0f}"
        return f"{self.median:.0f}"


def summarize_t_star(rows: pd.DataFrame) -> TStarSummary:
    """Median t* and interval of one group of probe rows (one row per seed)."""
    status = rows["status"].astype(str)
    measured = rows[status.isin(["ok", "skipped"])]
    censored = measured["censored"].astype(bool).to_numpy()
    values = np.where(censored, np.inf, measured["t_star"].astype(float).to_numpy())
    n, n_cens = len(measured), int(censored.sum())
    not_learned = int((status == "not_learned").sum())
    if n == 0:
        return TStarSummary(len(rows), 0, 0, not_learned, math.nan, False, math.nan, math.nan)
    bounds = measured["reached_len"].astype(float).to_numpy()
    if 2 * n_cens >= n:
        median, median_censored = float(bounds[censored].min()), True
    else:
        median, median_censored = float(np.sort(values)[(n - 1) // 2]), False
        if n % 2 == 0 and np.isfinite(np.sort(values)[n // 2]):
            median = float(np.sort(values)[n // 2 - 1 : n // 2 + 1].mean())
    if n == 1:
        lo = float(measured["t_star_lo"].astype(float).iloc[0])
        hi = float(measured["t_star_hi"].astype(float).iloc[0])
    else:
        finite = values[np.isfinite(values)]
        lo = float(np.quantile(finite, 0.025)) if finite.size else float(bounds.min())
        hi = float(np.quantile(values, 0.975)) if not n_cens else math.nan
    return TStarSummary(len(rows), n, n_cens, not_learned, median, median_censored, lo, hi)


def summarize_probes(probes: pd.DataFrame) -> pd.DataFrame:
    """One row per group (GROUP_KEYS present in `probes`) with its TStarSummary fields."""
    keys = [k for k in GROUP_KEYS if k in probes]
    out = []
    for group, rows in probes.groupby(keys, sort=False, dropna=False):
        s = summarize_t_star(rows)
        out.append({**dict(zip(keys, group, strict=True)), **s.__dict__, "text": s.text()})
    return pd.DataFrame(out)

"""Probe rows at one threshold, and which of them measured a t* or only bound it (censored)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from statebench.bench.analysis.scores import prepare
from statebench.bench.store.schema import NOT_FAILED

PROBE_NUMERIC = (
    "t_star",
    "t_star_lo",
    "t_star_hi",
    "max_len",
    "reached_len",
    "train_len_max",
    "threshold",
    "seed",
)


def prepare_probes(probes: pd.DataFrame, threshold_name: str | None = None) -> pd.DataFrame:
    """Probe rows at one threshold, NA-safe; default threshold "half" when present."""
    rows = prepare(probes)
    for col in PROBE_NUMERIC:
        values = pd.to_numeric(probes[col], errors="coerce") if col in probes else np.nan
        rows[col] = pd.Series(values, index=rows.index).to_numpy(dtype=float, na_value=np.nan)
    censored = probes["censored"] if "censored" in probes else pd.Series(False, index=rows.index)
    rows["censored"] = censored.astype("boolean").fillna(False).to_numpy(bool)
    names = rows["threshold_name"].astype(str) if "threshold_name" in probes else None
    if names is not None and not rows.empty:
        chosen = threshold_name or ("half" if (names == "half").any() else names.iloc[0])
        rows = rows[names == chosen]
        rows.attrs["threshold_name"] = chosen
    return rows


def probe_outcomes(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Masks (measured, censored) over prepared probe rows; rows in neither failed.

    measured: status ok with a finite t*. censored: no drop seen up to reached_len, so t* is
    only a lower bound; that holds for status ok (the whole grid was probed) and for status
    skipped (a budget stopped the probe early, `stopped_by` says which).
    """
    status = rows["status"].to_numpy()
    flagged = rows["censored"].to_numpy(bool) & np.isin(status, NOT_FAILED)
    reached = rows["reached_len"].to_numpy()
    bound = np.where(reached > 0, reached, rows["max_len"].to_numpy())  # NaN-safe: NaN > 0 is False
    censored = flagged & (bound > 0)
    measured = (status == "ok") & ~flagged & np.isfinite(rows["t_star"].to_numpy())
    return measured, censored


PROBE_CONFIG = ("lr", "d_model", "n_layers")


def split_configs(rows: pd.DataFrame) -> pd.DataFrame:
    """Prepared probe rows with an arch's varying settings in its label (`lstm (lr 0.001)`,
    `transformer (n_layers 2, d_model 64)`) when its rows hold several configurations: an lr
    or depth/width sweep gives one t* per configuration, never one median over them."""
    cols = [c for c in PROBE_CONFIG if c in rows]
    if rows.empty or not cols:
        return rows
    labels = rows["arch"].astype(str).copy()
    for arch, group in rows.groupby("arch", sort=False):
        varying = [c for c in cols if group[c].nunique(dropna=False) > 1]
        for i, row in group.iterrows() if varying else ():
            labels[i] = f"{arch} ({', '.join(f'{c} {row[c]:g}' for c in varying)})"
    return rows.assign(arch=labels)

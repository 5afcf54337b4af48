"""The critical-time estimator: pure functions from binned hit counts to t* and its interval.

Nothing here knows about models or torch. The input is what a streaming evaluation leaves
behind: for every eval sequence s and position bin b, `correct[s, b]` (tokens right) and
`scored[s, b]` (tokens scored), with integer bin `edges` (1-based positions; bin b holds
positions edges[b] .. edges[b+1]-1). Keeping the per-sequence split is what makes the bootstrap
possible: sequences are the independent units, tokens of one sequence are not.

Definitions (the contract of every t* in the store):

- Bin accuracy: correct tokens over scored tokens, pooled across sequences.
- "Smoothed" = persistent: a bin is *below* when its accuracy is < the threshold, and the drop
  counts only when `persist` consecutive measured bins are below (bins with nothing scored are
  left out, neither breaking nor extending a run). With geometric bins, 8 per octave, the
  default persist=3 asks the drop to hold over ~30% of the length: a single noisy early bin
  (few tokens) cannot fake a collapse, while a real collapse (which is permanent for state
  tracking: once the state is lost it is not regained) is found at the bin where it starts.
- t* = the first position of the first bin of that run. Its resolution is one bin (~9% at 8
  bins per octave); the true crossing lies in [start of the bin before, end of that bin], since
  the bin before may be above the threshold on average while the drop already began inside it.
- Interval: resample sequences with replacement (`n_boot` times), recompute the pooled curve and
  the run, and take the `level` percentile interval of the lower bracket (start of the bin
  before the drop) and the upper bracket (last position of the drop bin). So the interval holds
  both the sampling error and the bin resolution; it is never narrower than the grid can tell.
- Censoring: no qualifying run up to `reached_len` gives censored=True, t* = NaN, lo =
  reached_len (t* is only known to exceed it), hi = NaN. A finite t* whose resamples are censored
  more often than the upper tail allows also gets hi = NaN: unbounded within what was measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HALF = "half"


@dataclass(frozen=True)
class CriticalTime:
    """t* at one threshold; `bin` is the index of the drop bin (-1 when censored)."""

    t_star: float
    lo: float
    hi: float
    censored: bool
    bin: int


def geometric_edges(max_len: int, per_octave: int = 8) -> np.ndarray:
    """Integer bin edges 1 = e_0 < e_1 < ... < e_n = max_len + 1, about `per_octave` per doubling.

    Early bins, where the geometric spacing is finer than one token, are single positions; a
    last bin under half its neighbour's width is merged into it.
    """
    if max_len < 1 or per_octave < 1:
        raise ValueError(f"need max_len >= 1 and per_octave >= 1, got {max_len}, {per_octave}")
    n = math.ceil(per_octave * math.log2(max_len + 1)) + 1
    raw = np.round(np.exp2(np.arange(n) / per_octave)).astype(np.int64)
    edges = np.unique(np.clip(raw, 1, max_len + 1))
    if edges[-1] != max_len + 1:
        edges = np.append(edges, max_len + 1)
    if len(edges) > 2 and 2 * (edges[-1] - edges[-2]) < edges[-2] - edges[-3]:
        edges = np.delete(edges, -2)  # no sliver at the end: merge it into the bin before
    return edges


def threshold_value(spec: str | float, chance: float, ceiling: float = 1.0) -> float:
    """ "half" is halfway between chance and `ceiling` (the model's own in-distribution
    accuracy, so a model at 0.9 inside training has dropped when it is halfway to chance);
    a number is taken as is."""
    if spec == HALF:
        return chance + (ceiling - chance) / 2.0
    value = float(spec)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"threshold {spec!r} must be 'half' or a number in (0, 1]")
    return value


def threshold_name(spec: str | float) -> str:
    return HALF if spec == HALF else f"{float(spec):g}"


def merge_bins(
    correct: np.ndarray, scored: np.ndarray, edges: np.ndarray, min_tokens: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge bins from the start until each holds >= `min_tokens` scored tokens (pooled over
    sequences), so no early bin of a few tokens can fake a drop; a short remainder at the end
    joins the bin before it. Bins with nothing scored (past the reached length) stay as they are.
    """
    correct, scored = np.asarray(correct), np.asarray(scored)
    totals = scored.sum(axis=0)
    groups: list[list[int]] = []
    current: list[int] = []
    for b in range(len(totals)):
        if totals[b] == 0 and not current:
            groups.append([b])
            continue
        current.append(b)
        if totals[current].sum() >= min_tokens:
            groups.append(current)
            current = []
    if current:
        last_measured = [g for g in groups if totals[g].sum() > 0]
        if last_measured and totals[current].sum() < min_tokens:
            last_measured[-1].extend(current)
            groups.sort(key=lambda g: g[0])
        else:
            groups.append(current)
    new_edges = [int(edges[g[0]]) for g in groups] + [int(edges[-1])]
    c = np.stack([correct[:, g].sum(axis=1) for g in groups], axis=1)
    n = np.stack([scored[:, g].sum(axis=1) for g in groups], axis=1)
    return c, n, np.asarray(new_edges, dtype=np.int64)


def pooled_accuracy(correct: np.ndarray, scored: np.ndarray) -> np.ndarray:
    """Accuracy per bin over all sequences (NaN where nothing was scored)."""
    c = np.asarray(correct, dtype=np.float64).sum(axis=0)
    n = np.asarray(scored, dtype=np.float64).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, c / np.maximum(n, 1), np.nan)


def first_drop(accuracy: np.ndarray, threshold: float, persist: int) -> np.ndarray:
    """Index of the first bin starting `persist` consecutive bins below `threshold`, per row.

    `accuracy` is [n_bins] or [R, n_bins] over measured bins only (no NaN); -1 where no run.
    """
    acc = np.atleast_2d(accuracy)
    below = (acc < threshold).astype(np.int64)
    n_bins = below.shape[1]
    if n_bins < persist:
        out = np.full(acc.shape[0], -1, dtype=np.int64)
    else:
        run = np.cumsum(np.pad(below, ((0, 0), (1, 0))), axis=1)
        full = (run[:, persist:] - run[:, :-persist]) == persist  # [R, n_bins - persist + 1]
        out = np.where(full.any(axis=1), full.argmax(axis=1), -1)
    return out if np.ndim(accuracy) == 2 else out[:1]


def _bootstrap_interval(
    correct, scored, starts, ends, threshold, persist, n_boot, level, seed
) -> tuple[float, float]:
    """Quantiles of where the drop falls over sequence resamples: the last position before it
    (lower) and the end of its first bin (upper); inf where a resample shows no drop."""
    rng = np.random.default_rng(seed)
    n_seq = correct.shape[0]
    weights = rng.multinomial(n_seq, np.full(n_seq, 1.0 / n_seq), size=n_boot).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot_acc = (weights @ correct) / (weights @ scored)
    # A bin is empty in a resample only when the sequences scored there were all left
    # out; it then counts as not below (no evidence of a drop).
    boot_acc = np.where(np.isfinite(boot_acc), boot_acc, np.inf)
    drops = first_drop(boot_acc, threshold, persist)
    found = drops >= 0
    lower = np.full(n_boot, np.inf)
    upper = np.full(n_boot, np.inf)
    before = np.maximum(drops[found] - 1, 0)
    lower[found] = starts[before]
    upper[found] = ends[drops[found]]
    alpha = (1.0 - level) / 2.0
    lo = float(np.quantile(lower, alpha, method="lower"))
    hi = float(np.quantile(upper, 1.0 - alpha, method="higher"))
    return lo, hi


def critical_time(
    correct: np.ndarray,
    scored: np.ndarray,
    edges: np.ndarray,
    threshold: float,
    *,
    reached_len: int | None = None,
    persist: int = 3,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> CriticalTime:
    """t* with its bootstrap interval from per-sequence bin counts [n_seq, n_bins] (see module)."""
    correct = np.asarray(correct, dtype=np.float64)
    scored = np.asarray(scored, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.int64)
    if correct.shape != scored.shape or correct.ndim != 2 or len(edges) != correct.shape[1] + 1:
        raise ValueError(
            f"need correct, scored [n_seq, n_bins] and n_bins + 1 edges; got {correct.shape}, "
            f"{scored.shape} and {len(edges)} edges"
        )
    if reached_len is None:
        reached_len = int(edges[-1] - 1)
    measured = scored.sum(axis=0) > 0
    starts = edges[:-1][measured]
    ends = edges[1:][measured] - 1  # last position of each measured bin
    correct, scored = correct[:, measured], scored[:, measured]
    if starts.size == 0:
        return CriticalTime(math.nan, float(reached_len), math.nan, True, -1)

    b = int(first_drop(pooled_accuracy(correct, scored), threshold, persist)[0])
    if b < 0:
        return CriticalTime(math.nan, float(reached_len), math.nan, True, -1)
    t_star = float(starts[b])

    lo, hi = math.nan, math.nan
    if n_boot > 0:
        lo, hi = _bootstrap_interval(
            correct, scored, starts, ends, threshold, persist, n_boot, level, seed
        )
        lo = min(lo, t_star)  # an inf lower quantile (almost no resample drops) -> t*
        hi = max(hi, t_star) if math.isfinite(hi) else math.nan
    return CriticalTime(t_star, lo, hi, False, int(np.flatnonzero(measured)[b]))

"""From a cell's streamed counts to its t* rows: what a probe row may claim.

- In-distribution accuracy is measured on the same streams, at positions <= train_len_max.
  Below `probe.learned_accuracy` the row is `not_learned` and carries no t*: a model that failed
  inside its training range has no horizon to report.
- Threshold "half" is halfway between chance and the model's own in-distribution accuracy.
- Early bins are merged until each holds `probe.min_bin_tokens` scored tokens.
- A t* at or inside the training range is flagged (`t_star_in_training`): the drop is not a
  length-generalisation horizon but a failure the training lengths already show.
- Non-finite logits anywhere make the row `diverged`, with the first such position in `error`.
"""

from __future__ import annotations

import math

from statebench.bench.config.probe import ProbeConfig
from statebench.bench.probe.estimator import (
    critical_time,
    merge_bins,
    threshold_name,
    threshold_value,
)
from statebench.bench.probe.streaming import StreamCounts
from statebench.bench.run.matrix import derive_seed


def _threshold_row(
    row: dict, probe: ProbeConfig, key: str, counts, binned, train_len_max: int
) -> dict:
    """One threshold's row: diverged, not learned, or its t* (skipped if stopped early)."""
    id_acc = row["id_accuracy"]
    if counts.stopped_by == "non_finite":
        return {**row, "status": "diverged"}
    if not id_acc >= probe.learned_accuracy:  # NaN (nothing inside training) too
        why = (
            f"in-distribution accuracy {id_acc:.3f} (positions <= {train_len_max}) is "
            f"below probe.learned_accuracy={probe.learned_accuracy:g}: no t*"
        )
        return {**row, "status": "not_learned", "error": why}
    ct = critical_time(
        *binned,
        row["threshold"],
        reached_len=counts.reached_len,
        persist=probe.persist,
        n_boot=probe.bootstrap,
        level=probe.level,
        seed=derive_seed("bootstrap", key, row["threshold_name"]),
    )
    # Stopped early with no drop seen: the rest of the grid is skipped, not silent.
    skipped = ct.censored and counts.reached_len < probe.max_len
    return {
        **row,
        "t_star": ct.t_star,
        "t_star_lo": ct.lo,
        "t_star_hi": ct.hi,
        "censored": ct.censored,
        "t_star_in_training": bool(not ct.censored and ct.t_star <= train_len_max),
        "status": "skipped" if skipped else "ok",
    }


def probe_rows(
    base: dict,
    probe: ProbeConfig,
    key: str,
    counts: StreamCounts,
    chance: float,
    train_len_max: int,
) -> list[dict]:
    """One t* row per threshold of `probe`, honest about what the counts can support."""
    id_acc = counts.id_accuracy
    binned = merge_bins(counts.correct, counts.scored, counts.edges, probe.min_bin_tokens)
    rows = []
    for spec in probe.thresholds:
        ceiling = id_acc if math.isfinite(id_acc) else 1.0
        row = {
            **base,
            "reached_len": counts.reached_len,
            "threshold": threshold_value(spec, chance, ceiling),
            "threshold_name": threshold_name(spec),
            "id_accuracy": id_acc,
            "t_star": math.nan,
            "t_star_lo": math.nan,
            "t_star_hi": math.nan,
            "censored": False,
            "t_star_in_training": False,
            "stopped_by": counts.stopped_by,
            "probe_seconds": counts.seconds,
            "error": counts.message,
        }
        rows.append(_threshold_row(row, probe, key, counts, binned, train_len_max))
    return rows

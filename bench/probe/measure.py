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

from statebench.bench.matrix import derive_seed
from statebench.bench.probe.config import ProbeConfig
from statebench.bench.probe.estimator import (
    critical_time,
    merge_bins,
    threshold_name,
    threshold_value,
)
from statebench.bench.probe.streaming import StreamCounts


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
    correct, scored, edges = merge_bins(
        counts.correct, counts.scored, counts.edges, probe.min_bin_tokens
    )
    rows = []
    for spec in probe.thresholds:
        name = threshold_name(spec)
        ceiling = id_acc if math.isfinite(id_acc) else 1.0
        level = threshold_value(spec, chance, ceiling)
        row = {
            **base,
            "reached_len": counts.reached_len,
            "threshold": level,
            "threshold_name": name,
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
        if counts.stopped_by == "non_finite":
            rows.append({**row, "status": "diverged"})
            continue
        if not id_acc >= probe.learned_accuracy:  # NaN (nothing inside training) too
            why = (
                f"in-distribution accuracy {id_acc:.3f} (positions <= {train_len_max}) is "
                f"below probe.learned_accuracy={probe.learned_accuracy:g}: no t*"
            )
            rows.append({**row, "status": "not_learned", "error": why})
            continue
        ct = critical_time(
            correct,
            scored,
            edges,
            level,
            reached_len=counts.reached_len,
            persist=probe.persist,
            n_boot=probe.bootstrap,
            level=probe.level,
            seed=derive_seed("bootstrap", key, name),
        )
        # Stopped early with no drop seen: the rest of the grid is skipped, not silent.
        skipped = ct.censored and counts.reached_len < probe.max_len
        row.update(
            t_star=ct.t_star,
            t_star_lo=ct.lo,
            t_star_hi=ct.hi,
            censored=ct.censored,
            t_star_in_training=bool(not ct.censored and ct.t_star <= train_len_max),
            status="skipped" if skipped else "ok",
        )
        rows.append(row)
    return rows

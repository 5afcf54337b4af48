"""The conjecture verdict per task, on constructed probe rows: one case per verdict and the
learned-seed rule that decides which models count."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from statebench.bench.analysis.grouping import RECURRENCE_COMPLETE, TIME_PARALLEL
from statebench.bench.analysis.verdict import (
    CANNOT_TELL,
    CONTRADICTS,
    SUPPORTS,
    conjecture_verdicts,
)
from statebench.bench.report.blocks import report_blocks

MAX_LEN = 8192
TP_A = ("mamba", '{"eigen": "[-1,1]"}')  # (arch, options as stored)
TP_B = ("deltanet", '{"eigen": "[-1,1]"}')
RC_A = ("lstm", "")
RC_B = ("xlstm", '{"cell": "slstm"}')


def _row(arch, options, task, seed, outcome):
    """One probe row at the "half" threshold. outcome: a finite t*, "held" (censored at
    MAX_LEN) or "not_learned"."""
    row = {
        "run_id": "constructed",
        "cell": f"{arch}-{task}-{seed}",
        "arch": arch,
        "arch_options": options,
        "task": task,
        "task_options": "",
        "seed": seed,
        "lr": 1e-3,
        "d_model": 32,
        "n_layers": 2,
        "train_len_max": 64,
        "max_len": MAX_LEN,
        "reached_len": MAX_LEN,
        "threshold": 0.75,
        "threshold_name": "half",
        "t_star": math.nan,
        "t_star_lo": math.nan,
        "t_star_hi": math.nan,
        "censored": False,
        "stopped_by": "",
        "status": "ok",
        "error": None,
    }
    if outcome == "not_learned":
        row.update(status="not_learned", reached_len=0)
    elif outcome == "held":
        row.update(censored=True, t_star_lo=MAX_LEN)
    else:
        row.update(t_star=float(outcome), t_star_lo=0.8 * outcome, t_star_hi=1.2 * outcome)
    return row


def _probes(outcomes: dict, task: str = "parity") -> pd.DataFrame:
    """outcomes: (arch, options) -> one outcome per seed."""
    rows = [
        _row(arch, options, task, seed, outcome)
        for (arch, options), per_seed in outcomes.items()
        for seed, outcome in enumerate(per_seed)
    ]
    return pd.DataFrame(rows)


def _verdict(outcomes: dict) -> pd.Series:
    table = conjecture_verdicts(_probes(outcomes))
    assert len(table) == 1
    return table.iloc[0]


SUPPORTING = {
    TP_A: [150, 200, 250],
    TP_B: [90, "not_learned", 120],  # 2 of 3 seeds learned: it counts
    RC_A: ["held", "held", "held"],
    RC_B: ["held", "held", "not_learned"],
}


def test_learned_time_parallel_fail_and_learned_recurrent_hold_supports_it():
    row = _verdict(SUPPORTING)
    assert row["verdict"] == SUPPORTS
    assert "mamba(eigen=[-1,1]) 200 [" in row[TIME_PARALLEL] and "(3/3 seeds)" in row[TIME_PARALLEL]
    assert (
        "deltanet(eigen=[-1,1]) 105" in row[TIME_PARALLEL] and "(2/3 seeds)" in row[TIME_PARALLEL]
    )
    assert "lstm > 8192" in row[RECURRENCE_COMPLETE]


@pytest.mark.parametrize(
    ("change", "culprit"),
    [
        ({TP_A: ["held", 200, "held"]}, "mamba(eigen=[-1,1]) (time-parallel) holds"),
        ({RC_B: [300, 500, "held"]}, "(recurrence-complete) fails"),
    ],
)
def test_a_censored_time_parallel_or_a_failing_recurrent_model_contradicts_it(change, culprit):
    row = _verdict({**SUPPORTING, **change})
    assert row["verdict"] == CONTRADICTS
    assert culprit in row["why"]


def test_fewer_than_two_learned_models_on_a_side_cannot_tell():
    # the sLSTM learned one seed of three: it does not count, even though that seed "fails"
    row = _verdict({**SUPPORTING, RC_B: [300, "not_learned", "not_learned"]})
    assert row["verdict"] == CANNOT_TELL
    assert "1 learned recurrence-complete" in row["why"]
    row = _verdict({TP_A: [150, 200, 250], RC_A: ["held"] * 3, RC_B: ["held"] * 3})
    assert row["verdict"] == CANNOT_TELL
    assert "1 learned time-parallel" in row["why"]
    nobody = {arch: ["not_learned"] * 3 for arch in SUPPORTING}
    assert _verdict(nobody)["verdict"] == CANNOT_TELL


def test_each_task_gets_its_own_verdict_and_the_report_shows_them(synthetic_results_factory):
    probes = pd.concat(
        [
            _probes(SUPPORTING, "parity"),
            _probes({**SUPPORTING, TP_A: ["held"] * 3}, "jumps"),
        ],
        ignore_index=True,
    )
    verdicts = conjecture_verdicts(probes).set_index("task")["verdict"]
    assert verdicts.to_dict() == {"parity": SUPPORTS, "jumps": CONTRADICTS}
    results = synthetic_results_factory(archs=("lstm",), tasks=("parity",), seeds=(0,))
    manifest = {"run_id": "r", "cells": [], "labels": {}}
    blocks = report_blocks(results, probes, manifest)
    at = next(i for i, b in enumerate(blocks) if b.text == "Verdict per task")
    text = "\n".join(b.text for b in blocks[at:] if b.kind == "text")
    assert f"**parity**: {SUPPORTS}" in text and f"**jumps**: {CONTRADICTS}" in text

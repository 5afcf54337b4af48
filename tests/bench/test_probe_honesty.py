"""t* only for models that learned; t* of a model known to fail at K lands at K."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import statebench.tasks as tasks
from oracles import ParityUpTo
from statebench.bench.analysis.tstar import summarize_t_star
from statebench.bench.config.probe import ProbeConfig
from statebench.bench.probe.estimator import geometric_edges, merge_bins
from statebench.bench.probe.measure import probe_rows
from statebench.bench.probe.stream import ChunkStream
from statebench.bench.probe.streaming import stream_counts

PROBE = ProbeConfig(max_len=2048, samples=32, chunk=512, bootstrap=200, thresholds=["half"])


def _rows(model, train_len_max: int):
    task = tasks.get_task("parity")
    stream = ChunkStream(task, PROBE.samples, PROBE.chunk, seed=3)
    edges = geometric_edges(PROBE.max_len, PROBE.bins_per_octave)
    counts = stream_counts(model, stream, PROBE.max_len, edges, id_len=train_len_max)
    return probe_rows({}, PROBE, "k", counts, task.chance, train_len_max)


def test_right_up_to_k_beyond_training_gives_t_star_at_k_with_an_interval_holding_it():
    k, train_len_max = 300, 64
    (row,) = _rows(ParityUpTo(k), train_len_max)
    assert row["status"] == "ok" and row["id_accuracy"] == 1.0 and not row["censored"]
    assert row["threshold"] == pytest.approx(0.75)  # halfway between chance and id accuracy
    edges = geometric_edges(PROBE.max_len, PROBE.bins_per_octave)
    b = np.searchsorted(edges, k, side="right") - 1
    assert edges[max(b - 1, 0)] <= row["t_star"] <= edges[b + 1]  # within one bin of K
    assert row["t_star_lo"] <= k <= row["t_star_hi"]
    assert not row["t_star_in_training"]


def test_a_model_at_chance_inside_training_is_not_learned_and_has_no_t_star():
    (row,) = _rows(ParityUpTo(2), train_len_max=64)
    assert row["status"] == "not_learned" and math.isnan(row["t_star"])
    assert "below probe.learned_accuracy" in row["error"]


def test_a_drop_inside_training_is_flagged():
    probe = PROBE.model_copy(update={"learned_accuracy": 0.5})
    task = tasks.get_task("parity")
    stream = ChunkStream(task, probe.samples, probe.chunk, seed=3)
    edges = geometric_edges(probe.max_len, probe.bins_per_octave)
    counts = stream_counts(ParityUpTo(40), stream, probe.max_len, edges, id_len=64)
    (row,) = probe_rows({}, probe, "k", counts, task.chance, 64)
    assert row["status"] == "ok" and row["t_star"] <= 64 and row["t_star_in_training"]


def test_non_finite_logits_make_the_probe_row_diverged():
    (row,) = _rows(ParityUpTo(5000, nan_from=700), train_len_max=64)
    assert row["status"] == "diverged" and "position 701" in row["error"]
    assert math.isnan(row["t_star"])


def test_early_bins_merge_until_they_hold_enough_tokens():
    edges = geometric_edges(1024, 8)
    scored = np.ones((4, len(edges) - 1), dtype=np.int64) * np.diff(edges)
    c, n, e = merge_bins(scored, scored, edges, 64)
    assert (n.sum(axis=0) >= 64).all() and e[0] == 1 and e[-1] == edges[-1]
    assert n.sum() == scored.sum() and len(e) == n.shape[1] + 1


def _probe_df(t_stars, censored, reached=8192):
    return pd.DataFrame(
        {
            "status": ["ok"] * len(t_stars) + ["not_learned"],
            "t_star": [*t_stars, math.nan],
            "t_star_lo": [*t_stars, math.nan],
            "t_star_hi": [*t_stars, math.nan],
            "censored": [*censored, False],
            "reached_len": [reached] * (len(t_stars) + 1),
        }
    )


def test_median_over_seeds_is_censored_once_half_the_seeds_are():
    s = summarize_t_star(_probe_df([5, math.nan, math.nan], [False, True, True]))
    assert s.median_censored and s.text() == "> 8192" and s.n_not_learned == 1
    s = summarize_t_star(_probe_df([5, 7, math.nan, math.nan], [False, False, True, True]))
    assert s.median_censored and s.text() == "> 8192"  # exactly half censored
    s = summarize_t_star(_probe_df([5, 7, math.nan], [False, False, True]))
    assert not s.median_censored and s.median == 7 and math.isnan(s.hi)
    s = summarize_t_star(_probe_df([], []))
    assert s.text() == "not learned"


def test_probe_of_a_model_trained_20_steps_through_the_cli_is_not_learned(tmp_path):
    from statebench.bench import store
    from statebench.bench.cli import app
    from typer.testing import CliRunner

    args = ["probe", "--preset", "smoke", "--arch", "lstm", "--task", "parity",
            "--set", "train.steps=20", "--set", "probe.bootstrap=50", "--max-len", "256",
            "--out", str(tmp_path / "run")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    probes = store.load_probes(tmp_path / "run")
    assert len(probes) and set(probes["status"]) == {"not_learned"}
    assert probes["t_star"].isna().all()
    assert "not_learned" in result.output
    # what tables group by: the display label, the task's options and the learning rate
    assert set(probes["label"]) == {"lstm"} and set(probes["lr"]) == {3e-3}
    assert set(probes["task_options"]) == {"{}"} and set(probes["task"]) == {"parity"}


def test_a_cell_its_run_calls_not_learned_gets_no_t_star_whatever_the_probe_sees(tmp_path):
    """One verdict for the leaderboard and the t* table: with the probe's own bar at 0.01
    every stream would pass it, but training never reached its validation target."""
    from statebench.bench import store
    from statebench.bench.cli import app
    from typer.testing import CliRunner

    args = ["probe", "--preset", "smoke", "--arch", "lstm", "--task", "parity",
            "--set", "train.steps=20", "--set", "probe.learned_accuracy=0.01",
            "--max-len", "256", "--out", str(tmp_path / "run")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = store.load(tmp_path / "run")
    assert not rows["learned"].astype(bool).any()
    probes = store.load_probes(tmp_path / "run")
    assert set(probes["status"]) == {"not_learned"} and probes["t_star"].isna().all()
    assert probes["error"].str.contains("train.target_accuracy=0.99 was not held").all()
    assert store.load_curves(tmp_path / "run").empty  # not streamed at all


def test_probe_rows_carry_task_options_and_the_arch_label(tmp_path):
    from statebench.bench import store
    from statebench.bench.cli import app
    from typer.testing import CliRunner

    args = ["probe", "--preset", "smoke",
            "--set", "tasks=[{name='permutation', options={group='S3'}}]",
            "--set", "archs=[{name='mamba', options={eigen='[-1,1]'}, lr=1e-2}]",
            "--set", "train.steps=2", "--set", "probe.bootstrap=10", "--max-len", "64",
            "--out", str(tmp_path / "run")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (row,) = (
        store.load_probes(tmp_path / "run").query("threshold_name == 'half'").to_dict("records")
    )
    assert row["label"] == "mamba(eigen=[-1,1])" and row["lr"] == 1e-2
    assert json.loads(row["task_options"])["group"] == "S3"


def test_merged_early_bins_give_no_spurious_drop_for_a_model_at_a_constant_095():
    """16 streams: a bin of one early position holds 16 tokens, and 2 errors in 16 read as a
    drop below 0.9; merged to probe.min_bin_tokens, a steady 0.95 model keeps no t*."""
    from statebench.bench.probe.estimator import critical_time
    from test_probe_estimator import bin_counts

    edges = geometric_edges(2048, 8)
    rng = np.random.default_rng(0)
    spurious = {1: 0, PROBE.min_bin_tokens: 0}
    for _ in range(100):
        correct, scored = bin_counts((rng.random((16, 2048)) < 0.95).astype(float), edges)
        for min_tokens in spurious:
            c, n, e = merge_bins(correct, scored, edges, min_tokens)
            spurious[min_tokens] += not critical_time(c, n, e, 0.9, n_boot=0).censored
    assert spurious[1] > 0, "unmerged bins should show the problem this guards against"
    assert spurious[PROBE.min_bin_tokens] == 0

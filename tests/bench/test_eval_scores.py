"""What evaluate measures: in- vs out-of-distribution scores, non-finite logits, CPU draws."""

from __future__ import annotations

import math

import pytest
import statebench.tasks as tasks
import torch
from oracles import ParityUpTo
from statebench.bench.config import EvalConfig
from statebench.bench.run.evaluate import evaluate, evaluate_length

CPU = torch.device("cpu")
EVAL = EvalConfig(lengths=[32, 64, 128], samples=64, seed=3, batch_size=64)


def _rows(model, train_len_max=32, task="parity", **options):
    t = tasks.get_task(task, **options)
    return evaluate(model, t, EVAL, task, options, CPU, train_len_max)


def test_right_up_to_train_len_max_scores_zero_beyond_it():
    for row in _rows(ParityUpTo(32), train_len_max=32):
        assert row["id_accuracy"] == 1.0
        if row["eval_len"] > 32:
            assert abs(row["ood_scaled_accuracy"]) < 0.1, row
            assert row["scaled_accuracy"] > 0.1  # what pooling all positions used to report
        else:
            assert math.isnan(row["ood_accuracy"])


def test_right_beyond_training_scores_the_part_beyond():
    row = _rows(ParityUpTo(96), train_len_max=32)[2]  # length 128: right to 96 of 128
    assert row["eval_len"] == 128
    assert row["ood_scaled_accuracy"] == pytest.approx((96 - 32) / (128 - 32), abs=0.05)


def test_non_finite_logits_make_the_length_diverged_with_the_first_position():
    rows = _rows(ParityUpTo(1000, nan_from=40))
    by_len = {r["eval_len"]: r for r in rows}
    assert by_len[32].get("status", "ok") == "ok" and by_len[32]["accuracy"] == 1.0
    for length in (64, 128):
        row = by_len[length]
        assert row["status"] == "diverged"
        assert "position 40" in row["error"]
        assert all(math.isnan(row[k]) for k in ("accuracy", "ood_scaled_accuracy", "loss"))


def test_unmakeable_eval_lengths_map_to_the_nearest_valid_length_below():
    t = tasks.get_task("modular_arithmetic")  # odd lengths only
    cfg = EVAL.model_copy(update={"lengths": [32, 64, 65]})
    model = ParityUpTo(0)
    model.forward = lambda x: torch.zeros(*x.shape, t.num_classes)  # noqa: ARG005
    rows = evaluate(model, t, cfg, "modular_arithmetic", {}, CPU, 31)
    assert [r["eval_len"] for r in rows] == [31, 63, 65]


def test_query_readout_counts_the_answer_by_the_inputs_it_read():
    """A query answer after L inputs is in-distribution when L <= train_len_max."""
    t = tasks.get_task("parity", readout="query")
    model = ParityUpTo(0)
    model.forward = lambda x: torch.zeros(*x.shape, 2)  # noqa: ARG005
    inside = evaluate_length(model, t, 32, 16, 0, 16, 1 << 16, CPU, train_len_max=32)
    beyond = evaluate_length(model, t, 33, 16, 0, 16, 1 << 16, CPU, train_len_max=32)
    assert not math.isnan(inside["id_accuracy"]) and math.isnan(inside["ood_accuracy"])
    assert math.isnan(beyond["id_accuracy"]) and not math.isnan(beyond["ood_accuracy"])


def test_a_mixer_that_blows_up_beyond_position_20_is_diverged_through_the_harness(
    tmp_path, monkeypatch
):
    from pathlib import Path

    from statebench.bench import store
    from statebench.bench.config import load_config, validate
    from statebench.bench.run.runner import run_matrix

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "fixtures"))
    cfg = load_config(
        preset="smoke",
        overrides=["train.steps=4", "train.len_max=16", "eval.samples=8",
                   "eval.lengths=[16, 32, 64]", "tasks=['parity']"],
    )  # fmt: skip
    cfg = validate({**cfg.model_dump(mode="json"), "archs": ["bench_archs:BlowUpBeyondMixer"]})
    # past the door on purpose: the conformance check refuses non-finite logits up front
    run_dir = run_matrix(cfg, tmp_path / "run", skip_conformance=True)
    df = store.load(run_dir).set_index("eval_len")
    assert df.loc[16, "status"] == "ok" and not math.isnan(df.loc[16, "accuracy"])
    for length in (32, 64):
        assert df.loc[length, "status"] == "diverged"
        assert "first at position 20" in df.loc[length, "error"]
        assert math.isnan(df.loc[length, "accuracy"])

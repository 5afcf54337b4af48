"""The pre-training forward check: a faulty adapter is an `error` row naming the check."""

from __future__ import annotations

from pathlib import Path

import torch
from statebench.bench import store
from statebench.bench.config import load_config, validate
from statebench.bench.run.forward_check import ForwardCheckFailed, check_forward
from statebench.bench.run.runner import run_matrix
from statebench.models import build_model
from statebench.tasks import get_task

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY = ["train.steps=4", "eval.samples=4", "eval.lengths=[8]", "tasks=['parity']"]


def test_a_mixer_returning_one_position_is_an_error_naming_causality(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    cfg = load_config(preset="smoke", overrides=TINY)
    cfg = validate(
        {**cfg.model_dump(mode="json"), "archs": ["bench_archs:WholeSequenceMixer", "lstm"]}
    )
    # past the conformance door (which refuses it first): the run-time check still names it
    df = store.load(run_matrix(cfg, tmp_path / "run", skip_conformance=True))
    bad = df[df["arch"] == "bench_archs:WholeSequenceMixer"]
    assert set(bad["status"]) == {"error"}
    assert bad["error"].str.contains("forward check \\(causality\\)").all()
    assert bad["train_steps"].isna().all(), "it must fail before training"
    assert set(df.loc[df["arch"] == "lstm", "status"]) == {"ok"}


def test_a_causal_model_passes_and_a_wrong_shape_is_named():
    task = get_task("parity")
    model = build_model("lstm", task.vocab_size, task.num_classes, 16, 1, seed=0)
    check_forward(model, task, torch.device("cpu"))

    class Wide(torch.nn.Module):
        training = False

        def forward(self, x):
            return torch.zeros(*x.shape, task.num_classes + 1)

    try:
        check_forward(Wide(), task, torch.device("cpu"))
    except ForwardCheckFailed as e:
        assert "forward check (shape)" in str(e)
    else:
        raise AssertionError("a wrong output shape passed the check")

"""`statebench eval`: stored checkpoints measured at new lengths, no training; load_model."""

from __future__ import annotations

import math
import shutil

import pytest
import statebench
import torch
from statebench.bench import store
from statebench.bench.cli import app
from statebench.bench.config import load_config
from statebench.bench.run.cell import build_cell_model
from statebench.bench.run.matrix import expand
from statebench.bench.run.runner import run_matrix
from statebench.tasks import get_task
from typer.testing import CliRunner

TINY = ["train.steps=8", "train.log_every=4", "eval.samples=8", "eval.lengths=[4, 8]"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    cfg = load_config(preset="smoke", overrides=TINY)
    return run_matrix(cfg, tmp_path_factory.mktemp("eval") / "run")


def test_eval_adds_a_length_with_zero_training_steps(finished, monkeypatch):
    import statebench.bench.run.cell as cell_module

    def no_training(*a, **k):
        raise AssertionError("re-evaluation trained a model")

    monkeypatch.setattr(cell_module, "train_model", no_training)
    before = store.load(finished)
    logs_before = store.load_training_log(finished)
    result = CliRunner().invoke(app, ["eval", str(finished), "--lengths", "12,8"])
    assert result.exit_code == 0, result.output
    after = store.load(finished)
    assert not after.duplicated(["cell", "eval_len"]).any()
    assert sorted(after["eval_len"].unique()) == [4, 8, 12]
    assert after.groupby("cell").size().eq(3).all()
    new = after[after["eval_len"] == 12]
    assert (new["status"] == "ok").all() and new["accuracy"].notna().all()
    old4 = before[before["eval_len"] == 4].set_index("cell")["accuracy"]
    assert after[after["eval_len"] == 4].set_index("cell")["accuracy"].equals(old4)
    # the same seed and samples at a length measured again give the same number
    old8 = before[before["eval_len"] == 8].set_index("cell")["accuracy"].sort_index()
    assert after[after["eval_len"] == 8].set_index("cell")["accuracy"].sort_index().equals(old8)
    train_cols = ["cell", "train_steps", "final_train_loss"]
    assert (
        new[train_cols]
        .sort_values("cell")
        .reset_index(drop=True)
        .equals(
            before[before["eval_len"] == 4][train_cols].sort_values("cell").reset_index(drop=True)
        )
    )
    assert store.load_training_log(finished).equals(logs_before)
    assert store.read_manifest(finished)["evaluations"][-1]["lengths"] == [8, 12]


def test_load_model_round_trips_a_checkpoint_to_identical_logits(tmp_path):
    cell = expand(load_config(preset="smoke"))[0]
    task = get_task(cell.task, **cell.task_options)
    model = build_cell_model(cell, task)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))  # not the init: the weights must come from disk
    store.save_checkpoint(tmp_path, cell.key, model.state_dict(), cell.to_dict())
    loaded = statebench.load_model(tmp_path, cell.key)
    batch = task.sample(3, 10, torch.Generator().manual_seed(0))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(batch.inputs), loaded(batch.inputs))


def test_load_model_of_a_trained_run_reproduces_its_stored_accuracy(finished):
    from statebench.bench.run.evaluate import evaluate
    from statebench.bench.run.reevaluate import stored_cell

    key = store.manifest_cells(store.read_manifest(finished))[0]
    cell = stored_cell(finished, key)
    model = statebench.load_model(finished, cell)
    task = get_task(cell.task, **cell.task_options)
    cpu = torch.device("cpu")
    (row,) = evaluate(model, task, cell.eval.model_copy(update={"lengths": [4]}), cell.task,
                      cell.task_options, cpu, cell.train.len_max)  # fmt: skip
    stored = store.load(finished)
    want = stored[(stored["cell"] == key) & (stored["eval_len"] == 4)]["accuracy"].item()
    assert math.isclose(row["accuracy"], want)


def test_eval_of_a_directory_without_a_run_is_refused(tmp_path):
    result = CliRunner().invoke(app, ["eval", str(tmp_path), "--lengths", "8"])
    assert result.exit_code == 2 and "holds no run" in result.output


def test_eval_with_more_samples_replaces_a_lengths_rows(finished, tmp_path):
    run_dir = shutil.copytree(finished, tmp_path / "run")
    before = store.load(run_dir)
    result = CliRunner().invoke(app, ["eval", str(run_dir), "--lengths", "8", "--samples", "16"])
    assert result.exit_code == 0, result.output
    after = store.load(run_dir)
    assert len(after) == len(before) and not after.duplicated(["cell", "eval_len"]).any()
    assert set(after[after["eval_len"] == 8]["n_eval"]) == {16}
    assert set(after[after["eval_len"] == 4]["n_eval"]) == set(
        before[before["eval_len"] == 4]["n_eval"]
    )

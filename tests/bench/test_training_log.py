"""Per-cell training logs: written by the process that trains the cell, under every executor."""

import os

import pydantic
import pytest
from statebench.bench import store
from statebench.bench.config import TrainConfig, load_config
from statebench.bench.plots import make_figure, output
from statebench.bench.report import load_run, report
from statebench.bench.run.matrix import expand
from statebench.bench.run.runner import run_matrix

TINY = ["train.steps=8", "train.log_every=2", "eval.samples=8", "eval.lengths=[4, 8]"]


def test_pool_run_leaves_a_training_log_for_every_cell_and_the_report_draws_it(
    tmp_path, monkeypatch
):
    cfg = load_config(preset="smoke", overrides=[*TINY, "executor.kind=pool", "executor.workers=2"])
    run_dir = run_matrix(cfg, tmp_path / "run")
    logs = store.load_training_log(run_dir)
    cells = store.manifest_cells(store.read_manifest(run_dir))
    assert sorted(logs["cell"].unique()) == sorted(cells)
    for _, rows in logs.groupby("cell"):
        assert rows["step"].tolist() == [2, 4, 6, 8]
        assert (rows["tokens"].diff().dropna() > 0).all() and (rows["lr"] > 0).all()
        assert rows[["loss", "accuracy", "seconds"]].notna().all().all()
    workers = set(logs["worker"].astype(str))
    assert all(not w.endswith(f":{os.getpid()}") for w in workers), "trained in the driver"

    monkeypatch.setattr(output, "DPI", 40)
    page = report(run_dir)
    assert "figures/learning.png" in page.read_text()
    assert (page.parent / "figures" / "learning.png").stat().st_size > 0
    tables = load_run(run_dir)
    fig = make_figure("learning", tables.results, logs=tables.logs)
    solid = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_linestyle() == "-"]
    assert len(solid) == 2 * len(cells)  # each cell: loss vs step and loss vs wall time


def test_cells_carry_frozen_typed_settings_with_the_models_defaults():
    cell = expand(load_config(preset="smoke"))[0]
    assert cell.train.optimizer == TrainConfig.model_fields["optimizer"].default  # not in smoke
    assert cell.train.log_every == 10  # smoke's own value
    assert cell.train.lr == [cell.lr]
    with pytest.raises(pydantic.ValidationError):
        cell.train.steps = 3
    assert type(cell).from_dict(cell.to_dict()) == cell


def test_eval_settings_are_not_part_of_a_cells_identity():
    a = expand(load_config(preset="smoke"))
    b = expand(load_config(preset="smoke", overrides=["eval.lengths=[7, 9]", "eval.samples=3"]))
    assert [c.key for c in a] == [c.key for c in b]

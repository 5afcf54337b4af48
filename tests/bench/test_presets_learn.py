"""quick and quick-probe compare at matched size, Griffin with attention, per-arch lrs, and
train to competence (a validation target, not a training-batch average)."""

from __future__ import annotations

import pytest
import statebench.tasks as tasks
from statebench.bench.config import load_config
from statebench.bench.run.cell import build_cell_model
from statebench.bench.run.matrix import expand


@pytest.mark.parametrize("preset", ["quick", "quick-probe"])
def test_preset_is_parameter_matched_within_ten_percent(preset):
    cfg = load_config(preset=preset)
    budget = cfg.model.param_budget
    assert budget and cfg.train.early_stop_accuracy is None and cfg.train.target_accuracy >= 0.99
    seen = set()
    for cell in expand(cfg):
        if (cell.arch, str(cell.arch_options), cell.task) in seen or cell.task != "parity":
            continue
        seen.add((cell.arch, str(cell.arch_options), cell.task))
        model = build_cell_model(cell, tasks.get_task(cell.task, **cell.task_options))
        assert abs(model.num_params() - budget) <= 0.1 * budget, (cell.label, model.num_params())
        if cell.arch == "griffin":  # Griffin, not Hawk: one of its blocks is local attention
            assert any(b.mixer.kind == "attention" for b in model.blocks)
    lrs = {a.name: a.lr for a in cfg.archs}
    assert lrs["lstm"] != lrs["transformer"]  # per-architecture learning rates

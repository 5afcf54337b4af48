"""The conjecture preset: probes no window of recent inputs answers, both groups of models,
three seeds, matched sizes."""

from __future__ import annotations

import pytest
import statebench.tasks as tasks
import torch
from statebench.bench.analysis.grouping import RECURRENCE_COMPLETE, TIME_PARALLEL, arch_group
from statebench.bench.config import load_config
from statebench.bench.run.cell import build_cell_model
from statebench.bench.run.matrix import expand
from statebench.tasks.automaton import identifying_windows, synchronizing_lengths
from statebench.tasks.testing import check_task

CONFIG = load_config(preset="conjecture")
STREAMS = 64


@pytest.mark.parametrize("spec", CONFIG.tasks, ids=lambda s: f"{s.name}{s.options}")
def test_no_window_shorter_than_the_probe_answers_a_conjecture_task(spec):
    """Over many streams as long as the probe's: the state never re-synchronises (it still
    depends on where the stream started) and the whole stream, let alone a shorter window of
    it, never determines the target. So a model with any window shorter than the probe cannot
    answer the task: holding it to the end takes tracking the state."""
    assert CONFIG.probe.max_len >= 8192
    task = tasks.get_task(spec.name, **spec.options)
    machine = task.state_machine()
    assert machine is not None and machine.target_of is not None
    tokens = task.sample(STREAMS, CONFIG.probe.max_len, torch.Generator().manual_seed(7)).inputs
    assert (synchronizing_lengths(machine.table, tokens) == -1).all()
    start = torch.zeros(machine.table.shape[0], dtype=torch.bool)
    start[machine.starts] = True
    windows = identifying_windows(machine.table, tokens, start, machine.target_of)
    assert (windows == -1).all()
    check_task(spec.name, **spec.options)


def test_the_preset_probes_parity_a_maze_and_jumps_with_both_groups_at_one_size():
    assert {t.name for t in CONFIG.tasks} == {"parity", "maze", "jumps"}
    assert len(CONFIG.seeds) == 3
    groups = [arch_group(a.name, a.options) for a in CONFIG.archs]
    assert groups.count(TIME_PARALLEL) >= 2 and groups.count(RECURRENCE_COMPLETE) >= 2
    budget = CONFIG.model.param_budget
    seen = set()
    for cell in expand(CONFIG):  # one task per arch: the tasks' vocabularies differ by 2 tokens
        key = (cell.arch, str(cell.arch_options))
        if key in seen:
            continue
        seen.add(key)
        model = build_cell_model(cell, tasks.get_task(cell.task, **cell.task_options))
        assert abs(model.num_params() - budget) <= 0.1 * budget, (cell.label, model.num_params())

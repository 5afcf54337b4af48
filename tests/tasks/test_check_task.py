"""The public conformance suite (`check_task`) passes on every built-in task configuration, as
a third party would run it, with every check and the chance the task declares."""

from __future__ import annotations

import pytest
import statebench.tasks as tasks
from statebench.tasks.testing import LONGEST, check_task
from task_cases import CONFIGS, config_id

ALL_CHECKS = [
    "build", "attributes", "sample", "reference", "determinism", "lengths", "readouts", "chance"
]  # fmt: skip


@pytest.mark.parametrize(("name", "options"), CONFIGS, ids=[config_id(*c) for c in CONFIGS])
def test_builtin_task_passes_check_task(name, options):
    report = check_task(name, **options)
    assert report["checks"] == ALL_CHECKS
    task = tasks.get_task(name, **options)
    assert report["chance"] == task.chance_at(report["chance_length"])
    assert report["lengths"][-1] >= LONGEST  # sample = reference up to the presets' longest


def test_check_task_reaches_the_longest_eval_length_of_every_preset():
    from statebench.bench.config import list_presets, load_config

    longest = max(max(load_config(preset=p).eval.lengths) for p in list_presets())
    assert LONGEST >= longest

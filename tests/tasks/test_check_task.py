"""The public conformance suite (`check_task`) passes on every built-in task configuration, as
a third party would run it, with every check and the chance the task declares."""

from __future__ import annotations

import pytest
import statebench.tasks as tasks
from statebench.tasks.testing import check_task
from task_cases import CONFIGS, config_id

ALL_CHECKS = [
    "build", "attributes", "sample", "reference", "determinism", "lengths", "readouts", "chance"
]  # fmt: skip


@pytest.mark.parametrize(("name", "options"), CONFIGS, ids=[config_id(*c) for c in CONFIGS])
def test_builtin_task_passes_check_task(name, options):
    report = check_task(name, **options)
    assert report["checks"] == ALL_CHECKS
    assert report["chance"] == tasks.get_task(name, **options).chance_at(report["lengths"][-1])

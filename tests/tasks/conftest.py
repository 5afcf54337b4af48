"""The `task` fixture: every task configuration of task_cases, under both readouts."""

from __future__ import annotations

import pytest
import statebench.tasks as tasks
from task_cases import CONFIGS, READOUTS, build, config_id


@pytest.fixture(
    params=[(n, o, r) for n, o in CONFIGS for r in READOUTS],
    ids=[f"{config_id(n, o)}-{r}" for n, o in CONFIGS for r in READOUTS],
)
def task(request) -> tasks.Task:
    name, options, readout = request.param
    return build(name, options, readout)

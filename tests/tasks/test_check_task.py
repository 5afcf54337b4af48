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


class _DriftsAfter40(tasks.Task):
    """Agrees with its reference on short draws; past 40 tokens `sample` stops counting."""

    description = "prefix sum mod 3 that drifts from its spec after 40 tokens"
    vocab_size = 3
    num_classes = 3

    def _sample(self, batch_size, length, generator, device):
        import torch

        x = torch.randint(0, 3, (batch_size, length), generator=generator, device=device)
        y = torch.cumsum(x, dim=1) % 3
        y[:, 40:] = 0
        return tasks.Batch(x, y, torch.ones_like(x, dtype=torch.bool))

    def _reference(self, tokens):
        out, total = [], 0
        for t in tokens:
            total = (total + t) % 3
            out.append(total)
        return out


def test_extra_lengths_hold_sample_to_its_reference_where_a_run_draws():
    from statebench.tasks.testing import TaskConformanceError

    assert check_task(_DriftsAfter40, longest=32)["checks"] == ALL_CHECKS  # short draws only
    with pytest.raises(TaskConformanceError, match="reference check failed: length 100"):
        check_task(_DriftsAfter40, longest=32, extra_lengths=(100,))

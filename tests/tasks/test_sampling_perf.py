"""Sampling speed: a million tokens of any task must take well under a second on a CPU.

Skipped by default: pyproject's addopts carry --benchmark-skip, which --benchmark-enable alone
does not undo. Run them with `pytest tests/tasks/test_sampling_perf.py --benchmark-only -q`
(what `nox -s perf` does). Each case runs on one thread (stable on a shared machine) and on
torch's default thread count.
"""

from __future__ import annotations

import pytest
import statebench.tasks as tasks
import torch
from task_cases import valid_lengths

CASES = [(name, {}) for name in tasks.list_tasks()] + [
    ("majority", {"m": 5}),
    ("permutation", {"group": "A5"}),
]
BATCH, LENGTH = 1024, 1024  # ~1M tokens


@pytest.fixture(params=[1, None], ids=["1thread", "threads"])
def threads(request):
    before = torch.get_num_threads()
    if request.param is not None:
        torch.set_num_threads(request.param)
    yield torch.get_num_threads()
    torch.set_num_threads(before)


@pytest.mark.perf
@pytest.mark.parametrize(
    "name,options", CASES, ids=[n + "".join(f"-{v}" for v in o.values()) for n, o in CASES]
)
def test_sample_a_million_tokens(benchmark, threads, name, options):
    task = tasks.get_task(name, **options)
    length = valid_lengths(task, [LENGTH - 1, LENGTH])[-1]
    generator = torch.Generator().manual_seed(0)
    batch = benchmark(task.sample, BATCH, length, generator)
    tokens = BATCH * length
    benchmark.extra_info.update(tokens=tokens, threads=threads)
    benchmark.extra_info["tokens_per_second"] = tokens / benchmark.stats["mean"]
    assert batch.inputs.numel() == tokens
    assert benchmark.stats["median"] < 1.0

"""What the harness costs on top of training itself: `bench.run.train.train_model` against a bare
loop over the same model, batches and optimizer, and the share of a step spent drawing data.

The setting is the quick preset's (d_model 64, 2 layers, batch 32, lengths 1..32, early stop
on, so the harness reads the loss every step): small models are where fixed per-step costs show.
Goals: harness within 10% of the bare loop; data generation under 5% of a training step.
The figures are CPU-time minima in `extra_info` (a row's own stats: one wall-clock call).
"""

from __future__ import annotations

import copy
import random

import pytest
import statebench.models as models
import statebench.tasks as tasks
import torch
from perfkit import interleaved
from statebench.bench.config import load_config
from statebench.bench.run.train import nearest_valid_length, train_model
from torch.nn import functional as F

pytestmark = pytest.mark.perf

STEPS, ROUNDS, DATA_SEED, LR = 40, 4, 7, 3e-3


def _setup(arch: str):
    config = load_config(preset="quick")
    train = config.train.model_copy(update={"steps": STEPS})
    task = tasks.get_task("parity")
    d, layers = config.model.d_model, config.model.n_layers
    template = models.build_model(arch, task.vocab_size, task.num_classes, d, layers, seed=0)
    return train, task, template


def _lengths(train, task, steps: int) -> list[int]:
    """The harness's length schedule, replayed (same RNG, same rounding to valid lengths)."""
    rng = random.Random(DATA_SEED)
    raws = [rng.randint(train.len_min, train.len_max) for _ in range(steps)]
    return [nearest_valid_length(task, r) for r in raws]


def _harness(train, task, template):
    def run() -> int:
        model = copy.deepcopy(template)
        return train_model(model, task, train, LR, DATA_SEED, torch.device("cpu")).steps

    return run


def _bare(train, task, template, lengths):
    """The minimal loop: sample, forward, loss on scored positions, backward, AdamW step."""

    def run() -> None:
        model = copy.deepcopy(template).train()
        opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=train.weight_decay)
        gen = torch.Generator().manual_seed(DATA_SEED)
        for length in lengths:
            batch = task.sample(train.batch_size, length, gen)
            logits = model(batch.inputs)[batch.mask]
            loss = F.cross_entropy(logits.float(), batch.targets[batch.mask])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return run


def _sampling(train, task, lengths):
    def run() -> None:
        gen = torch.Generator().manual_seed(DATA_SEED)
        for length in lengths:
            task.sample(train.batch_size, length, gen)

    return run


@pytest.mark.parametrize("arch", ["lstm", "transformer"])
def test_harness_vs_bare_loop(benchmark, arch):
    train, task, template = _setup(arch)
    harness = _harness(train, task, template)
    steps = harness()  # early stopping may end it sooner: the bare loop runs as many steps
    bare = _bare(train, task, template, _lengths(train, task, steps))
    best = interleaved({"harness": harness, "bare": bare}, rounds=ROUNDS, warmup=0)
    benchmark.pedantic(harness, rounds=1, iterations=1)
    ratio = best["harness"] / best["bare"]
    benchmark.extra_info.update(
        family="harness",
        arch=arch,
        steps=steps,
        harness_steps_per_s=steps / best["harness"],
        bare_steps_per_s=steps / best["bare"],
        ratio=ratio,
    )
    assert ratio <= 1.10, best


def test_data_generation_share(benchmark):
    train, task, template = _setup("lstm")  # the fastest step: the largest share
    harness = _harness(train, task, template)
    steps = harness()
    sampling = _sampling(train, task, _lengths(train, task, steps))
    best = interleaved({"harness": harness, "sampling": sampling}, rounds=ROUNDS, warmup=0)
    benchmark.pedantic(sampling, rounds=1, iterations=1)
    share = best["sampling"] / best["harness"]
    benchmark.extra_info.update(
        family="harness",
        arch="lstm",
        task="parity",
        steps=steps,
        sample_ms_per_step=1e3 * best["sampling"] / steps,
        step_ms=1e3 * best["harness"] / steps,
        share=share,
    )
    assert share <= 0.05, best

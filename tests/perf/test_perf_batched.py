"""Several seeds of one small cell trained as one batched model (torch.func: stacked weights,
`functional_call` under `vmap`) against the same seeds trained one after another.

Why it is only measured here, not shipped in bench/: on this CPU it does not win. The small
cells are compute-bound (step time grows with tokens), so batching saves only the per-op and
per-tensor overhead, and the harness draws a length per seed per step, so a batched step pads
every seed to the longest of them (~1.5x the tokens for 4 seeds, lengths 1..32). Both settings
are recorded: `per_seed_lengths` (what reproduces the harness) and `shared_lengths` (the best
case). LSTM (aten::lstm has no batching rule) and the scan-based archs (their autograd.Functions
lack vmap support) cannot be vmapped at all; `vmap_support` says which archs can. On CUDA, where
small steps are launch-bound, the same test measures what batching would buy there.
"""

from __future__ import annotations

import copy
import random

import pytest
import statebench.models as models
import statebench.tasks as tasks
import torch
from perfkit import device_clock, interleaved
from statebench.bench.run.train import nearest_valid_length
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional as F

pytestmark = [pytest.mark.perf, pytest.mark.filterwarnings("ignore:There is a performance drop")]

SEEDS, BATCH, STEPS, D_MODEL, LR = 4, 32, 15, 64, 3e-3  # the quick preset's cell
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _schedules(task, shared: bool) -> list[list[int]]:
    """Per seed, the lengths of its steps: drawn as the harness does (1..32), from one stream
    for all seeds when `shared`."""
    out = []
    for seed in range(SEEDS):
        rng = random.Random(0 if shared else seed)
        out.append([nearest_valid_length(task, rng.randint(1, 32)) for _ in range(STEPS)])
    return out


def _sequential(templates, task, schedules):
    def run() -> None:
        for seed, template in enumerate(templates):
            model = copy.deepcopy(template)
            opt = torch.optim.AdamW(model.parameters(), lr=LR)
            gen = torch.Generator().manual_seed(seed)
            for length in schedules[seed]:
                b = task.sample(BATCH, length, gen, device=DEVICE)
                loss = F.cross_entropy(model(b.inputs)[b.mask].float(), b.targets[b.mask])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

    return run


def _vmapped(template):
    """forward(stacked params, stacked buffers, tokens [S, B, T]) -> logits [S, B, T, C]."""
    base = copy.deepcopy(template).to("meta")
    return vmap(lambda p, b, x: functional_call(base, (p, b), (x,)))


def _pad_stack(batches) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs, targets, mask [S, B, longest]: each seed's batch padded at the end, unscored."""
    longest = max(b.inputs.shape[1] for b in batches)
    pad = [longest - b.inputs.shape[1] for b in batches]
    return tuple(
        torch.stack([F.pad(getattr(b, f), (0, n)) for b, n in zip(batches, pad, strict=True)])
        for f in ("inputs", "targets", "mask")
    )


def _batched(templates, task, schedules):
    """One step for all seeds: pad each seed's batch to the longest (causal models: the padding
    changes no scored output), sum the per-seed mean losses (so each seed gets its own gradient),
    AdamW on the stacked weights (elementwise, so per seed exactly as alone)."""
    forward = _vmapped(templates[0])

    def run() -> None:
        params, buffers = stack_module_state([copy.deepcopy(t) for t in templates])
        opt = torch.optim.AdamW(params.values(), lr=LR)
        gens = [torch.Generator().manual_seed(s) for s in range(SEEDS)]
        for step in range(STEPS):
            draws = zip(schedules, gens, strict=True)
            inputs, targets, mask = _pad_stack(
                [task.sample(BATCH, sch[step], g, device=DEVICE) for sch, g in draws]
            )
            logits = forward(params, buffers, inputs).float()
            ce = F.cross_entropy(logits.flatten(0, 2), targets.flatten(), reduction="none")
            loss = (ce.view_as(mask) * mask).sum((1, 2)) / mask.sum((1, 2))
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()

    return run


def _vmap_support(task) -> dict[str, str]:
    """Per arch: "ok", or why vmap cannot batch its seeds (a tiny forward + backward)."""
    out = {}
    x = torch.zeros(2, 1, 8, dtype=torch.long)
    for arch in models.list_archs():
        v, c = task.vocab_size, task.num_classes
        built = [models.build_model(arch, v, c, 16, 1, seed=s) for s in (0, 1)]
        params, buffers = stack_module_state(built)
        try:
            _vmapped(built[0])(params, buffers, x).sum().backward()
            out[arch] = "ok"
        except Exception as e:  # noqa: BLE001 - the reason is the result
            out[arch] = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
    return out


@pytest.mark.parametrize("lengths", ["per_seed_lengths", "shared_lengths"])
def test_batched_seeds_vs_sequential(benchmark, lengths):
    task = tasks.get_task("parity")
    templates = [
        models.build_model("transformer", task.vocab_size, task.num_classes, D_MODEL, 2, seed=s)
        for s in range(SEEDS)
    ]
    templates = [t.to(DEVICE) for t in templates]
    schedules = _schedules(task, shared=lengths == "shared_lengths")
    sequential = _sequential(templates, task, schedules)
    batched = _batched(templates, task, schedules)
    best = interleaved(
        {"sequential": sequential, "batched": batched}, rounds=3, clock=device_clock(DEVICE)
    )
    benchmark.pedantic(batched, rounds=1, iterations=1)
    tokens = sum(map(sum, schedules)) * BATCH
    padded = sum(max(s[i] for s in schedules) for i in range(STEPS)) * BATCH * SEEDS
    benchmark.extra_info.update(
        family="batched",
        arch="transformer",
        device=DEVICE.type,
        seeds=SEEDS,
        lengths=lengths,
        sequential_steps_per_s=SEEDS * STEPS / best["sequential"],
        batched_steps_per_s=SEEDS * STEPS / best["batched"],
        padded_token_ratio=padded / tokens,
        speedup=best["sequential"] / best["batched"],
    )
    if lengths == "per_seed_lengths":
        benchmark.extra_info["vmap_support"] = _vmap_support(task)

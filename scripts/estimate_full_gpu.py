"""How long `full` takes on one GPU, with and without batched cells: an estimate, not a timing.

    python scripts/estimate_full_gpu.py measure [ARCH ...] > counts.jsonl  # ~15 min, 1 thread
    python scripts/estimate_full_gpu.py model counts.jsonl       # the table in docs/gpu.md

`measure` runs one training step of every `full` arch (d_model 128, 4 layers, batch 128, length
33: the mean of len 1..64) on the CPU with the torch paths, and counts per step the aten ops
dispatched (views left out; each is about one CUDA kernel launch) and the FLOPs, for one cell
alone and for one vmap call of 3 members (bench.run.batched.StackedForward), with the optimizer
in the loop form the CPU uses and the multi-tensor (foreach) form CUDA uses.

`model` turns the counts into GPU time: a step costs max(ops x t_op, FLOPs / F), the launch and
dispatch cost of its ops or its arithmetic, whichever is longer (the CPU enqueues while the GPU
runs), for a grid of t_op (seconds per op) and F (achieved FLOP/s); every cell runs its whole
20,000-step budget (an upper bound: early stopping ends many sooner); validation is not counted.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

VIEWS = {
    "view", "_unsafe_view", "reshape", "expand", "as_strided", "t", "transpose", "permute",
    "unsqueeze", "squeeze", "select", "slice", "split", "chunk", "unbind", "detach", "alias",
    "split_with_sizes", "narrow", "movedim", "unflatten", "flatten", "lift_fresh",
    "_reshape_alias",
}  # fmt: skip
TASKS, SEEDS, LRS, STEPS = 13, 3, 3, 20_000  # the `full` preset
LENGTH, BATCH, MEMBERS = 33, 128, 3


def measure(only: list[str]) -> None:
    import torch
    from statebench.bench.config import load_config
    from statebench.bench.run.batched import StackedForward
    from statebench.bench.run.optim import make_optimizer
    from statebench.bench.run.train import masked_loss_and_accuracy
    from statebench.models import build_model
    from statebench.tasks import get_task
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import FlopCounterMode

    class Count(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.n += func.overloadpacket.__name__ not in VIEWS
            return func(*args, **(kwargs or {}))

    def counted(fn) -> int:
        with Count() as c:
            fn()
        return c.n

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    cfg = load_config(preset="full")
    task = get_task("parity")
    batch = task.sample(BATCH, LENGTH, torch.Generator().manual_seed(0))

    def one(spec) -> dict:
        label = spec.name + (json.dumps(dict(spec.options), sort_keys=True) if spec.options else "")
        models = [
            build_model(
                spec.name, task.vocab_size, task.num_classes, 128, 4, seed=s, **spec.options
            )  # fmt: skip
            for s in range(MEMBERS)
        ]
        opts = [make_optimizer(m, cfg.train, 1e-3)[0] for m in models]

        def optimize(members, optimizers, foreach=None):
            for m, o in zip(members, optimizers, strict=True):
                torch.nn.utils.clip_grad_norm_(list(m.parameters()), 1.0, foreach=foreach)
                o.step()

        def alone():
            loss, _ = masked_loss_and_accuracy(models[0](batch.inputs), batch)
            opts[0].zero_grad()
            loss.backward()
            optimize(models[:1], opts[:1])

        alone()
        times = []
        for _ in range(3):
            start = time.perf_counter()
            alone()
            times.append(time.perf_counter() - start)
        row = {"arch": label, "params": models[0].num_params(), "cpu_step_s": min(times)}
        row["ops_separate"] = counted(alone)
        row["ops_optimizer_1"] = counted(lambda: optimize(models[:1], opts[:1]))
        with FlopCounterMode(display=False) as flops:
            alone()
        row["flops_separate"] = flops.get_total_flops()  # aten::lstm is not counted
        try:
            forward = StackedForward(models)
            x = torch.stack([batch.inputs] * MEMBERS)

            def together():
                logits = forward(list(range(MEMBERS)), x)
                losses = [masked_loss_and_accuracy(lg, batch)[0] for lg in logits]
                for o in opts:
                    o.zero_grad()
                torch.stack(losses).sum().backward()
                optimize(models, opts)

            together()
            row["ops_batched_call_of_3"] = counted(together)
            row["ops_optimizer_3"] = counted(lambda: optimize(models, opts))
            # on CUDA, AdamW and clip_grad_norm_ take their multi-tensor (foreach) forms
            fopts = [torch.optim.AdamW(m.parameters(), lr=1e-3, foreach=True) for m in models]
            optimize(models, fopts, foreach=True)
            row["ops_optimizer_foreach_3"] = counted(lambda: optimize(models, fopts, True))
        except Exception as e:  # no batching rule: the group trains one member after another
            row["batched"] = f"{type(e).__name__}: {str(e)[:80]}"
        return row

    for spec in cfg.archs:
        if not only or spec.name in only:
            print(json.dumps(one(spec)), flush=True)


def gpu_days(rows: list[dict], t_op: float, flops_per_s: float, mode: str) -> float:
    """`full` in days: mode is separate, batched (3 vmap calls of 3 per step) or padded (1 of 9)."""
    total = 0.0
    for r in rows:
        foreach_1 = r.get("ops_optimizer_foreach_3", 0) / MEMBERS or r["ops_optimizer_1"]
        ops_alone = r["ops_separate"] - r["ops_optimizer_1"] + foreach_1
        alone = max(ops_alone * t_op, r["flops_separate"] / flops_per_s)
        if mode == "separate" or "ops_batched_call_of_3" not in r:
            total += TASKS * SEEDS * LRS * STEPS * alone
            continue
        forward_backward = r["ops_batched_call_of_3"] - r["ops_optimizer_3"]
        calls = 1 if mode == "padded" else SEEDS
        ops = calls * forward_backward + SEEDS * r["ops_optimizer_foreach_3"]
        group = max(ops * t_op, SEEDS * LRS * r["flops_separate"] / flops_per_s)
        total += TASKS * STEPS * group
    return total / 86_400


def model(path: str) -> None:
    rows = [json.loads(line) for line in open(path)]
    print("| t_op | F | separate | batched | padded |\n|---|---|---|---|---|")
    for t_op in (5e-6, 10e-6, 20e-6):
        for flops_per_s in (10e12, 30e12):
            modes = ("separate", "batched", "padded")
            days = {m: gpu_days(rows, t_op, flops_per_s, m) for m in modes}
            sep = days["separate"]
            print(f"| {t_op * 1e6:.0f} µs | {flops_per_s / 1e12:.0f} TFLOP/s | {sep:.1f} d | "
                  f"{days['batched']:.1f} d ({sep / days['batched']:.1f}x) | "
                  f"{days['padded']:.1f} d ({sep / days['padded']:.1f}x) |")  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["measure"]:
        measure(sys.argv[2:])
    elif sys.argv[1:2] == ["model"] and len(sys.argv) == 3:
        model(sys.argv[2])
    else:
        sys.exit("usage: estimate_full_gpu.py measure [ARCH ...] > counts.jsonl | model FILE")

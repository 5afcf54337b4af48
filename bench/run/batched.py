"""Cells of one arch x task that differ only in seed and learning rate, trained as one model.

A small cell (d_model 128, 4 layers) is launch-bound on a GPU: one cell at a time leaves the
card mostly idle. So the members of such a group run each forward and backward together: their
weights are stacked per parameter (`torch.stack` of each member's own tensor, every step) and
one `functional_call` of the architecture under `torch.func.vmap` computes every member's
logits. Everything else stays each member's own, through the same `TrainingRun` that trains a
cell alone (bench.run.train): its data and length streams, validation set, optimizer and
schedule (the stacked weights are views of the members' parameters, so the gradient of the
summed losses reaches each member as the gradient of its own loss), gradient clipping, log rows,
early-stop verdict, divergence, checkpoint and rows. A member that stops (target reached,
diverged) leaves the group; the others go on.

Equal to separate training: members of one seed share their length stream; members whose
lengths differ at a step run in separate vmap calls (`pad_lengths=False`, the default), so each
member's arithmetic is the single model's, op for op, and its rows equal separate training
(tests/bench/test_batched.py holds them equal on CPU). `pad_lengths=True` pads every member's
batch to the longest of the step (unscored, at the end: causal models never see it), so one call
covers all seeds; that changes which kernels and reduction orders run at the scored positions,
so results differ in rounding only.

Not every architecture can be vmapped (an autograd.Function without a vmap rule, aten::lstm, a
fused kernel without a batching rule): `vmap_refusal` tries one tiny forward and backward of the
real members first, and such a group trains one member after another, as without batching. So
does a group whose cells have wall-clock budgets (`train.time_budget_s`, `time_limit_s`): a
shared clock would change where they stop. Every row records `batched_cells`, how many cells
trained together (1: alone).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
from collections.abc import Callable, Iterator, Sequence

import torch
from statebench.bench.run.cell import CellAttempt, CellJob
from statebench.bench.run.matrix import Cell, cell_key
from statebench.bench.run.tracking import Tracker
from statebench.bench.run.train import (
    StepCallback,
    TrainingRun,
    TrainResult,
    masked_loss_and_accuracy,
    train_model,
)
from statebench.bench.store import RunDir
from statebench.bench.store.records import clear_started, mark_started
from statebench.bench.store.schema import cell_status
from statebench.tasks import Batch
from torch.func import functional_call, vmap
from torch.nn import functional as F

log = logging.getLogger(__name__)


def group_key(cell: Cell) -> str:
    """Cells with the same key differ only in seed and learning rate: they can train together."""
    content = {k: v for k, v in cell.content().items() if k not in ("seed", "lr")}
    return cell_key({"content": content, "eval": cell.eval.model_dump(mode="json")})


def batch_refusal(cell: Cell) -> str | None:
    """Why `cell` trains alone whatever its architecture (None: it may join a group)."""
    if cell.train.time_budget_s or cell.train.time_limit_s:
        return "a wall-clock budget (train.time_budget_s / time_limit_s) is per cell"
    return None


class StackedForward:
    """The members' forward as one call: each parameter and buffer stacked over the members
    (from their own tensors, so gradients flow back to each), the architecture run once under
    vmap on a meta-device copy that holds no weights."""

    def __init__(self, models: Sequence[torch.nn.Module]) -> None:
        self.models = list(models)
        self.base = copy.deepcopy(self.models[0]).to("meta").train()
        self.names = [n for n, _ in self.base.named_parameters()]
        self.buffer_names = [n for n, _ in self.base.named_buffers()]
        call = lambda p, b, x: functional_call(self.base, (p, b), (x,))  # noqa: E731
        self.call = vmap(call)

    def __call__(self, members: Sequence[int], inputs: torch.Tensor) -> torch.Tensor:
        """Logits [M, B, T, C] of `members` (indices into the models) on inputs [M, B, T]."""
        own = [self.models[i] for i in members]
        params = {n: torch.stack([m.get_parameter(n) for m in own]) for n in self.names}
        buffers = {n: torch.stack([m.get_buffer(n) for m in own]) for n in self.buffer_names}
        return self.call(params, buffers, inputs)


def vmap_refusal(models: Sequence[torch.nn.Module], task, device: torch.device) -> str | None:
    """Why these models cannot be batched (None: they can), from one tiny forward and backward
    of the first two under vmap; no parameter keeps a gradient from it."""
    tokens = torch.zeros(2, 1, max(2, task.min_length), dtype=torch.long, device=device)
    try:
        StackedForward(models[:2])([0, 1], tokens).float().sum().backward()
    except Exception as e:  # noqa: BLE001 - the reason is the answer
        return f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    finally:
        for model in models[:2]:
            model.zero_grad(set_to_none=True)
    return None


def _stack_batches(batches: Sequence[Batch]) -> tuple[torch.Tensor, list[Batch]]:
    """Inputs [M, B, T] and each member's batch padded to T at the end (unscored there)."""
    longest = max(b.inputs.shape[1] for b in batches)
    padded = []
    for b in batches:
        pad = longest - b.inputs.shape[1]
        grown = [F.pad(t, (0, pad)) for t in (b.inputs, b.targets, b.mask)]
        padded.append(b if pad == 0 else Batch(*grown))
    return torch.stack([b.inputs for b in padded]), padded


def _calls(live: list[int], batches: dict[int, Batch], pad: bool) -> list[list[int]]:
    """The vmap calls of one step: every member at once with `pad`, else one per length."""
    if pad:
        return [live]
    by_length: dict[int, list[int]] = {}
    for i in live:
        by_length.setdefault(batches[i].inputs.shape[1], []).append(i)
    return list(by_length.values())


def train_together(
    runs: Sequence[TrainingRun], pad_lengths: bool = False
) -> list[TrainResult | Exception]:
    """Train every run's model in step, each on its own data, optimizer and verdict; per run
    its TrainResult, or the exception (Diverged, ...) that ended it. An exception of the shared
    forward or backward (out of memory) ends every run still training."""
    forward = StackedForward([run.model for run in runs])
    outcome: list[TrainResult | Exception | None] = [None] * len(runs)
    last = [0] * len(runs)
    live = list(range(len(runs)))
    step = 0
    while live:  # a member's last step moves on while its hold still needs a check
        step += 1
        live = [i for i in live if step <= runs[i].end]
        if not live:
            break
        batches = {i: runs[i].draw() for i in live}
        losses: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        try:
            for members in _calls(live, batches, pad_lengths):
                inputs, padded = _stack_batches([batches[i] for i in members])
                logits = forward(members, inputs)
                for j, i in enumerate(members):
                    losses[i] = masked_loss_and_accuracy(logits[j], padded[j])
                    runs[i].optimizer.zero_grad(set_to_none=True)
                # each member's gradient is that of its own loss: d(sum)/d(loss_i) = 1
                torch.stack([losses[i][0] for i in members]).sum().backward()
        except Exception as e:  # noqa: BLE001 - ends every member still training
            for i in live:
                outcome[i] = e
            break
        still = []
        for i in live:
            run = runs[i]
            try:
                step_lr = run.apply_gradients(batches[i])
                last[i] = step
                if not run.after_update(step, *losses[i], step_lr):
                    still.append(i)
                    continue
            except Exception as e:  # noqa: BLE001 - Diverged and the like end this member only
                outcome[i] = e
                continue
            outcome[i] = run.finish(step)
        live = still
    for i, run in enumerate(runs):
        if outcome[i] is None:
            outcome[i] = run.finish(last[i])
    return outcome  # type: ignore[return-value]


def run_group(
    cells: Sequence[Cell],
    job: CellJob,
    on_step: StepCallback | None = None,
    on_logs: Sequence[Callable | None] | None = None,
    pad_lengths: bool = False,
) -> list[list[dict]]:
    """The rows of each of `cells` (one group_key), trained as one batched model when the
    architecture allows it, else one after another; a failing member is its rows."""
    on_logs = list(on_logs) if on_logs is not None else [None] * len(cells)
    attempts = [CellAttempt(c, job, log_to) for c, log_to in zip(cells, on_logs, strict=True)]
    rows: list[list[dict] | None] = [None] * len(cells)
    ready = []
    if attempts and attempts[0].device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(attempts[0].device)
    for i, attempt in enumerate(attempts):
        try:
            attempt.build()
            ready.append(i)
        except Exception as e:  # noqa: BLE001
            rows[i] = attempt.fail(e)
    models = [attempts[i].model for i in ready]
    why = "one cell" if len(ready) < 2 else None
    why = why or vmap_refusal(models, attempts[ready[0]].task, attempts[ready[0]].device)
    if why:
        log.info("%d cells train one after another: %s", len(ready), why)
        for n, i in enumerate(ready):
            rows[i] = _alone(attempts[i], on_step if n == 0 else None)
        return rows  # type: ignore[return-value]
    runs = []
    for n, i in enumerate(ready):
        a = attempts[i]
        settings = a.training()
        settings.pop("deadline")  # batched cells have no wall-clock limit (batch_refusal)
        runs.append(
            TrainingRun(
                a.model, a.task, device=a.device, on_step=on_step if n == 0 else None, **settings
            )
        )
    for i, outcome in zip(ready, train_together(runs, pad_lengths), strict=True):
        attempt = attempts[i]
        try:
            if isinstance(outcome, Exception):
                raise outcome
            rows[i] = attempt.trained(outcome, batched_cells=len(ready))
        except Exception as e:  # noqa: BLE001
            rows[i] = attempt.fail(e)
    return rows  # type: ignore[return-value]


def _alone(attempt: CellAttempt, on_step: StepCallback | None) -> list[dict]:
    try:
        result = train_model(
            attempt.model, attempt.task, device=attempt.device, on_step=on_step,
            **attempt.training(),
        )  # fmt: skip
        return attempt.trained(result)
    except Exception as e:  # noqa: BLE001
        return attempt.fail(e)


def execute_group(
    cells: Sequence[Cell],
    job: CellJob,
    on_step: StepCallback | None = None,
    pad_lengths: bool = False,
) -> Iterator[tuple[Cell, str]]:
    """Run `cells` as one group and store each one's rows atomically; yields (cell, status).
    With a `[tracking]` backend, each cell is its own tracker run, as when run alone."""
    run = RunDir(job.run_dir)
    for cell in cells:
        mark_started(job.run_dir, cell.key)
    try:
        with contextlib.ExitStack() as stack:
            trackers = [
                stack.enter_context(Tracker(job.tracking, c, job.run_id, job.run_dir))
                for c in cells
            ]
            all_rows = run_group(cells, job, on_step, [t.log for t in trackers], pad_lengths)
            statuses = []
            for cell, tracker, rows in zip(cells, trackers, all_rows, strict=True):
                run.write_cell(cell.key, rows)
                tracker.summary(rows)
                statuses.append(cell_status(r["status"] for r in rows))
    finally:
        for cell in cells:
            clear_started(job.run_dir, cell.key)
    yield from zip(cells, statuses, strict=True)


def describe(cells: Sequence[Cell]) -> str:
    """A group in one line, for logs: the shared arch and task, and the seeds and lrs."""
    first = cells[0]
    seeds = sorted({c.seed for c in cells})
    lrs = sorted({c.lr for c in cells})
    opts = json.dumps(first.arch_options, sort_keys=True)
    return f"{first.arch} {opts} / {first.task}: seeds {seeds} x lrs {lrs}"

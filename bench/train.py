"""One training loop for every architecture and task: masked cross-entropy, AdamW, warmup+cosine,
until a held-out in-distribution check reaches the target accuracy or the budget ends.

The check is a validation set drawn once, before training, from its own seed stream (never the
training stream, never the eval lengths' seeds) at the training lengths, or at the fixed
`train.val_lengths` when a study wants one held-out set across cells. Its accuracy decides
`learned`; a model that never reaches `target_accuracy` is not a model whose length
generalisation can be read. Every check is a row of the training log (val loss and accuracy
against steps, tokens and seconds), so held-out loss can be plotted against any of them.

Data are drawn on the CPU and moved to the model's device, so every device sees the same batches.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from statebench.bench.lengths import nearest_valid_length, training_range, valid_length_at_most
from statebench.bench.optim import lr_lambda, make_optimizer
from statebench.models import SequenceModel
from statebench.tasks import Batch, Task
from torch.nn import functional as F

if TYPE_CHECKING:
    from statebench.bench.config import TrainConfig

__all__ = ["lr_lambda", "nearest_valid_length", "train_model", "validation_set"]


class Diverged(RuntimeError):
    """Training loss (or the validation logits) became NaN or infinite."""


class CellTimeout(RuntimeError):
    """The cell ran past its time limit."""


@dataclass
class TrainResult:
    steps: int
    seconds: float
    tokens: int
    final_loss: float
    final_accuracy: float
    val_loss: float = math.nan
    val_accuracy: float = math.nan
    learned: bool = False
    steps_to_target: int | None = None  # first check at or above target_accuracy
    log: list[dict] = field(default_factory=list)  # one row per log or validation step

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("nan")


StepCallback = Callable[[int, int, float, float], None]  # (step, total, loss, accuracy)
# One training-log row every `log_every` steps and at every validation check
# (bench.schema.TRAINING_LOG_COLUMNS).
LogCallback = Callable[[dict[str, Any]], None]


def masked_loss_and_accuracy(
    logits: torch.Tensor, batch: Batch
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy and accuracy over scored positions only."""
    mask = batch.mask
    scored = logits[mask]
    targets = batch.targets[mask]
    loss = F.cross_entropy(scored.float(), targets)
    accuracy = (scored.argmax(-1) == targets).float().mean()
    return loss, accuracy


def default_val_lengths(task: Task, len_min: int, len_max: int, count: int = 8) -> list[int]:
    """Up to `count` lengths spread evenly over the training range, the longest included."""
    low, high = training_range(task, len_min, len_max)
    raw = {round(low + (high - low) * i / max(1, count - 1)) for i in range(count)}
    return sorted({nearest_valid_length(task, n) for n in raw})


@dataclass
class ValidationSet:
    """Fixed held-out batches; `check` gives pooled token loss and accuracy over them."""

    batches: list[Batch]
    lengths: list[int]

    @torch.no_grad()
    def check(self, model: SequenceModel) -> tuple[float, float]:
        was_training = model.training
        model.eval()
        loss_sum, right, scored = 0.0, 0, 0
        for batch in self.batches:
            logits = model(batch.inputs).float()
            if not torch.isfinite(logits).all():
                model.train(was_training)
                return math.nan, math.nan
            sel = logits[batch.mask]
            targets = batch.targets[batch.mask]
            loss_sum += float(F.cross_entropy(sel, targets, reduction="sum"))
            right += int((sel.argmax(-1) == targets).sum())
            scored += int(targets.numel())
        model.train(was_training)
        return loss_sum / max(1, scored), right / max(1, scored)


def validation_set(
    task: Task, train: TrainConfig, seed: int, device: torch.device
) -> ValidationSet:
    """`val_samples` sequences split over the validation lengths, drawn on the CPU from `seed`."""
    wanted = train.val_lengths
    if wanted:
        lengths = sorted({valid_length_at_most(task, n) or task.min_length for n in wanted})
    else:
        lengths = default_val_lengths(task, train.len_min, train.len_max)
    per_length = max(1, math.ceil(int(train.val_samples) / len(lengths)))
    generator = torch.Generator().manual_seed(seed)
    batches = [task.sample(per_length, n, generator, device=device) for n in lengths]
    return ValidationSet(batches, lengths)


def train_model(
    model: SequenceModel,
    task: Task,
    train: TrainConfig,
    lr: float,
    data_seed: int,
    device: torch.device,
    on_step: StepCallback | None = None,
    deadline: float | None = None,
    val_seed: int | None = None,
    on_log: LogCallback | None = None,
) -> TrainResult:
    """Train in place until the validation check reaches the target or the budget ends.

    Raises Diverged on a non-finite loss and CellTimeout past `deadline` (the hard limit);
    `train.time_budget_s` is the soft one: training stops, the model is still evaluated.
    """
    steps = int(train.steps)
    target = float(train.target_accuracy or 0.99)
    stop_at_target = bool(train.stop_at_target)
    val_every = int(train.val_every or 100)
    log_every = int(train.log_every or 50)
    budget = train.time_budget_s
    optimizer, scheduler = make_optimizer(model, train, lr)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    val = validation_set(task, train, data_seed + 1 if val_seed is None else val_seed, device)
    generator = torch.Generator().manual_seed(data_seed)  # CPU: the same data on every device
    lengths = random.Random(data_seed)  # the length schedule, independent of the data stream
    low, high = training_range(task, train.len_min, train.len_max)
    valid: dict[int, int] = {}
    ema_stop = train.early_stop_accuracy  # legacy: stop on the training-batch EMA
    result = TrainResult(0, 0.0, 0, math.nan, math.nan)
    ema_acc = 0.0
    model.train()
    start = time.perf_counter()

    def record(step: int, val_check: bool, step_lr: float | None = None) -> None:
        row = {
            "step": step,
            "tokens": result.tokens,
            "seconds": time.perf_counter() - start,
            "loss": result.final_loss,
            "accuracy": result.final_accuracy,
            "lr": optimizer.param_groups[0]["lr"] if step_lr is None else step_lr,
            "val_loss": math.nan,
            "val_accuracy": math.nan,
        }
        if val_check:
            result.val_loss, result.val_accuracy = val.check(model)
            if not math.isfinite(result.val_loss):
                raise Diverged(f"validation logits became non-finite at step {step}")
            row.update(val_loss=result.val_loss, val_accuracy=result.val_accuracy)
            if result.val_accuracy >= target and result.steps_to_target is None:
                result.steps_to_target = step
        result.log.append(row)
        if on_log is not None:
            on_log(row)

    step = 0
    for step in range(1, steps + 1):
        raw = lengths.randint(low, high)
        length = valid.get(raw) or valid.setdefault(raw, nearest_valid_length(task, raw))
        batch = task.sample(train.batch_size, length, generator, device=device)
        logits = model(batch.inputs)
        loss, acc = masked_loss_and_accuracy(logits, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if train.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, train.grad_clip)
        step_lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        result.tokens += batch.inputs.numel()
        out_of_time = budget is not None and time.perf_counter() - start >= budget
        val_check = step % val_every == 0 or step == steps or out_of_time
        if step % log_every == 0 or val_check or ema_stop:
            result.final_loss, result.final_accuracy = loss.item(), acc.item()
            if not math.isfinite(result.final_loss):
                raise Diverged(f"loss became {result.final_loss} at step {step}")
            ema_acc = acc.item() if step == 1 else 0.9 * ema_acc + 0.1 * acc.item()
            if on_step is not None:
                on_step(step, steps, result.final_loss, result.final_accuracy)
            stop_ema = bool(ema_stop) and step >= 20 and ema_acc >= ema_stop
            record(step, val_check or stop_ema, step_lr)
            reached = stop_at_target and result.steps_to_target is not None
            if reached or out_of_time or stop_ema:
                break
        if deadline is not None and time.monotonic() > deadline:
            raise CellTimeout(f"time limit reached at step {step} of {steps}")
    if steps == 0:
        record(0, True)
    result.steps = step
    result.seconds = time.perf_counter() - start
    result.learned = result.val_accuracy >= target
    return result

"""One training loop for every architecture and task: masked cross-entropy, AdamW, warmup+cosine."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from statebench.models import SequenceModel
from statebench.tasks import Batch, Task
from torch.nn import functional as F

if TYPE_CHECKING:
    from statebench.bench.config import TrainConfig


class Diverged(RuntimeError):
    """Training loss became NaN or infinite."""


class CellTimeout(RuntimeError):
    """The cell ran past its time limit."""


@dataclass
class TrainResult:
    steps: int
    seconds: float
    tokens: int
    final_loss: float
    final_accuracy: float

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("nan")


StepCallback = Callable[[int, int, float, float], None]  # (step, total, loss, accuracy)
# One training-log row every `log_every` steps (and at the last): step, tokens, seconds, loss,
# accuracy, lr (bench.schema.TRAINING_LOG_COLUMNS).
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


def nearest_valid_length(task: Task, length: int) -> int:
    """The closest length the task can make (e.g. flipflop wants even, modular_arithmetic odd)."""
    length = max(length, task.min_length)
    for candidate in (length, length + 1, length - 1, length + 2, length - 2):
        if candidate < 1:
            continue
        try:
            return task.check_length(candidate)
        except ValueError:
            continue
    return task.check_length(length)  # raises with the task's own message


def lr_lambda(step: int, warmup: int, total: int, schedule: str, min_ratio: float) -> float:
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant" or total <= warmup:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def train_model(
    model: SequenceModel,
    task: Task,
    train: TrainConfig,
    lr: float,
    data_seed: int,
    device: torch.device,
    on_step: StepCallback | None = None,
    deadline: float | None = None,
    on_log: LogCallback | None = None,
) -> TrainResult:
    """Train in place. Raises Diverged on a non-finite loss and CellTimeout past `deadline`."""
    steps = train.steps
    params = [p for p in model.parameters() if p.requires_grad]
    opt_cls = torch.optim.AdamW if train.optimizer == "adamw" else torch.optim.Adam
    wd = train.weight_decay if train.optimizer == "adamw" else 0.0
    optimizer = opt_cls(params, lr=lr, weight_decay=wd)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: lr_lambda(s, train.warmup_steps, steps, train.schedule, train.min_lr_ratio),
    )
    generator = torch.Generator(device=device).manual_seed(data_seed)
    lengths = random.Random(data_seed)  # the length schedule, independent of the data stream
    valid = {}
    target = train.early_stop_accuracy
    ema_acc, loss_value, acc_value, tokens = 0.0, float("nan"), float("nan"), 0
    model.train()
    start = time.perf_counter()
    step = 0
    for step in range(1, steps + 1):
        raw = lengths.randint(train.len_min, train.len_max)
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
        tokens += batch.inputs.numel()
        logged = step % train.log_every == 0 or step == steps
        if logged or target:
            loss_value, acc_value = loss.item(), acc.item()
            if not math.isfinite(loss_value):
                raise Diverged(f"loss became {loss_value} at step {step}")
            ema_acc = acc_value if step == 1 else 0.9 * ema_acc + 0.1 * acc_value
            if on_step is not None:
                on_step(step, steps, loss_value, acc_value)
            stop = bool(target and step >= 20 and ema_acc >= target)
            if on_log is not None and (logged or stop):
                row = {"step": step, "tokens": tokens, "seconds": time.perf_counter() - start}
                on_log({**row, "loss": loss_value, "accuracy": acc_value, "lr": step_lr})
            if stop:
                break
        if deadline is not None and time.monotonic() > deadline:
            raise CellTimeout(f"time limit reached at step {step} of {steps}")
    seconds = time.perf_counter() - start
    return TrainResult(step, seconds, tokens, loss_value, acc_value)

"""One training loop for every architecture and task: masked cross-entropy, AdamW, warmup+cosine,
until a held-out in-distribution check has held the target accuracy for `train.hold_checks`
consecutive checks, or the budget ends (bench.run.competence says what "held" means).

The check is a validation set drawn once, before training, from its own seed stream (never the
training stream, never the eval lengths' seeds) at the training lengths, or at the fixed
`train.val_lengths` when a study wants one held-out set across cells. Its accuracy decides
`learned` (the target held at the last `hold_checks` checks); a model that does not hold
`target_accuracy` is not a model whose length generalisation can be read. Every check is a row
of the training log (val loss and accuracy against steps, tokens and seconds), so held-out loss
can be plotted against any of them. `train.curriculum_steps` grows the longest drawn training
length from len_min to len_max over the first steps (bench.run.competence.curriculum_high).

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
from statebench.bench.config.lengths import (
    nearest_valid_length,
    training_range,
    valid_length_at_most,
)
from statebench.bench.run.competence import TargetHold, curriculum_high
from statebench.bench.run.optim import lr_lambda, make_optimizer
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
    steps_to_target: int | None = None  # first check of the final run that held the target
    log: list[dict] = field(default_factory=list)  # one row per log or validation step

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("nan")


StepCallback = Callable[[int, int, float, float], None]  # (step, total, loss, accuracy)
# One training-log row every `log_every` steps and at every validation check
# (bench.store.schema.TRAINING_LOG_COLUMNS).
LogCallback = Callable[[dict[str, Any]], None]


def masked_loss_and_accuracy(
    logits: torch.Tensor, batch: Batch
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy and accuracy over scored positions only. A batch that scores no
    position is the task's fault (its mask), never the model's: refused, not a NaN loss that
    would read as `diverged`."""
    mask = batch.mask
    scored = logits[mask]
    targets = batch.targets[mask]
    if targets.numel() == 0:
        raise ValueError(
            f"the task scores no position of a batch of length {batch.inputs.shape[-1]} (its "
            "mask is all False): there is nothing to train on; the task's mask is at fault"
        )
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


class TrainingRun:
    """One training run's state: optimizer, data and length streams, validation set, result."""

    def __init__(
        self, model, task, train, lr, data_seed, device, val_seed, on_log, on_step=None
    ) -> None:
        self.model, self.task, self.train, self.device = model, task, train, device
        self.on_log, self.on_step = on_log, on_step
        self.ema_acc = 0.0
        self.target = float(train.target_accuracy or 0.99)
        self.optimizer, self.scheduler = make_optimizer(model, train, lr)
        self.params = [p for g in self.optimizer.param_groups for p in g["params"]]
        self.val = validation_set(
            task, train, data_seed + 1 if val_seed is None else val_seed, device
        )
        self.generator = torch.Generator().manual_seed(data_seed)  # CPU: same data everywhere
        self.lengths = random.Random(data_seed)  # the length schedule, apart from the data
        self.low, self.high = training_range(task, train.len_min, train.len_max)
        self.hold = TargetHold(self.target, int(train.hold_checks))
        self.drawn = 0  # batches drawn: the curriculum's clock
        self.end = int(train.steps)  # the last step; a hold still to confirm moves it on
        self.valid: dict[int, int] = {}
        self.result = TrainResult(0, 0.0, 0, math.nan, math.nan)
        model.train()
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def update(self) -> tuple[torch.Tensor, torch.Tensor, float]:
        """One optimizer step on a fresh batch; (loss, accuracy, the lr it used)."""
        batch = self.draw()
        loss, acc = masked_loss_and_accuracy(self.model(batch.inputs), batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return loss, acc, self.apply_gradients(batch)

    def draw(self) -> Batch:
        """The next training batch of this run's own data and length streams."""
        self.drawn += 1
        high = curriculum_high(self.drawn, self.low, self.high, int(self.train.curriculum_steps))
        raw = self.lengths.randint(self.low, high)
        length = self.valid.get(raw) or self.valid.setdefault(
            raw, nearest_valid_length(self.task, raw)
        )
        return self.task.sample(self.train.batch_size, length, self.generator, device=self.device)

    def apply_gradients(self, batch: Batch) -> float:
        """Clip, step the optimizer and the schedule on the gradients in place; the lr used."""
        if self.train.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.params, self.train.grad_clip)
        step_lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self.result.tokens += batch.inputs.numel()
        return step_lr

    def after_update(
        self, step: int, loss: torch.Tensor, acc: torch.Tensor, step_lr: float
    ) -> bool:
        """Log, check and decide after optimizer step `step`; True when training stops here.

        Raises Diverged on a non-finite loss (seen at log and check steps)."""
        train, result = self.train, self.result
        steps, budget = int(train.steps), train.time_budget_s
        val_every, log_every = int(train.val_every or 100), int(train.log_every or 50)
        ema_stop = train.early_stop_accuracy  # legacy: stop on the training-batch EMA
        out_of_time = budget is not None and self.elapsed() >= budget
        val_check = step % val_every == 0 or step == self.end or out_of_time
        if not (step % log_every == 0 or val_check or ema_stop):
            return False
        result.final_loss, result.final_accuracy = loss.item(), acc.item()
        if not math.isfinite(result.final_loss):
            raise Diverged(f"loss became {result.final_loss} at step {step}")
        self.ema_acc = acc.item() if step == 1 else 0.9 * self.ema_acc + 0.1 * acc.item()
        if self.on_step is not None:
            self.on_step(step, self.end, result.final_loss, result.final_accuracy)
        stop_ema = bool(ema_stop) and step >= 20 and self.ema_acc >= ema_stop
        self.record(step, val_check or stop_ema, step_lr)
        reached = train.stop_at_target and self.hold.held
        if reached or out_of_time or stop_ema:
            return True
        if step > steps and self.hold.streak == 0:
            return True  # the confirmation past the budget failed: not learned
        if step == self.end and train.stop_at_target and val_check:
            self.end += self.hold.confirm_steps(val_every)
        return False

    def finish(self, step: int) -> TrainResult:
        """The result after the last step taken (`step`; 0 when the budget is no steps)."""
        result = self.result
        if int(self.train.steps) == 0:
            self.record(0, True)
        result.steps = step
        result.seconds = self.elapsed()
        result.learned = self.hold.held
        return result

    def record(self, step: int, val_check: bool, step_lr: float | None = None) -> None:
        """A training-log row; with `val_check`, run the validation check into it first."""
        result = self.result
        row = {
            "step": step,
            "tokens": result.tokens,
            "seconds": self.elapsed(),
            "loss": result.final_loss,
            "accuracy": result.final_accuracy,
            "lr": self.optimizer.param_groups[0]["lr"] if step_lr is None else step_lr,
            "val_loss": math.nan,
            "val_accuracy": math.nan,
        }
        if val_check:
            result.val_loss, result.val_accuracy = self.val.check(self.model)
            if not math.isfinite(result.val_loss):
                raise Diverged(f"validation logits became non-finite at step {step}")
            row.update(val_loss=result.val_loss, val_accuracy=result.val_accuracy)
            self.hold.update(step, result.val_accuracy)
            result.steps_to_target = self.hold.steps_to_target
        result.log.append(row)
        if self.on_log is not None:
            self.on_log(row)


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
    """Train in place until the validation check holds the target or the budget ends.

    With `stop_at_target`, a run whose last budgeted check reaches the target without holding it
    yet trains on for the checks the hold still needs (at most `hold_checks - 1`, at the floor
    learning rate), stopping at the first check below it: the budget bounds the steps to reach
    the target, not the steps to confirm it (bench.run.competence.TargetHold.confirm_steps).

    Raises Diverged on a non-finite loss and CellTimeout past `deadline` (the hard limit);
    `train.time_budget_s` is the soft one: training stops, the model is still evaluated.
    """
    loop = TrainingRun(model, task, train, lr, data_seed, device, val_seed, on_log, on_step)
    step = 0
    while step < loop.end:
        step += 1
        loss, acc, step_lr = loop.update()
        if loop.after_update(step, loss, acc, step_lr):
            break
        if deadline is not None and time.monotonic() > deadline:
            raise CellTimeout(f"time limit reached at step {step} of {loop.end}")
    return loop.finish(step)

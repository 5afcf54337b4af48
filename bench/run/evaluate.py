"""Evaluation by length: each length has its own fixed data seed, shared by every model.

Every row keeps the in-distribution part (scored positions whose input index is below the
training length, so the model saw sequences that long) apart from the part beyond training:
`id_accuracy` and `ood_accuracy` / `ood_scaled_accuracy`. A length whose logits are non-finite
anywhere is `diverged`, with the first such position in `error`, and carries no score: a NaN
argmax would otherwise count as a guess of class 0. A length whose forward pass raises is `error`
(or `oom`) alone: the lengths that ran keep their rows.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import torch
from statebench.bench.config.lengths import eval_lengths
from statebench.bench.run.matrix import derive_seed
from statebench.bench.run.oom import is_oom
from statebench.models import SequenceModel
from statebench.tasks import Task
from torch.nn import functional as F

if TYPE_CHECKING:
    from statebench.bench.config import EvalConfig

SCORES = (
    "accuracy",
    "seq_accuracy",
    "scaled_accuracy",
    "loss",
    "id_accuracy",
    "ood_accuracy",
    "ood_scaled_accuracy",
)


def eval_seed(base_seed: int, task: str, task_options: dict, length: int) -> int:
    """The data seed of one eval length: independent of the model, the training seed and lr."""
    return derive_seed("eval", base_seed, task, sorted(task_options.items()), length)


def _pooled(correct: torch.Tensor, scored: torch.Tensor) -> float:
    n = float(scored.sum())
    return float(correct.sum()) / n if n > 0 else math.nan


def _scaled(accuracy: float, chance: float) -> float:
    if math.isnan(accuracy) or math.isnan(chance) or chance >= 1:
        return math.nan
    return (accuracy - chance) / (1 - chance)


def first_non_finite(logits: torch.Tensor) -> int | None:
    """The first position (0-based) where any sequence has a non-finite logit, else None."""
    bad = ~torch.isfinite(logits).all(dim=-1).all(dim=0)  # [T]: some sequence non-finite
    return int(bad.nonzero()[0]) if bool(bad.any()) else None


class _Counts:
    """Hits and scored tokens per position, whole-sequence hits and loss over one length."""

    def __init__(self, width: int, device: torch.device) -> None:
        self.correct = torch.zeros(width, dtype=torch.float64, device=device)
        self.scored = torch.zeros(width, dtype=torch.float64, device=device)
        self.seq_right, self.loss_sum, self.n_tokens = 0, 0.0, 0
        self.bad_at: int | None = None  # first position with a non-finite logit

    def add(self, logits: torch.Tensor, batch) -> None:
        first = first_non_finite(logits)
        if first is not None:
            self.bad_at = first if self.bad_at is None else min(self.bad_at, first)
            return
        mask = batch.mask
        right = (logits.argmax(-1) == batch.targets) & mask
        self.correct += right.sum(0, dtype=torch.float64)
        self.scored += mask.sum(0, dtype=torch.float64)
        self.seq_right += int(((right | ~mask).all(dim=1)).sum())
        self.loss_sum += float(F.cross_entropy(logits[mask], batch.targets[mask], reduction="sum"))
        self.n_tokens += int(mask.sum())

    def scores(self, task: Task, length: int, samples: int, split: int) -> dict[str, Any]:
        """The length's scores; positions before `split` are in distribution."""
        correct, scored = self.correct, self.scored
        per_pos = torch.where(scored > 0, correct / scored.clamp(min=1), math.nan)
        accuracy = _pooled(correct, scored)
        chance, ood_chance = float(task.chance_at(length)), task.chance_between(length, split)
        ood_accuracy = _pooled(correct[split:], scored[split:])
        return {
            "accuracy": accuracy,
            "seq_accuracy": self.seq_right / samples,
            "scaled_accuracy": _scaled(accuracy, chance),
            "loss": self.loss_sum / max(1, self.n_tokens),
            "id_accuracy": _pooled(correct[:split], scored[:split]),
            "ood_accuracy": ood_accuracy,
            "ood_chance": ood_chance,
            "per_position_accuracy": [float(x) for x in per_pos.cpu()],
            "ood_scaled_accuracy": _scaled(ood_accuracy, ood_chance),
        }


@torch.no_grad()
def evaluate_length(
    model: SequenceModel,
    task: Task,
    length: int,
    samples: int,
    seed: int,
    batch_size: int,
    max_tokens_per_batch: int,
    device: torch.device,
    train_len_max: int | None = None,
) -> dict[str, Any]:
    """Metrics of one length over `samples` sequences, drawn in sub-batches that fit memory."""
    sub = max(1, min(batch_size, max_tokens_per_batch // max(1, length)))
    generator = torch.Generator().manual_seed(seed)  # CPU: the same data on every device
    width = length + task.extra_positions
    counts = _Counts(width, device)
    start = time.perf_counter()
    done = 0
    while done < samples:
        n = min(sub, samples - done)
        batch = task.sample(n, length, generator, device=device)
        counts.add(model(batch.inputs).float(), batch)
        done += n
    seconds = time.perf_counter() - start
    chance = float(task.chance_at(length))  # some tasks (majority) depend on length
    row: dict[str, Any] = {"eval_len": length, "n_eval": samples, "chance": chance}
    row["eval_seconds"] = seconds
    if counts.bad_at is not None:
        row.update({k: math.nan for k in SCORES})
        row["status"] = "diverged"
        row["error"] = (
            f"non-finite logits at eval length {length}: first at position {counts.bad_at} "
            "(0-based); no score is kept for this length"
        )
        return row
    # Position i has consumed i + 1 input tokens (i for the appended query token).
    split = width if train_len_max is None else min(width, train_len_max + task.extra_positions)
    row.update(counts.scores(task, length, samples, split))
    return row


def evaluate(
    model: SequenceModel,
    task: Task,
    eval_cfg: EvalConfig,
    task_name: str,
    task_options: dict,
    device: torch.device,
    train_len_max: int | None = None,
) -> list[dict[str, Any]]:
    """One metrics dict per evaluated length: each configured length mapped to the nearest one
    the task can make not above it (so `eval_len` is the length measured); lengths past the
    model's max_length are skipped, saying so."""
    model.eval()
    rows = []
    for length in eval_lengths(task, eval_cfg.lengths):
        if model.max_length is not None and length + task.extra_positions > model.max_length:
            rows.append(
                {
                    "eval_len": length,
                    "n_eval": 0,
                    "status": "skipped",
                    "error": f"eval length {length} exceeds the model's max_length "
                    f"{model.max_length}",
                }
            )
            continue
        seed = eval_seed(eval_cfg.seed, task_name, task_options, length)
        try:
            row = evaluate_length(
                model,
                task,
                length,
                eval_cfg.samples,
                seed,
                eval_cfg.batch_size,
                eval_cfg.max_tokens_per_batch,
                device,
                train_len_max,
            )
        except Exception as e:  # noqa: BLE001 - this length fails alone, the others keep theirs
            row = failed_length(length, e, device)
        rows.append(row)
    return rows


def failed_length(length: int, error: Exception, device: torch.device) -> dict[str, Any]:
    """The row of an eval length whose forward pass raised: `oom` or `error`, no score."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {
        "eval_len": length,
        "n_eval": 0,
        **{k: math.nan for k in SCORES},
        "status": "oom" if is_oom(error) else "error",
        "error": f"eval length {length}: {type(error).__name__}: {error}"[:2000],
    }

"""Evaluation by length: each length has its own fixed data seed, shared by every model.

Every row keeps the in-distribution part (scored positions whose input index is below the
training length, so the model saw sequences that long) apart from the part beyond training:
`id_accuracy` and `ood_accuracy` / `ood_scaled_accuracy`. A length whose logits are non-finite
anywhere is `diverged`, with the first such position in `error`, and carries no score: a NaN
argmax would otherwise count as a guess of class 0.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import torch
from statebench.bench.lengths import eval_lengths
from statebench.bench.matrix import derive_seed
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
    correct_pos = torch.zeros(width, dtype=torch.float64, device=device)
    scored_pos = torch.zeros(width, dtype=torch.float64, device=device)
    seq_right, loss_sum, n_tokens, bad_at = 0, 0.0, 0, None
    start = time.perf_counter()
    done = 0
    while done < samples:
        n = min(sub, samples - done)
        batch = task.sample(n, length, generator, device=device)
        logits = model(batch.inputs).float()
        done += n
        first = first_non_finite(logits)
        if first is not None:
            bad_at = first if bad_at is None else min(bad_at, first)
            continue
        mask = batch.mask
        right = (logits.argmax(-1) == batch.targets) & mask
        correct_pos += right.sum(0, dtype=torch.float64)
        scored_pos += mask.sum(0, dtype=torch.float64)
        seq_right += int(((right | ~mask).all(dim=1)).sum())
        loss_sum += float(F.cross_entropy(logits[mask], batch.targets[mask], reduction="sum"))
        n_tokens += int(mask.sum())
    seconds = time.perf_counter() - start
    chance = float(task.chance_at(length))  # some tasks (majority) depend on length
    row: dict[str, Any] = {"eval_len": length, "n_eval": samples, "chance": chance}
    row["eval_seconds"] = seconds
    if bad_at is not None:
        row.update({k: math.nan for k in SCORES})
        row["status"] = "diverged"
        row["error"] = (
            f"non-finite logits at eval length {length}: first at position {bad_at} "
            "(0-based); no score is kept for this length"
        )
        return row
    per_pos = torch.where(scored_pos > 0, correct_pos / scored_pos.clamp(min=1), math.nan)
    accuracy = _pooled(correct_pos, scored_pos)
    # Position i has consumed i + 1 input tokens (i for the appended query token).
    split = width if train_len_max is None else min(width, train_len_max + task.extra_positions)
    ood_chance = task.chance_between(length, split)
    row.update(
        accuracy=accuracy,
        seq_accuracy=seq_right / samples,
        scaled_accuracy=_scaled(accuracy, chance),
        loss=loss_sum / max(1, n_tokens),
        id_accuracy=_pooled(correct_pos[:split], scored_pos[:split]),
        ood_accuracy=_pooled(correct_pos[split:], scored_pos[split:]),
        ood_chance=ood_chance,
        per_position_accuracy=[float(x) for x in per_pos.cpu()],
    )
    row["ood_scaled_accuracy"] = _scaled(row["ood_accuracy"], ood_chance)
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
        rows.append(
            evaluate_length(
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
        )
    return rows

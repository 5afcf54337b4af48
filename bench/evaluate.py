"""Evaluation by length: each length has its own fixed data seed, shared by every model."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import torch
from statebench.bench.matrix import derive_seed
from statebench.models import SequenceModel
from statebench.tasks import Task
from torch.nn import functional as F

if TYPE_CHECKING:
    from statebench.bench.config import EvalConfig


def eval_seed(base_seed: int, task: str, task_options: dict, length: int) -> int:
    """The data seed of one eval length: independent of the model, the training seed and lr."""
    return derive_seed("eval", base_seed, task, sorted(task_options.items()), length)


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
) -> dict[str, Any]:
    """Metrics of one length over `samples` sequences, drawn in sub-batches that fit memory."""
    sub = max(1, min(batch_size, max_tokens_per_batch // max(1, length)))
    generator = torch.Generator(device=device).manual_seed(seed)
    correct_pos = torch.zeros(length, dtype=torch.float64, device=device)
    scored_pos = torch.zeros(length, dtype=torch.float64, device=device)
    seq_right, loss_sum, n_tokens = 0, 0.0, 0
    start = time.perf_counter()
    done = 0
    while done < samples:
        n = min(sub, samples - done)
        batch = task.sample(n, length, generator, device=device)
        logits = model(batch.inputs).float()
        mask = batch.mask
        right = (logits.argmax(-1) == batch.targets) & mask
        correct_pos += right.sum(0, dtype=torch.float64)
        scored_pos += mask.sum(0, dtype=torch.float64)
        seq_right += int(((right | ~mask).all(dim=1)).sum())
        loss_sum += float(F.cross_entropy(logits[mask], batch.targets[mask], reduction="sum"))
        n_tokens += int(mask.sum())
        done += n
    seconds = time.perf_counter() - start
    per_pos = torch.where(scored_pos > 0, correct_pos / scored_pos.clamp(min=1), math.nan)
    accuracy = float(correct_pos.sum() / max(1, n_tokens))
    chance = float(task.chance_at(length))  # some tasks (majority) depend on length
    return {
        "eval_len": length,
        "n_eval": samples,
        "accuracy": accuracy,
        "seq_accuracy": seq_right / samples,
        "scaled_accuracy": (accuracy - chance) / (1 - chance) if chance < 1 else math.nan,
        "chance": chance,
        "loss": loss_sum / max(1, n_tokens),
        "per_position_accuracy": [float(x) for x in per_pos.cpu()],
        "eval_seconds": seconds,
    }


def evaluate(
    model: SequenceModel,
    task: Task,
    eval_cfg: EvalConfig,
    task_name: str,
    task_options: dict,
    device: torch.device,
) -> list[dict[str, Any]]:
    """One metrics dict per configured length; lengths past the model's max_length are skipped."""
    model.eval()
    rows = []
    for length in eval_cfg.lengths:
        if model.max_length is not None and length > model.max_length:
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
        try:
            valid = task.check_length(length)
        except ValueError as e:
            rows.append({"eval_len": length, "n_eval": 0, "status": "skipped", "error": str(e)})
            continue
        seed = eval_seed(eval_cfg.seed, task_name, task_options, valid)
        rows.append(
            evaluate_length(
                model,
                task,
                valid,
                eval_cfg.samples,
                seed,
                eval_cfg.batch_size,
                eval_cfg.max_tokens_per_batch,
                device,
            )
        )
    return rows

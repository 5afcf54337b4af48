"""The optimizer a cell trains with: AdamW over two parameter groups, warmup + cosine schedule.

Weight decay pulls weights towards zero. That is a prior on projection matrices, not on biases,
normalisation gains, embeddings (a token's vector is not a weight to shrink), or the parameters
of a recurrence (Mamba's A_log and D, the RG-LRU's Lambda: decaying them changes the memory
horizon, which is what the benchmark measures). mamba_ssm exempts those the same way: an
adapter marks such a parameter with `param._no_weight_decay = True`.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def no_decay_names(model: nn.Module) -> set[str]:
    """Parameters that get no weight decay: biases, norms, embeddings, and marked parameters."""
    names = set()
    for module_name, module in model.named_modules():
        exempt_module = isinstance(module, (nn.Embedding, nn.LayerNorm, nn.RMSNorm))
        for name, p in module.named_parameters(recurse=False):
            full = f"{module_name}.{name}" if module_name else name
            if (
                exempt_module
                or p.ndim < 2
                or name.endswith("bias")
                or getattr(p, "_no_weight_decay", False)
            ):
                names.add(full)
    return names


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """[decayed, not decayed] groups of the trainable parameters (empty groups dropped)."""
    exempt = no_decay_names(model)
    decay, keep = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (keep if name in exempt else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": keep, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def lr_lambda(step: int, warmup: int, total: int, schedule: str, min_ratio: float) -> float:
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant" or total <= warmup:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(model: nn.Module, train, lr: float):
    """(optimizer, scheduler) for one cell's training settings."""
    wd = train.weight_decay if train.optimizer == "adamw" else 0.0
    opt_cls = torch.optim.AdamW if train.optimizer == "adamw" else torch.optim.Adam
    optimizer = opt_cls(parameter_groups(model, wd), lr=lr)
    steps = int(train.steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: lr_lambda(s, train.warmup_steps, steps, train.schedule, train.min_lr_ratio),
    )
    return optimizer, scheduler

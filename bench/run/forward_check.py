"""One tiny forward before training: a cheap subset of the adapter conformance checks.

A mixer that returns the wrong shape, a non-float dtype, or mixes later tokens into earlier
positions (say one returning [B, 1, D], which broadcasts) would otherwise train and report
numbers that look right. Run on the cell's own device and dtype, so a fault of the fused path
that the cell will use is caught too. Non-finite outputs raise `Diverged`, as in training.
"""

from __future__ import annotations

import torch
from statebench.bench.run.train import Diverged, nearest_valid_length
from statebench.models import SequenceModel
from statebench.tasks import Task


class ForwardCheckFailed(RuntimeError):
    """The model failed a pre-training check; the message names the check."""


@torch.no_grad()
def check_forward(model: SequenceModel, task: Task, device: torch.device, length: int = 8) -> None:
    """Shape [B, T, classes], floating dtype, finiteness, and causality at one position."""
    length = nearest_valid_length(task, length)
    batch = task.sample(2, length, torch.Generator().manual_seed(0), device=device)
    was_training = model.training
    model.eval()
    try:
        logits = model(batch.inputs)
        b, t = batch.inputs.shape
        want = (b, t, task.num_classes)
        if tuple(logits.shape) != want:
            raise ForwardCheckFailed(f"forward check (shape): expected {list(want)}, got "
                                     f"{list(logits.shape)}")  # fmt: skip
        if not logits.is_floating_point():
            raise ForwardCheckFailed(f"forward check (dtype): got {logits.dtype}, not a float")
        if not torch.isfinite(logits).all():
            raise Diverged("forward check (finite): non-finite output before training")
        changed = batch.inputs.clone()
        changed[:, -1] = (changed[:, -1] + 1) % task.vocab_size
        later = model(changed)
        tol = 1e-4 if logits.dtype == torch.float32 else 2e-2
        earlier = (later[:, :-1].float() - logits[:, :-1].float()).abs().amax(dim=(0, 2))
        leaked = (earlier > tol * (1 + logits[:, :-1].float().abs().amax())).nonzero()
        if len(leaked):
            raise ForwardCheckFailed(
                f"forward check (causality): changing only position {t - 1} changed the output "
                f"at position {int(leaked[0])}"
            )
    finally:
        model.train(was_training)

"""Modular sum: the prefix sum of digits mod m (aggregation in the cyclic group Z_m)."""

from __future__ import annotations

import torch
from statebench.tasks.base import Batch, Task
from statebench.tasks.registry import register_task


@register_task("modular_sum")
class ModularSum(Task):
    """Digits 0..m-1 in (option m >= 2, default 5); the target is the prefix sum mod m.

    Every digit is uniform, so every prefix sum is uniform: chance is exactly 1/m.
    """

    description = "digits 0..m-1; target is the prefix sum mod m (abelian group aggregation)"
    family = "group"
    display_order = 30

    def __init__(self, m: int = 5, readout: str | None = None) -> None:
        super().__init__(readout)
        self.m = self._int_option("m", m, 2)
        self.vocab_size = self.m
        self.num_classes = self.m

    def _sample(self, batch_size, length, generator, device) -> Batch:
        x = torch.randint(0, self.m, (batch_size, length), generator=generator, device=device)
        y = torch.cumsum(x, dim=1).remainder_(self.m)
        mask = torch.ones_like(x, dtype=torch.bool)
        return Batch(x, y, mask)

    def continue_targets(self, prefix, carry):
        return (prefix + carry[:, None]) % self.num_classes

    def _reference(self, tokens):
        out, total = [], 0
        for t in tokens:
            total = (total + t) % self.m
            out.append(total)
        return out

"""Streaming parity: the XOR of the prefix. The simplest non-star-free regular language."""

from __future__ import annotations

import torch
from statebench.tasks.automaton import StateMachine
from statebench.tasks.base import Batch, Task
from statebench.tasks.registry import register_task


@register_task("parity")
class Parity(Task):
    """Bits in, the XOR of the prefix out (Z2 aggregation). Targets are uniform: chance 1/2."""

    description = "bits; target is the XOR of the prefix (Z2 aggregation, not star-free)"
    family = "group"
    display_order = 10
    vocab_size = 2
    num_classes = 2

    def _sample(self, batch_size, length, generator, device) -> Batch:
        x = torch.randint(0, 2, (batch_size, length), generator=generator, device=device)
        y = torch.cumsum(x, dim=1).bitwise_and_(1)
        mask = torch.ones_like(x, dtype=torch.bool)
        return Batch(x, y, mask)

    def state_machine(self) -> StateMachine:
        """The prefix XOR: a bit flipped by every 1."""
        return StateMachine(torch.tensor([[0, 1], [1, 0]]), torch.tensor([0]), torch.arange(2))

    def continue_targets(self, prefix, carry):
        return (prefix + carry[:, None]) % self.num_classes

    def _reference(self, tokens):
        out, acc = [], 0
        for t in tokens:
            acc ^= t
            out.append(acc)
        return out

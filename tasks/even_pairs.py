"""Even pairs (Deletang et al. 2023): the parity of the number of adjacent unequal bits."""

from __future__ import annotations

import torch
from statebench.tasks.base import Batch, Task
from statebench.tasks.registry import register_task


@register_task("even_pairs")
class EvenPairs(Task):
    """Bits in; at t >= 1 the number of i in [1, t] with x_i != x_{i-1}, mod 2.

    Regular and star-free: the count is odd iff x_t != x_0, so keeping the first bit solves it,
    a control beside the tasks that need true modular counting. Position 0 has no pair, its
    target is always 0 and it is not scored, so min_length is 2 and every scored target is
    uniform: chance is exactly 1/2 at every length and readout.
    """

    description = (
        "bits; target is the parity of adjacent unequal pairs so far (needs the first bit)"
    )
    family = "regular"
    display_order = 5
    vocab_size = 2
    num_classes = 2
    min_length = 2

    def _sample(self, batch_size, length, generator, device) -> Batch:
        x = torch.randint(0, 2, (batch_size, length), generator=generator, device=device)
        y = x ^ x[:, :1]  # the number of changes is odd iff the last bit differs from the first
        mask = torch.ones_like(x, dtype=torch.bool)
        mask[:, 0] = False
        y[:, 0] = 0
        return Batch(x, y, mask)

    def _reference(self, tokens):
        out: list[int | None] = [None]
        changes = 0
        for prev, cur in zip(tokens, tokens[1:], strict=False):
            changes += prev != cur
            out.append(changes % 2)
        return out[: len(tokens)]

    def _score_probability(self, length):
        p = torch.ones(length, dtype=torch.float64)
        p[0] = 0.0
        return p

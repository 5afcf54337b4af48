"""Cycle navigation (Deletang et al. 2023): a walker on a cycle of 5 moves -1, 0 or +1."""

from __future__ import annotations

import torch
from statebench.tasks.base import Batch, Task
from statebench.tasks.chance import markov_mode_probability
from statebench.tasks.registry import register_task

CYCLE = 5


@register_task("cycle_navigation")
class CycleNavigation(Task):
    """Tokens 0, 1, 2 mean -1, stay, +1; the target is the position on a cycle of 5 from 0.

    The walk starts at 0, so early targets cluster near 0: the best blind guess (always 0) is
    right 1/3 of the time at t = 0 and tends to 1/5 geometrically (within 1e-3 by t = 10).
    `chance_at` computes it exactly by a Markov chain over the 5 positions.
    """

    description = "moves -1/0/+1 on a cycle of 5; target is the current position (Z5 aggregation)"
    family = "group"
    display_order = 25
    vocab_size = 3
    num_classes = CYCLE

    def _sample(self, batch_size, length, generator, device) -> Batch:
        x = torch.randint(0, 3, (batch_size, length), generator=generator, device=device)
        # Position = sum of (x - 1) = cumsum(x) - (t + 1); remainder is floor-mod: never negative.
        steps = torch.arange(1, length + 1, device=device)
        y = torch.cumsum(x, dim=1).sub_(steps).remainder_(CYCLE)
        mask = torch.ones_like(x, dtype=torch.bool)
        return Batch(x, y, mask)

    def continue_targets(self, prefix, carry):
        return (prefix + carry[:, None]) % self.num_classes

    def _reference(self, tokens):
        out, pos = [], 0
        for t in tokens:
            pos = (pos + {0: -1, 1: 0, 2: 1}[t]) % CYCLE
            out.append(pos)
        return out

    def _position_accuracy(self, length):
        init = torch.zeros(CYCLE, dtype=torch.float64)
        init[0] = 1.0
        trans = torch.zeros(CYCLE, CYCLE, dtype=torch.float64)
        for s in range(CYCLE):
            for move in (-1, 0, 1):
                trans[s, (s + move) % CYCLE] += 1 / 3
        return markov_mode_probability(init, trans, torch.arange(CYCLE), length)

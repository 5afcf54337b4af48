"""Counting modulo k: the number of 1s seen so far, mod k (a cyclic counter)."""

from __future__ import annotations

import torch
from statebench.tasks.base import Batch, Task
from statebench.tasks.chance import markov_mode_probability
from statebench.tasks.registry import register_task


@register_task("count_mod")
class CountMod(Task):
    """Bits in; the target is the number of 1s in the prefix mod k (option k >= 2, default 3).

    For k = 2 it is parity. The count starts at 0, so early targets are not uniform (1/2 at
    t = 0 for any k): the best blind guess, the most likely residue of Binomial(t+1, 1/2) mod k
    at each position, is computed exactly by `chance_at`; it tends to 1/k.
    """

    description = "bits; target is the count of 1s mod k (Z_k aggregation with a skip symbol)"
    family = "group"
    display_order = 20
    vocab_size = 2

    def __init__(self, k: int = 3, readout: str | None = None) -> None:
        super().__init__(readout)
        self.k = self._int_option("k", k, 2)
        self.num_classes = self.k

    def _sample(self, batch_size, length, generator, device) -> Batch:
        x = torch.randint(0, 2, (batch_size, length), generator=generator, device=device)
        y = torch.cumsum(x, dim=1).remainder_(self.k)
        mask = torch.ones_like(x, dtype=torch.bool)
        return Batch(x, y, mask)

    def continue_targets(self, prefix, carry):
        return (prefix + carry[:, None]) % self.num_classes

    def _reference(self, tokens):
        out, count = [], 0
        for t in tokens:
            count += t
            out.append(count % self.k)
        return out

    def _position_accuracy(self, length):
        init = torch.zeros(self.k, dtype=torch.float64)
        init[0] = 1.0
        trans = torch.zeros(self.k, self.k, dtype=torch.float64)
        for s in range(self.k):
            trans[s, s] += 0.5
            trans[s, (s + 1) % self.k] += 0.5
        return markov_mode_probability(init, trans, torch.arange(self.k), length)

"""Majority: the most frequent symbol so far, ties to the smallest (needs unbounded counters)."""

from __future__ import annotations

import math

import torch
from statebench.tasks.base import Batch, Task
from statebench.tasks.registry import register_task

# Monte-Carlo chance for m >= 3: sequences drawn with this seed (fixed: chance is reproducible).
_MC_SEED = 20230601
_MC_TOKENS = 2**22  # sequences x length per estimate, within [2048, 32768] sequences


@register_task("majority")
class Majority(Task):
    """Symbols 0..m-1 in (option m >= 2, default 2); the target is the most frequent symbol in
    the prefix, ties broken toward the smallest symbol.

    Not a finite-state task: the counts grow without bound, so it probes whether a model keeps
    counters rather than a residue.

    Chance is *not* 1/m. Swapping symbols 0 and j maps every prefix where j wins to one where 0
    wins (0 also wins the ties), so "always 0" is the best blind guess at every position, and it
    is right with probability P(0 wins after n = t+1 symbols) > 1/m. For m = 2 that is exactly
    1/2 for odd n and 1/2 + C(n, n/2) / 2^(n+1) for even n (the tie term, ~0.4/sqrt(n)), so
    chance falls toward 1/m only like 1/sqrt(length). `chance_at(length)` is exact for m = 2
    and, for m >= 3, a Monte-Carlo estimate of the same quantity from a fixed seed (2048 to
    32768 sequences; standard error below 0.012 per position, far less pooled over positions).
    `chance` quotes it at `chance_length` = 64; use `chance_at` at other lengths.
    """

    description = "symbols 0..m-1; target is the most frequent symbol so far (unbounded counting)"
    family = "counting"
    display_order = 47

    def __init__(self, m: int = 2, readout: str | None = None) -> None:
        super().__init__(readout)
        self.m = self._int_option("m", m, 2)
        self.vocab_size = self.m
        self.num_classes = self.m

    def _sample(self, batch_size, length, generator, device) -> Batch:
        x = torch.randint(0, self.m, (batch_size, length), generator=generator, device=device)
        return Batch(x, self._majority(x), torch.ones_like(x, dtype=torch.bool))

    def _majority(self, x: torch.Tensor) -> torch.Tensor:
        if self.m == 2:
            # 1 only when strictly more 1s than 0s: 2 * ones - n > 0 (in place, no temporaries).
            n = torch.arange(1, x.shape[1] + 1, device=x.device)
            return torch.cumsum(x, dim=1).mul_(2).sub_(n).clamp_(0, 1)
        counts = torch.zeros(*x.shape, self.m, dtype=torch.int32, device=x.device)
        counts.scatter_(2, x.unsqueeze(2), 1)
        # The largest count, ties to the smallest symbol: argmax of count * m - symbol.
        symbol = torch.arange(self.m, dtype=torch.int32, device=x.device)
        return torch.argmax(counts.cumsum_(dim=1).mul_(self.m).sub_(symbol), dim=2)

    def _reference(self, tokens):
        out, counts = [], [0] * self.m
        for t in tokens:
            counts[t] += 1
            best = max(range(self.m), key=lambda s: (counts[s], -s))
            out.append(best)
        return out

    def _position_accuracy(self, length):
        if self.m == 2:
            n = torch.arange(1, length + 1, dtype=torch.float64)
            log_tie = torch.lgamma(n + 1) - 2 * torch.lgamma(n / 2 + 1) - n * math.log(2)
            return 0.5 + torch.where(n % 2 == 0, 0.5 * torch.exp(log_tie), 0.0)
        return self._monte_carlo_zero_wins(length)

    def _monte_carlo_zero_wins(self, length: int) -> torch.Tensor:
        """P(target == 0) at each position, estimated on fixed-seed samples."""
        n_seq = min(32768, max(2048, _MC_TOKENS // length))
        chunk = max(1, min(n_seq, 2**22 // (length * self.m)))
        generator = torch.Generator().manual_seed(_MC_SEED)
        zeros = torch.zeros(length, dtype=torch.float64)
        done = 0
        while done < n_seq:
            n = min(chunk, n_seq - done)
            x = torch.randint(0, self.m, (n, length), generator=generator)
            zeros += (self._majority(x) == 0).sum(0)
            done += n
        # The true value is at least 1/m (0 is the most likely winner): clip sampling noise.
        return (zeros / n_seq).clamp(min=1.0 / self.m)

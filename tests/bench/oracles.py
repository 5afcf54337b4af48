"""Constructed models with a known answer, for tests of what the harness measures."""

from __future__ import annotations

import torch
from torch import nn


class ParityUpTo(nn.Module):
    """Exactly right on parity (readout "all") at positions < k, a blind guess after.

    After k it answers with the current input token, which is right half the time on uniform
    bits: chance. `nan_from` makes every logit from that position on NaN.
    """

    max_length = None

    def __init__(self, k: int, nan_from: int | None = None) -> None:
        super().__init__()
        self.k, self.nan_from = k, nan_from
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        parity = tokens.cumsum(dim=1) % 2
        t = torch.arange(tokens.shape[1], device=tokens.device)
        guess = torch.where(t < self.k, parity, tokens)
        logits = nn.functional.one_hot(guess, 2).float() * 4.0 + self.dummy
        if self.nan_from is not None:
            logits[:, self.nan_from :] = float("nan")
        return logits

    def init_state(self, batch_size, device=None):
        return (torch.zeros(batch_size, dtype=torch.long, device=device), 0)

    def step(self, tokens, state):
        """Streaming form of `forward` (carries the running sum and the position)."""
        total, pos = state
        sums = total[:, None] + tokens.cumsum(dim=1)
        t = torch.arange(pos, pos + tokens.shape[1], device=tokens.device)
        guess = torch.where(t < self.k, sums % 2, tokens)
        logits = nn.functional.one_hot(guess, 2).float() * 4.0
        if self.nan_from is not None:
            logits[:, (t >= self.nan_from)] = float("nan")
        return logits, (sums[:, -1], pos + tokens.shape[1])

    def state_size(self, length: int = 1) -> int:
        return 1

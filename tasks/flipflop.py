"""Flip-flop language (Liu et al. 2023, "Exposing Attention Glitches"): remember one bit."""

from __future__ import annotations

import torch
from statebench.tasks.base import Batch, Task
from statebench.tasks.registry import register_task

WRITE, READ, IGNORE = 0, 1, 2  # instruction tokens
BIT0 = 3  # bit b is token 3 + b


@register_task("flipflop")
class FlipFlop(Task):
    """Instruction/bit pairs: `w b` writes b, `r b` reads, `i b` is noise to ignore.

    Layout: even positions hold instructions (w=0, r=1, i=2), odd positions bits (0 -> 3,
    1 -> 4), so lengths are even; an odd length is a ValueError. As in the paper the first
    instruction is always a write and the last always a read (so every sequence has an answer,
    and min_length is 4); the others are ignore with probability p_ignore (option, in [0, 1),
    default 0.8) and otherwise write or read with equal probability. Bits after `w` and `i` are
    uniform.

    Scoring follows the paper's: the model must produce the bit that follows each `r`, which is
    the last written bit. Targets here are aligned with inputs (the output at t sees inputs up to
    t), so the label sits at the `r` position, whose output predicts the next token; the bit
    token after `r` is teacher-forced to the correct bit, as in the paper's strings, and leaks
    nothing since an output at the `r` position has not seen it. The target is the bit (class
    0 or 1), uniform: chance is exactly 1/2. Readout "all" scores every read; "last" the final
    read, at position length - 2.
    """

    description = "write/read/ignore a bit; at each read, the last written bit (sparse long memory)"
    family = "memory"
    display_order = 50
    vocab_size = 5
    num_classes = 2
    min_length = 4
    length_rule = "even"

    def __init__(self, p_ignore: float = 0.8, readout: str | None = None) -> None:
        super().__init__(readout)
        ok = isinstance(p_ignore, (int, float)) and not isinstance(p_ignore, bool)
        if not ok or not 0.0 <= p_ignore < 1.0:
            raise self._error(
                f"p_ignore={p_ignore!r} is not allowed; p_ignore must be a number in [0, 1)"
            )
        self.p_ignore = float(p_ignore)

    def _length_ok(self, length: int) -> bool:
        return length % 2 == 0

    def _sample(self, batch_size, length, generator, device) -> Batch:
        n = length // 2
        u = torch.rand(batch_size, n, generator=generator, device=device)
        bits = torch.randint(0, 2, (batch_size, n), generator=generator, device=device)
        # u below p_ignore: ignore; then write, then read, each with probability (1 - p_ignore) / 2.
        cuts = [self.p_ignore, self.p_ignore + (1.0 - self.p_ignore) / 2]
        bucket = torch.bucketize(u, torch.tensor(cuts, device=device), right=True)
        instr = bucket.add_(IGNORE).remainder_(3)  # bucket 0, 1, 2 -> IGNORE, WRITE, READ
        instr[:, 0] = WRITE
        instr[:, -1] = READ
        # The last write at or before each pair: a running max of the write indices.
        pair = torch.arange(n, device=device)
        last_write = ((instr == WRITE) * pair).cummax(dim=1).values
        memory = torch.gather(bits, 1, last_write)
        is_read = instr == READ
        bits = torch.where(is_read, memory, bits)  # teacher-forced: a read shows the right bit
        inputs = torch.stack([instr, bits.add_(BIT0)], dim=2).view(batch_size, length)
        targets = torch.stack([memory, torch.zeros_like(memory)], dim=2).view(batch_size, length)
        mask = torch.stack([is_read, torch.zeros_like(is_read)], dim=2).view(batch_size, length)
        return Batch(inputs, targets, mask)

    def _reference(self, tokens):
        out: list[int | None] = []
        memory = None
        for i in range(0, len(tokens) - 1, 2):
            instr, bit = tokens[i], tokens[i + 1] - BIT0
            if instr == WRITE:
                memory = bit
            out += [memory if instr == READ else None, None]
        return out

    def _score_probability(self, length):
        p = torch.zeros(length, dtype=torch.float64)
        p[0::2] = (1.0 - self.p_ignore) / 2
        p[0] = 0.0
        p[-2] = 1.0
        return p

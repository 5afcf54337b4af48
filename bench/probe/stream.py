"""Long eval streams, drawn chunk by chunk, with targets that continue across chunk boundaries.

`task.sample(B, L)` draws a whole sequence; at 2^20 tokens and 16 sequences that is ~300 MB of
inputs, targets and mask, which would dominate a probe's memory and hide whether the model's
own memory stays flat. A task that can continue a stream says so (`task.streams`) and draws
each chunk with `task.stream_chunk`, passing on a small carry (for a group task, the product so
far), so nothing but the carry crosses a chunk boundary.

A task that cannot stream falls back to one whole `task.sample` of the longest length that
fits `data_budget_bytes`; the probe then stops there and says so. Either way every model is fed
the same tokens at the same positions (chunks are always drawn whole and sliced), so curves of
different models are comparable.
"""

from __future__ import annotations

from typing import Any

import torch
from statebench.tasks import Batch, Task, get_task

# Bytes per (sequence, position) of a drawn batch: int64 inputs and targets, bool mask.
BYTES_PER_TOKEN = 8 + 8 + 1


def streaming_task(name: str, options: dict) -> Task:
    """The task with every position scored: a probe reads the per-position curve.

    A model trained with readout "last" answers at every position anyway (its output at t is
    its answer for a sequence ending at t), so the all-positions readout is its length curve.
    """
    return get_task(name, **{**options, "readout": "all"})


class ChunkStream:
    """Consecutive chunks of `n_seq` streams of one task; `length` is how far it can go."""

    def __init__(
        self,
        task: Task,
        n_seq: int,
        chunk: int,
        seed: int,
        device: torch.device | str = "cpu",
        max_len: int | None = None,
        data_budget_bytes: int = 1 << 28,
    ) -> None:
        if chunk < 1 or n_seq < 1:
            raise ValueError(f"need chunk >= 1 and n_seq >= 1, got {chunk}, {n_seq}")
        self.task, self.n_seq, self.chunk = task, n_seq, chunk
        self.device = torch.device(device)
        self.generator = torch.Generator().manual_seed(seed)
        self.carry: Any = None
        self._whole: Batch | None = None
        self._offset = 0
        self.length = max_len if max_len is not None else 1 << 62
        if not task.streams:
            self.length = self._whole_length(self.length, data_budget_bytes)

    @property
    def streams(self) -> bool:
        """True when targets are carried across chunks (no bound on the length)."""
        return self.task.streams

    def _whole_length(self, wanted: int, budget: int) -> int:
        """The longest valid length <= wanted whose whole batch fits the data budget."""
        fits = max(self.task.min_length, budget // (self.n_seq * BYTES_PER_TOKEN))
        length = min(wanted, fits)
        while length >= self.task.min_length:
            try:
                return self.task.check_length(length)
            except ValueError:
                length -= 1
        return 0

    def next_chunk(self) -> Batch:
        """The next `chunk` positions of every stream (fewer only at the end of a whole draw)."""
        if not self.task.streams:
            return self._next_slice()
        batch, self.carry = self.task.stream_chunk(
            self.n_seq, self.chunk, self.generator, self.carry
        )
        return batch.to(self.device)

    def _next_slice(self) -> Batch:
        if self._whole is None:
            if self.length < 1:
                raise ValueError(f"task {self.task.name!r}: no length fits the data budget")
            self._whole = self.task.sample(self.n_seq, self.length, self.generator)
        start, stop = self._offset, min(self._offset + self.chunk, self.length)
        if start >= stop:
            raise RuntimeError(f"the whole draw of {self.length} tokens is used up")
        self._offset = stop
        w = self._whole
        return Batch(w.inputs[:, start:stop], w.targets[:, start:stop], w.mask[:, start:stop]).to(
            self.device
        )

"""Long eval streams, drawn chunk by chunk, with targets that continue across chunk boundaries.

`task.sample(B, L)` draws a whole sequence; at 2^20 tokens and 16 sequences that is ~300 MB of
inputs, targets and mask, which would dominate a probe's memory and hide whether the model's
own memory stays flat. The tasks library has no streaming API (and must not learn about the
harness), so the stream is built here from the task's public pieces:

- the streaming tasks are prefix products in a group G: target_t = x_t . x_{t-1} ... x_0;
- `task.sample(B, chunk)` gives inputs with the task's own distribution and the chunk's own
  prefix products p_t (as if the stream started at the chunk);
- the target of the stream is then p_t . c, where c is the product carried from earlier chunks
  (the last target so far), so only c [B] crosses the boundary.

`CARRY_RULES` names, per task, how to compose p_t with c. A task without a rule falls back to
one whole `task.sample` of the longest length that fits `data_budget_bytes`; the probe then
stops there and says so. Either way every model is fed the same tokens at the same positions
(chunks are always drawn whole and sliced), so curves of different models are comparable.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from statebench.tasks import Batch, Task, get_task
from statebench.tasks.groups import cayley_table

# Bytes per (sequence, position) of a drawn batch: int64 inputs and targets, bool mask.
BYTES_PER_TOKEN = 8 + 8 + 1

Compose = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _cyclic(task: Task) -> Compose:
    """Z_n, n = num_classes: the chunk's prefix sums shift by the carried sum."""
    n = task.num_classes
    return lambda prefix, carry: (prefix + carry[:, None]) % n


def _permutation(task: Task) -> Compose:
    """The task's group: target = p_t . c, read from the Cayley table (table[a, b] = a . b)."""
    table = cayley_table(task.group)
    size = table.shape[0]
    flat = table.reshape(-1)
    return lambda prefix, carry: flat.to(prefix.device)[prefix * size + carry[:, None]]


CARRY_RULES: dict[str, Callable[[Task], Compose]] = {
    "parity": _cyclic,
    "count_mod": _cyclic,
    "modular_sum": _cyclic,
    "cycle_navigation": _cyclic,
    "permutation": _permutation,
}


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
        rule = CARRY_RULES.get(task.name)
        self.compose = rule(task) if rule is not None else None
        self.carry: torch.Tensor | None = None
        self._whole: Batch | None = None
        self._offset = 0
        self.length = max_len if max_len is not None else 1 << 62
        if self.compose is None:
            self.length = self._whole_length(self.length, data_budget_bytes)

    @property
    def streams(self) -> bool:
        """True when targets are carried across chunks (no bound on the length)."""
        return self.compose is not None

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
        if self.compose is None:
            return self._next_slice()
        batch = self.task.sample(self.n_seq, self.chunk, self.generator)
        targets = batch.targets
        if self.carry is not None:
            targets = self.compose(targets, self.carry)
        self.carry = targets[:, -1]
        return Batch(batch.inputs, targets, batch.mask).to(self.device)

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

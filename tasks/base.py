"""The task contract: a tiny class that samples batches and states its own spec in plain Python."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch

READOUTS = ("all", "last")


@dataclass(frozen=True)
class Batch:
    """One batch of a task: int64 inputs and targets [B, T], and a bool mask of scored positions."""

    inputs: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        return Batch(self.inputs.to(device), self.targets.to(device), self.mask.to(device))


class Task(ABC):
    """A state-tracking task.

    Subclasses set `name`, `vocab_size`, `num_classes`, `chance`, `default_readout` and implement
    `_sample` (vectorized torch, the task's native readout) and `reference` (plain Python, the
    spec). The base class applies the readout, validates lengths and keeps the API uniform.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    default_readout: ClassVar[str] = "all"
    vocab_size: int
    num_classes: int
    chance: float

    def __init__(self, readout: str | None = None) -> None:
        readout = self.default_readout if readout is None else readout
        if readout not in READOUTS:
            raise ValueError(
                f"task {self.name!r}: readout={readout!r} is not allowed; choose one of {READOUTS}"
            )
        self.readout = readout

    # -- lengths ---------------------------------------------------------------------------
    min_length: ClassVar[int] = 1

    def check_length(self, length: int) -> int:
        """Return `length` if the task can make it, else raise a ValueError saying what it can."""
        if not isinstance(length, int) or isinstance(length, bool) or length < self.min_length:
            raise ValueError(
                f"task {self.name!r}: length={length!r} is not allowed; "
                f"lengths are integers >= {self.min_length}"
            )
        return length

    # -- sampling --------------------------------------------------------------------------
    def sample(
        self,
        batch_size: int,
        length: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Batch:
        """Draw a batch. Deterministic for a given generator state; runs on the generator's device."""
        if batch_size < 1:
            raise ValueError(f"task {self.name!r}: batch_size={batch_size!r} must be >= 1")
        length = self.check_length(length)
        if generator is None:
            generator = torch.Generator(device=device or "cpu")
        dev = torch.device(device) if device is not None else generator.device
        batch = self._sample(batch_size, length, generator, dev)
        if self.readout == "last":
            batch = Batch(batch.inputs, batch.targets, _last_true(batch.mask))
        return batch

    @abstractmethod
    def _sample(
        self, batch_size: int, length: int, generator: torch.Generator, device: torch.device
    ) -> Batch:
        """Vectorized sampler with the task's native mask (readout is applied by `sample`)."""

    # -- spec ------------------------------------------------------------------------------
    def reference(self, tokens: list[int]) -> list[int | None]:
        """Plain-Python labels of one sequence under this task's readout (None where unscored)."""
        labels = self._reference(list(tokens))
        if self.readout == "last":
            scored = [i for i, y in enumerate(labels) if y is not None]
            keep = scored[-1] if scored else -1
            labels = [y if i == keep else None for i, y in enumerate(labels)]
        return labels

    @abstractmethod
    def _reference(self, tokens: list[int]) -> list[int | None]:
        """Plain-Python labels under the native readout: the obviously-correct spec."""

    def options(self) -> dict:
        """The options this instance was built with (for configs and result rows)."""
        return {"readout": self.readout}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts})"


def _last_true(mask: torch.Tensor) -> torch.Tensor:
    """Keep only the last True of each row (rows with none stay all-False)."""
    t = mask.shape[1]
    pos = torch.arange(t, device=mask.device).expand_as(mask)
    last = torch.where(mask, pos, torch.full_like(pos, -1)).max(dim=1, keepdim=True).values
    return (pos == last) & mask

"""The adapter contract: a causal token mixer that also streams through `step`."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn


class Mixer(nn.Module):
    """Base class for architecture adapters (token mixers).

    Built as `Mixer(d_model, layer_idx, **options)`. Subclasses implement:

    - `forward(x[B,T,D]) -> y[B,T,D]`, causal;
    - `init_state(batch_size, device, dtype)` and `step(x[B,t,D], state) -> (y, state)`: the same
      function as `forward`, fed a chunk at a time;
    - `state_size(length)`: floats carried per sequence after `length` tokens (O(1) for recurrent
      mixers, grows with length for a KV cache).

    Class attributes say how the shared backbone wraps the mixer:
    `default_mlp` ("gelu", "gated" or "none") and `max_length` (None: any length).
    `kernel_name(device)` names the code path that runs on `device` ("ref", "sdpa", ...).
    """

    default_mlp: ClassVar[str] = "gelu"
    max_length: ClassVar[int | None] = None

    def __init__(self, d_model: int, layer_idx: int = 0) -> None:
        super().__init__()
        self.d_model = d_model
        self.layer_idx = layer_idx

    def init_state(self, batch_size: int, device: torch.device | None, dtype: torch.dtype) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement init_state")

    def step(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError(f"{type(self).__name__} does not implement step")

    def state_size(self, length: int) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not implement state_size")

    def kernel_name(self, device: torch.device) -> str:
        return "ref"

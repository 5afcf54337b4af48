"""The adapter contract: a causal token mixer that also streams through `step`."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn


class Mixer(nn.Module):
    """Base class for architecture adapters (token mixers).

    Built as `Mixer(d_model, layer_idx, **options)`; every keyword of `__init__` after `layer_idx`
    is an option users may set (the registry validates them against the signature). Implement:

    - `forward(x[B,T,D]) -> y[B,T,D]`, causal;
    - `init_state(batch_size, device, dtype)` and `step(x[B,t,D], state) -> (y, state)`: the same
      function as `forward`, fed a chunk at a time;
    - `state_size(length)`: floats carried per sequence after `length` tokens, as an int (O(1) for
      recurrent mixers, grows with length for a KV cache).

    Attributes that tell the backbone and the harness how to treat the mixer:

    - `description`: one line for `statebench list` (default: the docstring's first sentence).

    - `default_mlp` ("gelu", "gated" or "none"): the MLP each block gets unless `mlp=` is passed.
    - `max_length`: None when any length works; otherwise the longest sequence the mixer accepts
      (it must raise beyond it). Set it on the instance when it depends on an option.
    - `parameter_free`: True for a mixer that has no trainable parameter on purpose (a fixed
      filter); conformance refuses a mixer without one otherwise, since nothing in it learns.
    - `conformance_options`: the option sets `models.testing.check_adapter` is run with by the
      test suite, one check per dict. List the options that change the code path (positional
      encodings, kernels, eigenvalue ranges, windows); the default is one check with defaults.
    - `kernel_name(device)`: the code path that runs on `device` ("ref", "sdpa", ...); it is
      recorded on every result row, so it must be truthful, not aspirational.
      `step_kernel_name(device)` is the path of `step` (recorded on probe rows) when it differs.
    - `time_parallel`: True when training runs parallel over time (attention, linear recurrences
      with a scan), False for a true serial update h_t = f(h_{t-1}, x_t) (recurrence-complete),
      None when undeclared. The report groups its conjecture table by it; a mixer whose answer
      depends on an option overrides `is_time_parallel(options)`.
    """

    description: ClassVar[str] = ""
    default_mlp: ClassVar[str] = "gelu"
    time_parallel: ClassVar[bool | None] = None

    @classmethod
    def is_time_parallel(cls, options: dict[str, Any]) -> bool | None:
        """Whether the mixer built with `options` is time-parallel (see `time_parallel`)."""
        return cls.time_parallel

    max_length: int | None = None
    parameter_free: ClassVar[bool] = False
    conformance_options: ClassVar[list[dict[str, Any]]] = [{}]

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

    def step_kernel_name(self, device: torch.device) -> str:
        """The path `step` takes (streaming); the same as `forward`'s unless a mixer says not."""
        return self.kernel_name(device)

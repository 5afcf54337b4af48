"""LSTM: the recurrent baseline (cuDNN on GPU). Each layer is one nn.LSTM carrying (h, c).

Whether nn.LSTM runs cuDNN or torch's native cell depends on the dtype and on the torch and cuDNN
versions (older releases send bf16 to the native cell), so the kernel label is read off what a
tiny LSTM of the same device and dtype actually dispatched to, not guessed from versions.
"""

from __future__ import annotations

import functools

import torch
from statebench.models.base import Mixer
from statebench.models.registry import register_arch
from torch import nn


@register_arch("lstm")
class LSTMMixer(Mixer):
    """One single-layer nn.LSTM per block, without an MLP: the gates already are one, and the
    classic stacked LSTM has none. State is O(1): h and c, d_model floats each."""

    description = "LSTM: one nn.LSTM layer per block, no MLP; a serial recurrence"

    time_parallel = False

    default_mlp = "none"

    def __init__(self, d_model: int, layer_idx: int = 0) -> None:
        super().__init__(d_model, layer_idx)
        self.lstm = nn.LSTM(d_model, d_model, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]

    def init_state(
        self, batch_size: int, device: torch.device | None, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.zeros(1, batch_size, self.d_model, device=device, dtype=dtype)
        return (z, z.clone())

    def step(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        return self.lstm(x, state)

    def state_size(self, length: int) -> int:
        return 2 * self.d_model

    def kernel_name(self, device: torch.device) -> str:
        device = torch.device(device)
        if device.type != "cuda":
            return "ref"
        if not (torch.backends.cudnn.enabled and torch.backends.cudnn.is_available()):
            return "native"
        return lstm_cuda_kernel(device, self.lstm.weight_ih_l0.dtype)


@functools.cache
def lstm_cuda_kernel(device: torch.device, dtype: torch.dtype) -> str:
    """ "cudnn" or "native": the autograd graph of a tiny LSTM on `device` in `dtype` names the
    implementation that ran (a CudnnRnnBackward node for cuDNN)."""
    lstm = nn.LSTM(8, 8).to(device=device, dtype=dtype)
    with torch.enable_grad():
        out = lstm(torch.zeros(2, 1, 8, device=device, dtype=dtype, requires_grad=True))[0]
    return "cudnn" if _graph_mentions(out.grad_fn, "cudnn") else "native"


def _graph_mentions(node, word: str, depth: int = 4) -> bool:
    """True if an autograd node within `depth` steps of `node` has `word` in its name."""
    if node is None or depth < 0:
        return False
    if word in type(node).__name__.lower() or word in node.name().lower():
        return True
    return any(_graph_mentions(n, word, depth - 1) for n, _ in node.next_functions)

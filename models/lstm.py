"""LSTM: the recurrent baseline (cuDNN on GPU). Each layer is one nn.LSTM carrying (h, c)."""

from __future__ import annotations

import torch
from statebench.models.base import Mixer
from statebench.models.registry import register_arch
from torch import nn


@register_arch("lstm")
class LSTMMixer(Mixer):
    """One single-layer nn.LSTM per block, without an MLP: the gates already are one, and the
    classic stacked LSTM has none. State is O(1): h and c, d_model floats each."""

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
        cudnn = torch.backends.cudnn.enabled and torch.backends.cudnn.is_available()
        return "cudnn" if device.type == "cuda" and cudnn else "ref"

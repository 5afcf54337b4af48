"""Depthwise causal 1-D convolution: Mamba's short convolution over time.

`causal_conv1d_torch` is F.conv1d with d_conv-1 zeros of left padding, so output t only sees inputs
<= t; it is the CPU path and the oracle. `causal_conv1d` takes the `causal-conv1d` package's
fused kernel when it imports and the input is on CUDA, else the reference. Both take x [B, D, L],
weight [D, W], bias [D] or None, activation None or "silu"/"swish", and return [B, D, L].
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

try:  # optional fused kernel; its absence (or a broken build) is never an error
    from causal_conv1d import causal_conv1d_fn as _fused_causal_conv1d
except Exception:  # noqa: BLE001  an ABI mismatch raises more than ImportError
    _fused_causal_conv1d = None

ACTIVATIONS = (None, "silu", "swish")


def fused_available(device: torch.device) -> bool:
    """True when `causal_conv1d` would run the fused kernel for tensors on `device`."""
    return _fused_causal_conv1d is not None and torch.device(device).type == "cuda"


def _check(x: torch.Tensor, weight: torch.Tensor, activation: str | None) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"causal_conv1d: activation={activation!r} is not one of {ACTIVATIONS}")
    if x.dim() != 3 or weight.dim() != 2 or weight.shape[0] != x.shape[1]:
        raise ValueError(
            f"causal_conv1d: expected x [B, D, L] and weight [D, W], got x {tuple(x.shape)} "
            f"and weight {tuple(weight.shape)}"
        )


def causal_conv1d_torch(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str | None = None,
) -> torch.Tensor:
    """out[:, d, t] = act(bias[d] + sum_k weight[d, k] * x[:, d, t - (W-1) + k]), zeros before 0."""
    _check(x, weight, activation)
    width = weight.shape[1]
    out = F.conv1d(F.pad(x, (width - 1, 0)), weight.unsqueeze(1), bias, groups=x.shape[1])
    return F.silu(out) if activation is not None else out


def causal_conv1d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str | None = None,
) -> torch.Tensor:
    """The fused kernel on CUDA when `causal-conv1d` is installed, else `causal_conv1d_torch`."""
    _check(x, weight, activation)
    if fused_available(x.device):
        return _fused_causal_conv1d(x, weight, bias, activation=activation)
    return causal_conv1d_torch(x, weight, bias, activation)

"""Depthwise causal 1-D convolution: Mamba's short convolution over time.

`causal_conv1d_torch` is F.conv1d with d_conv-1 zeros of left padding, so output t only sees inputs
<= t; it is the CPU path and the oracle. `causal_conv1d_cuda` is the `causal-conv1d` package's
kernel, and `causal_conv1d` takes it when it imports, the input is on CUDA and the width is one
the kernel has (2..4), else the torch path. Both take x [B, D, L],
weight [D, W], bias [D] or None, activation None or "silu"/"swish", and return [B, D, L].
"""

from __future__ import annotations

import torch
from statebench.models.ops.fused import optional_import
from torch.nn import functional as F

_found = optional_import("causal_conv1d", "causal_conv1d_fn")
_fused_causal_conv1d = _found[0] if _found else None

ACTIVATIONS = (None, "silu", "swish")
FUSED_WIDTHS = range(2, 5)  # the kernel is compiled for widths 2, 3 and 4 only


def fused_available(device: torch.device, width: int = 4) -> bool:
    """True when `causal_conv1d` would run the fused kernel for tensors on `device`."""
    return (
        _fused_causal_conv1d is not None
        and torch.device(device).type == "cuda"
        and width in FUSED_WIDTHS
    )


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
    """The fused kernel on CUDA when `causal-conv1d` is installed and the width is 2..4, else
    `causal_conv1d_torch`."""
    _check(x, weight, activation)
    if fused_available(x.device, weight.shape[1]):
        return causal_conv1d_cuda(x, weight, bias, activation)
    return causal_conv1d_torch(x, weight, bias, activation)


def causal_conv1d_cuda(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str | None = None,
) -> torch.Tensor:
    """The `causal-conv1d` kernel. It reads x as channel-first when its last stride is 1 and as
    channel-last (which needs D % 8 == 0 and 8-aligned strides) when its channel stride is 1; a
    transposed slice such as Mamba's in_proj output is neither safely, so any x whose time
    stride is not 1 is copied to channel-first strides first. Not with `x.contiguous()`: torch
    ignores the strides of size-1 dimensions, so a one-token [B, C, 1] transposed slice with
    strides (C, 1, C) counts as contiguous, is returned as it is, and reads as channel-last."""
    _check(x, weight, activation)
    if _fused_causal_conv1d is None:
        raise RuntimeError("causal_conv1d_cuda: causal-conv1d is not importable")
    if weight.shape[1] not in FUSED_WIDTHS:
        raise ValueError(f"causal_conv1d_cuda: width {weight.shape[1]} is not 2..4")
    if x.stride(-1) != 1:
        x = x.clone(memory_format=torch.contiguous_format)  # strides (C*L, L, 1), L = 1 too
    return _fused_causal_conv1d(x, weight.contiguous(), bias, activation=activation)

"""Positional encodings as plain functions of absolute positions.

Every function takes the positions explicitly (not a length) so that `step`, which sees a chunk
starting at position p, computes exactly what `forward` computes for the same tokens.
"""

from __future__ import annotations

import math

import torch


def sinusoidal(positions: torch.Tensor, dim: int, base: float = 10000.0) -> torch.Tensor:
    """The fixed encoding of Vaswani et al.: [T, dim], pe[p, 2i] = sin(p / base^(2i/dim)),
    pe[p, 2i+1] = cos(same). Computed in fp32; odd `dim` drops the last cosine."""
    half = (dim + 1) // 2
    inv_freq = base ** (-torch.arange(half, device=positions.device, dtype=torch.float32) * 2 / dim)
    angles = positions.to(torch.float32)[:, None] * inv_freq[None, :]
    pe = torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(-2)
    return pe[:, :dim]


def rope_angles(positions: torch.Tensor, head_dim: int, base: float = 10000.0) -> torch.Tensor:
    """Rotation angles [T, head_dim // 2] of RoPE (Su et al.), in fp32 whatever the model dtype:
    at long positions a half-precision angle would be off by whole radians."""
    if head_dim % 2:
        raise ValueError(f"rope needs an even head dimension, got {head_dim}")
    idx = torch.arange(head_dim // 2, device=positions.device, dtype=torch.float32)
    inv_freq = base ** (-idx * 2 / head_dim)
    return positions.to(torch.float32)[:, None] * inv_freq[None, :]


def apply_rope(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotate x [B, T, H, Dh] by its positions [T]; the half-split (GPT-NeoX / Llama) layout,
    which is also flash-attn's non-interleaved rotary. q.k then depends on positions only
    through their difference, which is why RoPE runs at any length."""
    angles = rope_angles(positions, x.shape[-1], base)[:, None, :]  # [T, 1, Dh/2]
    cos, sin = angles.cos(), angles.sin()
    x1, x2 = x.float().chunk(2, dim=-1)
    out = torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)
    return out.to(x.dtype)


def alibi_slopes(n_heads: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Per-head ALiBi slopes of Press et al. (2022): the geometric sequence 2^(-8i/n) for a power
    of two n; otherwise those of the nearest lower power of two, then every other slope of the
    next power of two (the reference implementation's rule)."""

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    lower = 2 ** int(math.floor(math.log2(n_heads)))
    slopes = power_of_two(lower)
    if lower < n_heads:
        slopes += power_of_two(2 * lower)[0::2][: n_heads - lower]
    return torch.tensor(slopes, dtype=torch.float32, device=device)


def alibi_bias(
    slopes: torch.Tensor, q_positions: torch.Tensor, k_positions: torch.Tensor
) -> torch.Tensor:
    """The additive attention bias [H, Tq, Tk] = -slope * (q_pos - k_pos), in fp32.

    Future keys get a positive value here; the causal mask removes them anyway.
    """
    distance = q_positions.to(torch.float32)[:, None] - k_positions.to(torch.float32)[None, :]
    return -slopes.to(torch.float32)[:, None, None] * distance

"""Mamba-2 (Dao & Gu 2024): the SSD block as a token mixer, optionally with negative eigenvalues.

The block is mamba_ssm's `Mamba2` (and transformers' `Mamba2Mixer`): in_proj -> (z, xBC, dt);
xBC -> depthwise causal conv -> SiLU -> (x, B, C); the SSD scan with a scalar decay per head
exp(softplus(dt + dt_bias) * A), A = -exp(A_log), B and C shared by the heads of each of
n_groups groups, and a D skip; then a gated RMSNorm, norm(y * SiLU(z)) per group, and out_proj.
Parameter names and shapes match transformers' `Mamba2Mixer`, so its weights load as they are.

`eigen="[-1,1]"` maps each head's decay to 2*exp(dt*A) - 1 as for our Mamba (Grazzi et al.
2025); the fused kernel has no such mode, so that variant always runs `ssd_torch`.

Streaming: the state is (the last d_conv-1 conv inputs [B, conv_dim, d_conv-1], the SSM state
[B, n_heads, head_dim, d_state] in fp32); `step` runs a chunk of any length through the same
chunked scan started from that state.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import ClassVar

import torch
from statebench.models.base import Mixer
from statebench.models.ops.causal_conv import causal_conv1d
from statebench.models.ops.selective_scan import EIGEN_MODES
from statebench.models.ops.ssd import fused_available, ssd
from statebench.models.registry import register_arch
from torch import nn
from torch.nn import functional as F


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"mamba2: {name}={value!r} must be an integer >= 1")
    return int(value)


class GatedRMSNorm(nn.Module):
    """RMSNorm of y * SiLU(z) over groups of channels (mamba_ssm's norm_before_gate=False)."""

    def __init__(self, dim: int, groups: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.groups, self.eps = groups, eps

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        dtype = y.dtype
        h = y.float() * F.silu(z.float())
        h = h.unflatten(-1, (self.groups, -1))
        h = h * torch.rsqrt(h.square().mean(-1, keepdim=True) + self.eps)
        return self.weight * h.flatten(-2).to(dtype)


@register_arch("mamba2")
class Mamba2Mixer(Mixer):
    """The Mamba-2 mixer. Options: d_state, d_conv, expand, head_dim (d_inner = expand*d_model
    must be a multiple of it), n_groups (groups of heads sharing B and C), chunk_size (of the
    chunked scan), dt_min/dt_max (range of the initial step size), eigen ("[0,1]" or "[-1,1]")."""

    description = "Mamba-2: state-space duality, a scalar decay per head, chunked scan"

    time_parallel = True

    default_mlp = "none"  # the block gates itself; Mamba-2 stacks have no MLP
    max_length = None
    conformance_options: ClassVar[list[dict]] = [
        {"eigen": "[0,1]"},
        {"eigen": "[-1,1]"},
        {"eigen": "[-1,1]", "n_groups": 2, "chunk_size": 4},  # several chunks and groups
    ]

    def __init__(
        self,
        d_model: int,
        layer_idx: int = 0,
        d_state: int = 32,
        d_conv: int = 4,
        expand: float = 2,
        head_dim: int = 16,
        n_groups: int = 1,
        chunk_size: int = 64,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        eigen: str = "[0,1]",
    ) -> None:
        super().__init__(d_model, layer_idx)
        self.d_state = _positive_int("d_state", d_state)
        self.d_conv = _positive_int("d_conv", d_conv)
        self.head_dim = _positive_int("head_dim", head_dim)
        self.n_groups = _positive_int("n_groups", n_groups)
        self.chunk_size = _positive_int("chunk_size", chunk_size)
        if isinstance(expand, bool) or not isinstance(expand, Real) or int(expand * d_model) < 1:
            raise ValueError(f"mamba2: expand={expand!r} must be a number with expand*d_model >= 1")
        self.d_inner = int(expand * d_model)
        if self.d_inner % self.head_dim:
            raise ValueError(
                f"mamba2: d_inner = expand*d_model = {self.d_inner} is not a multiple of "
                f"head_dim={self.head_dim}"
            )
        self.n_heads = self.d_inner // self.head_dim
        if self.n_heads % self.n_groups:
            raise ValueError(
                f"mamba2: n_groups={self.n_groups} must divide the {self.n_heads} heads"
            )
        if not (isinstance(dt_min, Real) and isinstance(dt_max, Real) and 0 < dt_min <= dt_max):
            raise ValueError(f"mamba2: need 0 < dt_min <= dt_max, got {dt_min!r} and {dt_max!r}")
        if eigen not in EIGEN_MODES:
            raise ValueError(f"mamba2: eigen={eigen!r} is not one of {EIGEN_MODES}")
        self.eigen = eigen

        self.conv_dim = self.d_inner + 2 * self.n_groups * self.d_state
        self.in_proj = nn.Linear(d_model, self.d_inner + self.conv_dim + self.n_heads, bias=False)
        # Only nn.Conv1d's weight layout and init are used; the convolution runs through
        # models.ops.causal_conv.
        self.conv1d = nn.Conv1d(
            self.conv_dim, self.conv_dim, d_conv, groups=self.conv_dim, padding=d_conv - 1
        )
        self.dt_bias = nn.Parameter(torch.empty(self.n_heads))
        self.A_log = nn.Parameter(torch.empty(self.n_heads))
        self.D = nn.Parameter(torch.empty(self.n_heads))
        self.norm = GatedRMSNorm(self.d_inner, self.n_groups, eps=1e-5)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)
        self._init_ssm(dt_min, dt_max)

    @torch.no_grad()
    def _init_ssm(self, dt_min: float, dt_max: float, dt_floor: float = 1e-4) -> None:
        """mamba_ssm's init: A = -(1..n_heads), D = 1, steps log-uniform in [dt_min, dt_max]."""
        dt = torch.exp(
            torch.rand(self.n_heads) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        ).clamp(min=dt_floor)
        self.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus(dt_bias) == dt
        self.A_log.copy_(torch.log(torch.arange(1, self.n_heads + 1, dtype=torch.float32)))
        self.D.fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._mix(x, None)[0]

    def init_state(self, batch_size, device, dtype):
        conv = torch.zeros(batch_size, self.conv_dim, self.d_conv - 1, device=device, dtype=dtype)
        ssm = torch.zeros(  # fp32 always, like the scan's own state
            batch_size, self.n_heads, self.head_dim, self.d_state, device=device
        )
        return conv, ssm

    def step(self, x: torch.Tensor, state):
        return self._mix(x, state)

    def state_size(self, length: int) -> int:
        return self.conv_dim * (self.d_conv - 1) + self.n_heads * self.head_dim * self.d_state

    def kernel_name(self, device: torch.device) -> str:
        return "mamba_ssm" if fused_available(device, self.eigen) else "torch"

    def _mix(self, x: torch.Tensor, state):
        """The block on x [B, T, D]; from `state` when given (step), else from zeros (forward)."""
        batch, length, _ = x.shape
        z, xbc, dt = self.in_proj(x).split([self.d_inner, self.conv_dim, self.n_heads], dim=-1)
        xbc = xbc.transpose(1, 2)  # [B, conv_dim, T]
        if state is not None:  # prepend the last d_conv-1 inputs, drop their outputs below
            window, h0 = state
            xbc = torch.cat([window.to(xbc.dtype), xbc], dim=2)
            window = xbc[:, :, xbc.shape[2] - (self.d_conv - 1) :].clone()
        else:
            h0 = None
        weight = self.conv1d.weight.squeeze(1)
        xbc = causal_conv1d(xbc, weight, self.conv1d.bias, activation="silu")[:, :, -length:]
        xs, B, C = xbc.transpose(1, 2).split(
            [self.d_inner, self.n_groups * self.d_state, self.n_groups * self.d_state], dim=-1
        )
        result = ssd(
            xs.reshape(batch, length, self.n_heads, self.head_dim),
            dt,
            -torch.exp(self.A_log.float()),
            B.reshape(batch, length, self.n_groups, self.d_state),
            C.reshape(batch, length, self.n_groups, self.d_state),
            self.chunk_size,
            D=self.D,
            dt_bias=self.dt_bias,
            initial_states=h0,
            dt_softplus=True,
            return_final_states=state is not None,
            eigen=self.eigen,
        )
        y, h = result if state is not None else (result, None)
        out = self.out_proj(self.norm(y.reshape(batch, length, self.d_inner), z))
        return out, (None if state is None else (window, h))

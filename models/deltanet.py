"""DeltaNet (Yang et al. 2024) and Gated DeltaNet (Yang et al. 2025) as a token mixer.

The layer follows fla's `DeltaNet` / `GatedDeltaNet` layers:

    q, k, v  = SiLU(causal short conv(W_q x)), ... (k, v likewise)        per-channel, width d_conv
    q, k     = q / |q|, k / |k|                       per head (L2: the transition stays bounded)
    beta     = sigmoid(W_b x)                         in (0, 1), or 2 sigmoid(W_b x) in (0, 2)
    g        = -exp(A_log) softplus(W_a x + dt_bias)  (gated only: log of the decay alpha)
    o        = delta_rule(q, k, v, beta, g)           per head, state [dk, dv]
    y        = W_o(RMSNorm_head(o) * SiLU(W_g x))     (output gate; RMSNorm_head(o) without it)

`eigen="[-1,1]"` doubles beta (Grazzi et al. 2025, "Unlocking State-Tracking in Linear RNNs
Through Negative Eigenvalues"): each step's transition I - beta k k^T is then a generalized
Householder reflection, with eigenvalue 1 - beta in (-1, 1), so products of them can represent
permutations and one layer can compute parity; with "[0,1]" they cannot.

The three short convolutions run as one depthwise convolution over the concatenated channels
(the same function). Streaming: the state is (the last d_conv-1 conv inputs [B, channels,
d_conv-1], the delta-rule state [B, H, dk, dv] in fp32); `step` runs a chunk through the same
chunked kernel from that state.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from statebench.models.base import Mixer
from statebench.models.ops.causal_conv import causal_conv1d
from statebench.models.ops.delta_rule import delta_rule, delta_rule_kernel
from statebench.models.registry import register_arch
from torch import nn
from torch.nn import functional as F

EIGEN_MODES = ("[0,1]", "[-1,1]")
NORM_EPS = 1e-5


def _int_option(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"deltanet: {name}={value!r} must be an integer >= {minimum}")
    return value


def _bool_option(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"deltanet: {name}={value!r} must be true or false")
    return value


@register_arch("deltanet")
class DeltaNet(Mixer):
    """The delta-rule mixer. Options: n_heads, eigen ("[0,1]" or "[-1,1]"), gated (Gated DeltaNet's
    decay), output_gate, d_conv (short-convolution width), expand_v (value width / d_model),
    chunk_size (of the chunked CPU kernel)."""

    description = "DeltaNet: linear attention with a delta-rule state update"

    time_parallel = True

    default_mlp = "gated"  # fla's DeltaNet blocks pair the mixer with a SwiGLU MLP
    # chunk_size=4 sends the suite's length-16 checks through several chunks with ragged tails.
    conformance_options: ClassVar[list[dict]] = [
        {"eigen": "[0,1]"},
        {"eigen": "[-1,1]", "chunk_size": 4},
        {"gated": True, "eigen": "[0,1]", "chunk_size": 4},
        {"gated": True, "eigen": "[-1,1]"},
        {"output_gate": False},
    ]

    def __init__(
        self,
        d_model: int,
        layer_idx: int = 0,
        n_heads: int = 4,
        eigen: str = "[0,1]",
        gated: bool = False,
        output_gate: bool = True,
        d_conv: int = 4,
        expand_v: int = 1,
        chunk_size: int = 64,
    ) -> None:
        super().__init__(d_model, layer_idx)
        self.n_heads = _int_option("n_heads", n_heads, 1)
        self.d_conv = _int_option("d_conv", d_conv, 1)
        self.chunk_size = _int_option("chunk_size", chunk_size, 1)
        _int_option("expand_v", expand_v, 1)
        self.gated = _bool_option("gated", gated)
        self.output_gate = _bool_option("output_gate", output_gate)
        if eigen not in EIGEN_MODES:
            raise ValueError(f"deltanet: eigen={eigen!r} is not one of {EIGEN_MODES}")
        self.eigen = eigen
        if d_model % n_heads:
            raise ValueError(f"deltanet: d_model={d_model} must split into n_heads={n_heads}")
        self.key_dim = d_model // n_heads
        self.value_dim = expand_v * d_model // n_heads
        keys, values = d_model, expand_v * d_model
        self.channels = 2 * keys + values

        self.q_proj = nn.Linear(d_model, keys, bias=False)
        self.k_proj = nn.Linear(d_model, keys, bias=False)
        self.v_proj = nn.Linear(d_model, values, bias=False)
        self.b_proj = nn.Linear(d_model, n_heads, bias=False)
        # Only nn.Conv1d's weight layout and init are used; the conv runs in models.ops.
        self.conv1d = nn.Conv1d(
            self.channels, self.channels, d_conv, groups=self.channels, bias=False
        )
        if gated:
            self.a_proj = nn.Linear(d_model, n_heads, bias=False)
            self.A_log = nn.Parameter(torch.empty(n_heads))
            self.dt_bias = nn.Parameter(torch.empty(n_heads))
            self._init_decay()
        if output_gate:
            self.g_proj = nn.Linear(d_model, values, bias=False)
        self.o_norm = nn.Parameter(torch.ones(self.value_dim))
        self.o_proj = nn.Linear(values, d_model, bias=False)

    @torch.no_grad()
    def _init_decay(self, dt_min: float = 0.001, dt_max: float = 0.1) -> None:
        """Gated DeltaNet's (Mamba-2's) init: A uniform in [1, 16], step sizes log-uniform."""
        self.A_log.copy_(torch.empty(self.n_heads).uniform_(1, 16).log())
        dt = torch.exp(
            torch.rand(self.n_heads) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        ).clamp(min=1e-4)
        self.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus(dt_bias) == dt

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._mix(x, None)[0]

    def init_state(self, batch_size, device, dtype):
        conv = torch.zeros(batch_size, self.channels, self.d_conv - 1, device=device, dtype=dtype)
        shape = (batch_size, self.n_heads, self.key_dim, self.value_dim)
        return conv, torch.zeros(shape, device=device)  # the delta-rule state in fp32 always

    def step(self, x: torch.Tensor, state):
        return self._mix(x, state)

    def state_size(self, length: int) -> int:
        return self.channels * (self.d_conv - 1) + self.n_heads * self.key_dim * self.value_dim

    def kernel_name(self, device: torch.device) -> str:
        return delta_rule_kernel(device)

    def _mix(self, x: torch.Tensor, state):
        """The layer on x [B, T, D]; from `state` when given (step), else from zeros (forward)."""
        b, t, _ = x.shape
        qkv = torch.cat([self.q_proj(x), self.k_proj(x), self.v_proj(x)], dim=-1).transpose(1, 2)
        window, s0 = (None, None) if state is None else state
        if window is not None:  # prepend the last d_conv-1 inputs, drop their outputs below
            qkv = torch.cat([window.to(qkv.dtype), qkv], dim=2)
            window = qkv[:, :, qkv.shape[2] - (self.d_conv - 1) :].clone()
        qkv = causal_conv1d(qkv, self.conv1d.weight.squeeze(1), None, activation="silu")
        q, k, v = (
            qkv[:, :, -t:]
            .transpose(1, 2)
            .split([self.d_model, self.d_model, self.channels - 2 * self.d_model], dim=-1)
        )
        heads = (b, t, self.n_heads, -1)
        q, k = F.normalize(q.reshape(heads), dim=-1), F.normalize(k.reshape(heads), dim=-1)
        beta = torch.sigmoid(self.b_proj(x))
        if self.eigen == "[-1,1]":
            beta = 2 * beta
        g = None
        if self.gated:
            g = -self.A_log.float().exp() * F.softplus(self.a_proj(x).float() + self.dt_bias)
        o, s = delta_rule(q, k, v.reshape(heads), beta, g, None, s0, self.chunk_size)
        o = F.rms_norm(o, (self.value_dim,), self.o_norm, NORM_EPS).reshape(b, t, -1)
        if self.output_gate:
            o = o * F.silu(self.g_proj(x))
        y = self.o_proj(o)
        return y, (None if state is None else (window, s))

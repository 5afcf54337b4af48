"""RetNet (Sun et al. 2023, "Retentive Network"): multi-scale retention as a token mixer.

    q, k, v, g = W_q x, W_k x * dk^-0.5, W_v x, W_g x         (no biases)
    q, k       = theta-rotation of q, k by absolute position   (relative after q.k)
    o          = retention(q, k, v) per head, decay gamma_h = 1 - 2^(-5-h)
    y          = W_o( Norm_head(o) * swish(g) )

The reference followed is torchscale's `MultiScaleRetention` as it now ships (cited because the
paper leaves details open): rotary "theta" rotation on interleaved pairs with frequencies
1 / 10000^linspace(0, 1, dk/2), without the xPos length scaling of the paper's first version;
the per-head "GroupNorm" as a per-head RMSNorm without affine parameters; Xavier init with gain
2^-2.5 on q, k, v, g. Values are `value_factor` times wider than the model (2 in the paper).
The block's FFN is the backbone's GeLU MLP (the paper's FFN; later torchscale uses a GLU).

The state is O(1): S [B, H, dk, dv] plus the next position (for the rotation).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from statebench.models.base import Mixer
from statebench.models.ops.retention import retention, retention_kernel, retnet_gammas
from statebench.models.registry import register_arch
from torch import nn
from torch.nn import functional as F

NORM_EPS = 1e-6  # torchscale's layernorm_eps


class RetentionState(NamedTuple):
    """S [B, H, dk, dv] after the tokens seen so far, and how many there were."""

    kv: torch.Tensor
    pos: int


def _theta_shift(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs (x0, x1), (x2, x3), ... of x [B, H, T, dk] by angles [T, dk/2]."""
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x1 * cos + x0 * sin), dim=-1).flatten(-2)


def _int_option(name: str, value, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"retnet: {name}={value!r} must be an integer >= {minimum}")
    return value


@register_arch("retnet")
class RetNet(Mixer):
    """Multi-scale retention; `forward` runs the chunkwise form, `step` continues it."""

    description = "RetNet: multi-scale retention (linear attention with fixed decays)"

    time_parallel = True

    default_mlp = "gelu"
    # chunk_size=4 puts the suite's lengths through the multi-chunk scan with ragged tails.
    conformance_options = [{}, {"chunk_size": 4}]

    def __init__(
        self,
        d_model: int,
        layer_idx: int = 0,
        n_heads: int = 4,
        value_factor: int = 2,
        chunk_size: int = 64,
    ) -> None:
        super().__init__(d_model, layer_idx)
        _int_option("n_heads", n_heads)
        _int_option("value_factor", value_factor)
        _int_option("chunk_size", chunk_size)
        if d_model % n_heads or (d_model // n_heads) % 2:
            raise ValueError(
                f"retnet: d_model={d_model} must split into n_heads={n_heads} heads of even size "
                "(the rotation turns pairs of dimensions)"
            )
        self.n_heads = n_heads
        self.key_dim = d_model // n_heads
        self.value_dim = value_factor * d_model // n_heads
        self.chunk_size = chunk_size
        dv_total = self.value_dim * n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, dv_total, bias=False)
        self.g_proj = nn.Linear(d_model, dv_total, bias=False)
        self.out_proj = nn.Linear(dv_total, d_model, bias=False)
        for lin in (self.q_proj, self.k_proj, self.v_proj, self.g_proj):
            nn.init.xavier_uniform_(lin.weight, gain=2**-2.5)
        nn.init.xavier_uniform_(self.out_proj.weight)

    def _angles(self, pos: int, t: int, device) -> torch.Tensor:
        """Rotation angles [t, dk/2] of positions pos..pos+t-1, in fp64: exact at any length."""
        freqs = 10000.0 ** -torch.linspace(0, 1, self.key_dim // 2, dtype=torch.float64)
        positions = torch.arange(pos, pos + t, dtype=torch.float64)
        return (positions[:, None] * freqs[None, :]).to(device)

    def _heads(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.n_heads, dim).transpose(1, 2)

    def _mix(
        self, x: torch.Tensor, kv: torch.Tensor | None, pos: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, _ = x.shape
        q = self._heads(self.q_proj(x), self.key_dim)
        k = self._heads(self.k_proj(x), self.key_dim) * self.key_dim**-0.5
        v = self._heads(self.v_proj(x), self.value_dim)
        angles = self._angles(pos, t, x.device)
        q, k = _theta_shift(q, angles), _theta_shift(k, angles)
        # Fixed (not learned) decays, as in the paper; built per call so no dtype cast of the
        # module can round them (1 - 2^-12 is 1 in half precision).
        gamma = retnet_gammas(self.n_heads, torch.promote_types(x.dtype, torch.float32), x.device)
        o, kv = retention(q, k, v, gamma, kv, self.chunk_size)
        o = F.rms_norm(o, (self.value_dim,), eps=NORM_EPS)
        o = o.transpose(1, 2).reshape(b, t, -1)
        return self.out_proj(o * F.silu(self.g_proj(x))), kv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._mix(x, None, 0)[0]

    def init_state(self, batch_size, device, dtype) -> RetentionState:
        kv = torch.zeros(
            batch_size, self.n_heads, self.key_dim, self.value_dim, device=device, dtype=dtype
        )
        return RetentionState(kv, 0)

    def step(self, x: torch.Tensor, state: RetentionState) -> tuple[torch.Tensor, RetentionState]:
        y, kv = self._mix(x, state.kv, state.pos)
        return y, RetentionState(kv, state.pos + x.shape[1])

    def state_size(self, length: int) -> int:
        return self.n_heads * self.key_dim * self.value_dim

    def kernel_name(self, device: torch.device) -> str:
        return retention_kernel(device)

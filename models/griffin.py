"""Griffin and Hawk (De et al. 2024), laid out as Google's RecurrentGemma.

Each residual block's temporal mixer is one of two kinds, by layer:

- recurrent: two branches of the input, y = GeLU(W_y x) and x' = RG-LRU(Conv1D(W_x x)) (causal
  depthwise conv, width 4), merged as W_out(x' * y). See models/ops/rglru.py for the RG-LRU.
- attention: local multi-query attention (many query heads, one key/value head) over a sliding
  window, with RoPE on the first half of each head's dimensions (RecurrentGemma's
  partial_rotary_factor = 0.5).

`griffin` repeats `pattern` over the layers: "rra" (RecurrentGemma's block_types, recurrent,
recurrent, attention: layer_idx % 3 == 2 is attention) unless told otherwise; `hawk` is
recurrent only. Every block is followed by the backbone's gated GeLU MLP (default_mlp = "gated").

Defaults: lru_width = d_model (RecurrentGemma's default), n_heads = 4 (the RG-LRU's gate blocks
and the query heads, as RecurrentGemma shares the count), window = 32. RecurrentGemma's 2048 is
sized for an 8k-token language-model context; statebench trains on up to ~40 tokens (bench's
default len_max), and a window no wider than the training lengths means every relative distance
the attention meets at evaluation was seen in training, as in the paper (window < context).

Init: RecurrentGemma's for the RG-LRU (a^c spread in [0.9, 0.999], gate weights of std
sqrt(1 / block width)) and the conv; PyTorch defaults for the linear maps (RecurrentGemma
scales its output projection by the depth, which a mixer does not know).

`step` carries, per recurrent layer, the conv's last width-1 inputs and h (O(1)); per attention
layer, keys and values of the last `window` tokens (bounded by the window: a query sees the
`window` tokens before it and itself, RecurrentGemma's mask). Both carry the next
position: the RG-LRU treats position 0 specially (see rglru.py) and RoPE needs it.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch
from statebench.models.base import Mixer
from statebench.models.ops.local_attention import local_attention, local_attention_kernel
from statebench.models.ops.positional import apply_rope
from statebench.models.ops.rglru import rglru, scan_kernel
from statebench.models.registry import register_arch
from torch import nn
from torch.nn import functional as F

BLOCK_KINDS = {"r": "recurrent", "a": "attention"}


class RecurrentState(NamedTuple):
    conv: torch.Tensor  # [B, conv_width - 1, L]: the last inputs of the conv
    h: torch.Tensor  # [B, L], in at least fp32
    pos: int


class AttentionState(NamedTuple):
    k: torch.Tensor  # [B, <= window, head_dim]: keys after RoPE
    v: torch.Tensor
    pos: int


class RecurrentBlock(nn.Module):
    """Griffin's recurrent block; parameter names and layouts follow RecurrentGemma's."""

    def __init__(self, d_model: int, lru_width: int, n_heads: int, conv_width: int) -> None:
        super().__init__()
        bw = lru_width // n_heads
        self.conv_width = conv_width
        self.linear_y = nn.Linear(d_model, lru_width)
        self.linear_x = nn.Linear(d_model, lru_width)
        self.linear_out = nn.Linear(lru_width, d_model)
        # conv_weight[j] multiplies the input conv_width - 1 - j steps before the output.
        conv_std = (0.01 / conv_width) ** 0.5
        self.conv_weight = nn.Parameter(torch.randn(conv_width, lru_width) * conv_std)
        self.conv_bias = nn.Parameter(torch.zeros(lru_width))
        self.a_param = nn.Parameter(torch.empty(lru_width))
        # RecurrentGemma's BlockDiagonalLinear: std sqrt(1 / block width).
        self.gate_x_weight = nn.Parameter(torch.randn(n_heads, bw, bw) * (1.0 / bw) ** 0.5)
        self.gate_x_bias = nn.Parameter(torch.zeros(n_heads, bw))
        self.gate_a_weight = nn.Parameter(torch.randn(n_heads, bw, bw) * (1.0 / bw) ** 0.5)
        self.gate_a_bias = nn.Parameter(torch.zeros(n_heads, bw))
        with torch.no_grad():  # RecurrentGemma's: a = exp(-softplus(Lambda)) in [0.9, 0.999]
            a = torch.empty(lru_width).uniform_(0.9**2, 0.999**2).sqrt()
            self.a_param.copy_(torch.log(1 / a - 1))
        self.a_param._no_weight_decay = True  # as mamba_ssm exempts A_log: the decay rates

    def _conv(self, x: torch.Tensor, tail: torch.Tensor | None):
        """Causal depthwise conv as conv_width shifted multiply-adds; returns (y, new tail)."""
        t, width = x.shape[1], self.conv_width
        if tail is None:
            tail = x.new_zeros(x.shape[0], width - 1, x.shape[2])
        full = torch.cat((tail.to(x.dtype), x), dim=1)  # [B, width - 1 + T, L]
        y = self.conv_bias + full[:, width - 1 :] * self.conv_weight[-1]
        for j in range(width - 1):  # over the kernel's taps, not over time
            y = torch.addcmul(y, full[:, j : j + t], self.conv_weight[j])
        return y, full[:, full.shape[1] - (width - 1) :]

    def forward(
        self, x: torch.Tensor, state: RecurrentState | None
    ) -> tuple[torch.Tensor, RecurrentState]:
        pos = 0 if state is None else state.pos
        y = F.gelu(self.linear_y(x), approximate="tanh")
        xb, tail = self._conv(self.linear_x(x), None if state is None else state.conv)
        h = rglru(
            xb,
            self.a_param,
            self.gate_x_weight,
            self.gate_x_bias,
            self.gate_a_weight,
            self.gate_a_bias,
            h0=None if state is None else state.h,
            fresh=pos == 0,
        )
        out = self.linear_out(h.to(x.dtype) * y)
        return out, RecurrentState(tail, h[:, -1], pos + x.shape[1])

    def kernel_name(self, device: torch.device) -> str:
        return scan_kernel(device)


class LocalAttentionBlock(nn.Module):
    """Sliding-window MQA with partial RoPE; projections as RecurrentGemma's attention."""

    def __init__(self, d_model: int, n_heads: int, window: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.rope_dim = self.head_dim // 2
        self.window = window
        self.q_proj = nn.Linear(d_model, n_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(d_model, self.head_dim, bias=False)
        self.v_proj = nn.Linear(d_model, self.head_dim, bias=False)
        self.o_proj = nn.Linear(n_heads * self.head_dim, d_model, bias=True)

    def _rope(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        r = self.rope_dim
        return torch.cat((apply_rope(x[..., :r], positions), x[..., r:]), dim=-1)

    def forward(
        self, x: torch.Tensor, state: AttentionState | None
    ) -> tuple[torch.Tensor, AttentionState]:
        b, t, _ = x.shape
        pos = 0 if state is None else state.pos
        positions = torch.arange(pos, pos + t, device=x.device)
        q = self._rope(self.q_proj(x).view(b, t, self.n_heads, self.head_dim), positions)
        k = self._rope(self.k_proj(x).view(b, t, 1, self.head_dim), positions)[:, :, 0]
        v = self.v_proj(x)
        if state is not None:
            k, v = torch.cat((state.k, k), dim=1), torch.cat((state.v, v), dim=1)
        o = local_attention(q, k, v, self.window)
        keep = min(self.window, k.shape[1])
        new = AttentionState(k[:, k.shape[1] - keep :], v[:, v.shape[1] - keep :], pos + t)
        return self.o_proj(o.reshape(b, t, -1)), new

    def kernel_name(self, device: torch.device) -> str:
        return local_attention_kernel(device, self.q_proj.weight.dtype, self.head_dim)


def _int_option(arch: str, name: str, value, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{arch}: {name}={value!r} must be an integer >= {minimum}")
    return value


class _GriffinFamily(Mixer):
    """One layer of a Griffin-family model: its kind is pattern[layer_idx % len(pattern)]."""

    time_parallel = True

    default_mlp = "gated"
    arch: ClassVar[str] = "griffin"

    def _setup(
        self, pattern: str, n_heads: int, lru_width: int | None, conv_width: int, window: int
    ) -> None:
        a = self.arch
        if not isinstance(pattern, str) or not pattern or set(pattern) - set(BLOCK_KINDS):
            raise ValueError(
                f"{a}: pattern={pattern!r} must be a non-empty string of 'r' (recurrent) and "
                "'a' (local attention), e.g. 'rra'"
            )
        _int_option(a, "n_heads", n_heads)
        _int_option(a, "conv_width", conv_width)
        _int_option(a, "window", window)
        lru_width = self.d_model if lru_width is None else _int_option(a, "lru_width", lru_width)
        self.kind = BLOCK_KINDS[pattern[self.layer_idx % len(pattern)]]
        if self.kind == "recurrent":
            if lru_width % n_heads:
                raise ValueError(
                    f"{a}: lru_width={lru_width} must split into n_heads={n_heads} gate blocks"
                )
            self.block = RecurrentBlock(self.d_model, lru_width, n_heads, conv_width)
            self._state_floats = lru_width * conv_width  # conv tail (width - 1) + h
        else:
            head_dim = self.d_model // n_heads if self.d_model % n_heads == 0 else 0
            if head_dim < 4 or head_dim % 4:
                raise ValueError(
                    f"{a}: d_model={self.d_model} must split into n_heads={n_heads} heads of a "
                    "size divisible by 4 (RoPE turns pairs in half of each head)"
                )
            self.block = LocalAttentionBlock(self.d_model, n_heads, window)
            self._state_floats = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x, None)[0]

    def init_state(self, batch_size, device, dtype):
        blk = self.block
        if isinstance(blk, RecurrentBlock):
            width = blk.linear_x.out_features
            conv = torch.zeros(batch_size, blk.conv_width - 1, width, device=device, dtype=dtype)
            acc = torch.promote_types(dtype, torch.float32)  # RecurrentGemma keeps h in fp32
            h = torch.zeros(batch_size, width, device=device, dtype=acc)
            return RecurrentState(conv, h, 0)
        kv = torch.zeros(batch_size, 0, blk.head_dim, device=device, dtype=dtype)
        return AttentionState(kv, kv.clone(), 0)

    def step(self, x: torch.Tensor, state):
        return self.block(x, state)

    def state_size(self, length: int) -> int:
        if isinstance(self.block, LocalAttentionBlock):
            return 2 * self.block.head_dim * min(length, self.block.window)
        return self._state_floats

    def kernel_name(self, device: torch.device) -> str:
        return self.block.kernel_name(device)


@register_arch("griffin")
class Griffin(_GriffinFamily):
    """Griffin: RG-LRU recurrent blocks mixed with local attention, two to one by default."""

    description = "Griffin: RG-LRU recurrent blocks mixed with local attention, 2 to 1"

    arch = "griffin"
    # window 4 < the suite's lengths, and "ra" puts an attention layer in a 2-layer model.
    conformance_options = [{}, {"window": 4, "pattern": "ra"}]

    def __init__(
        self,
        d_model: int,
        layer_idx: int = 0,
        pattern: str = "rra",
        n_heads: int = 4,
        lru_width: int | None = None,
        conv_width: int = 4,
        window: int = 32,
    ) -> None:
        super().__init__(d_model, layer_idx)
        self._setup(pattern, n_heads, lru_width, conv_width, window)


@register_arch("hawk")
class Hawk(_GriffinFamily):
    """Hawk: Griffin's recurrent block in every layer, no attention."""

    description = "Hawk: Griffin's RG-LRU recurrent block in every layer, no attention"

    arch = "hawk"
    conformance_options = [{}]

    def __init__(
        self,
        d_model: int,
        layer_idx: int = 0,
        n_heads: int = 4,
        lru_width: int | None = None,
        conv_width: int = 4,
    ) -> None:
        super().__init__(d_model, layer_idx)
        self._setup("r", n_heads, lru_width, conv_width, window=1)


__all__ = ["Griffin", "Hawk", "LocalAttentionBlock", "RecurrentBlock"]

"""Transformer: causal multi-head self-attention, the fully parallel baseline.

`pos` picks the positional encoding, the main thing that decides how attention extrapolates:
none (NoPE: causal masking alone leaks position), sinusoidal, learned (has a maximum length),
rope (rotary, on q and k in every layer) or alibi (a per-head linear distance bias).

Absolute encodings (sinusoidal, learned) live in the first layer's mixer, since the backbone has
no positional logic: layer 0 adds the encoding to its input and to its output. Its attention
sees positions, and the output enters the residual stream, so later layers see them too: the
classic "add to the embedding once" Transformer, up to where the first norm sits, and with one
learned table rather than one per layer.

`step` keeps a KV cache (keys after RoPE), so streaming costs O(length) memory per layer.

Kernel (recorded on every result row): "flash_attn" on CUDA in fp16/bf16 where flash-attn
imports, else "sdpa", on CPU too. torch's SDPA is a built-in with a CPU kernel that never
materializes the T x T scores, so it is the CPU path; `attention_naive` is only the test oracle.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from statebench.models.base import Mixer
from statebench.models.ops.attention import attention_kernel, causal_attention
from statebench.models.ops.positional import alibi_slopes, apply_rope, sinusoidal
from statebench.models.registry import register_arch
from torch import nn

POS_KINDS = ("none", "sinusoidal", "learned", "rope", "alibi")


class KVCache(NamedTuple):
    """Keys and values [B, length, H, Dh] of every token seen; `length` is the next position."""

    k: torch.Tensor
    v: torch.Tensor

    @property
    def length(self) -> int:
        return self.k.shape[1]


def default_heads(d_model: int) -> int:
    """4 heads when the width allows an even head size (RoPE rotates pairs), else fewer."""
    for h in (4, 2):
        if d_model % (2 * h) == 0:
            return h
    return 1


@register_arch("transformer")
class TransformerMixer(Mixer):
    """Pre-norm causal self-attention; the backbone adds the GeLU MLP."""

    description = "Transformer: pre-norm causal self-attention and a GeLU MLP"

    time_parallel = True

    default_mlp = "gelu"
    conformance_options = [{"pos": p} for p in POS_KINDS]

    def __init__(
        self,
        d_model: int,
        layer_idx: int = 0,
        n_heads: int | None = None,
        pos: str = "rope",
        max_len: int = 4096,
        rope_base: float = 10000.0,
    ) -> None:
        super().__init__(d_model, layer_idx)
        if pos not in POS_KINDS:
            raise ValueError(f"transformer: pos={pos!r} is not one of {POS_KINDS}")
        n_heads = default_heads(d_model) if n_heads is None else n_heads
        if not isinstance(n_heads, int) or n_heads < 1 or d_model % n_heads:
            raise ValueError(f"transformer: n_heads={n_heads!r} must divide d_model={d_model}")
        if pos == "rope" and (d_model // n_heads) % 2:
            raise ValueError(
                f"transformer: pos='rope' needs an even head size; d_model={d_model} / "
                f"n_heads={n_heads} = {d_model // n_heads}"
            )
        if pos == "learned" and (not isinstance(max_len, int) or max_len < 1):
            raise ValueError(f"transformer: max_len={max_len!r} must be an integer >= 1")
        self.n_heads, self.head_dim = n_heads, d_model // n_heads
        self.pos, self.rope_base = pos, rope_base
        self.max_length = max_len if pos == "learned" else None
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)
        self.pos_embed = None
        if pos == "learned" and layer_idx == 0:
            self.pos_embed = nn.Embedding(max_len, d_model)
            nn.init.normal_(self.pos_embed.weight, std=0.02)
        self.last_kernel: tuple[str, str] | None = None  # (device type, path) of the last call

    def _absolute(self, positions: torch.Tensor, x: torch.Tensor) -> torch.Tensor | None:
        if self.layer_idx != 0 or self.pos not in ("sinusoidal", "learned"):
            return None
        if self.pos_embed is not None:
            return self.pos_embed(positions)
        return sinusoidal(positions, self.d_model).to(x.dtype)

    def _attend(
        self, x: torch.Tensor, cache: KVCache | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Attention of the chunk x [B, T, D] over the cache and itself; returns y and new k, v."""
        b, t, d = x.shape
        start = 0 if cache is None else cache.length
        if self.max_length is not None and start + t > self.max_length:
            raise ValueError(
                f"transformer with pos='learned' has max_len={self.max_length} positions; "
                f"got a sequence of length {start + t} (pass a larger max_len)"
            )
        positions = torch.arange(start, start + t, device=x.device)
        pe = self._absolute(positions, x)
        if pe is not None:
            x = x + pe
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, self.head_dim).unbind(2)
        if self.pos == "rope":
            q = apply_rope(q, positions, self.rope_base)
            k = apply_rope(k, positions, self.rope_base)
        if cache is not None:
            k, v = torch.cat((cache.k, k), dim=1), torch.cat((cache.v, v), dim=1)
        slopes = alibi_slopes(self.n_heads, x.device) if self.pos == "alibi" else None
        self.last_kernel = (x.device.type, attention_kernel(q.device, q.dtype, self.head_dim))
        y = self.out(causal_attention(q, k, v, slopes).reshape(b, t, d))
        if pe is not None:
            y = y + pe  # puts the encoding in the residual stream for the layers above
        return y, k, v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._attend(x, None)[0]

    def init_state(self, batch_size, device, dtype) -> KVCache:
        empty = torch.zeros(batch_size, 0, self.n_heads, self.head_dim, device=device, dtype=dtype)
        return KVCache(empty, empty.clone())

    def step(self, x: torch.Tensor, state: KVCache) -> tuple[torch.Tensor, KVCache]:
        y, k, v = self._attend(x, state)
        return y, KVCache(k, v)

    def state_size(self, length: int) -> int:
        return 2 * int(length) * self.d_model  # keys and values of every token seen

    def kernel_name(self, device: torch.device) -> str:
        """The path the last call took on this device type, else the one a call would take
        with the parameters' dtype (under autocast on CUDA the last call is what counts)."""
        if self.last_kernel is not None and self.last_kernel[0] == device.type:
            return self.last_kernel[1]
        return attention_kernel(device, self.qkv.weight.dtype, self.head_dim)

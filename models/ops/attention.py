"""Causal multi-head attention: an explicit fp32 reference and fast paths with one signature.

All take q [B, Tq, H, Dh] and k, v [B, Tk, H, Dh] with Tk >= Tq (flash-attn's layout), and
optional ALiBi `alibi_slopes` [H]. When Tk > Tq the keys include a KV cache: query i sits at
absolute position Tk - Tq + i (the causal mask is aligned bottom-right), so a chunk fed through
`step` attends to exactly the keys `forward` lets it see.

Paths: `attention_naive` (the oracle: softmax(QK^T/sqrt(d) + bias + mask)V in fp32),
`attention_sdpa` (torch's scaled_dot_product_attention, on any device) and `attention_flash`
(flash-attn, CUDA and fp16/bf16 only). `causal_attention` picks the fastest that applies.
"""

from __future__ import annotations

import torch
from statebench.models.ops.fused import cuda_capability, optional_import
from statebench.models.ops.positional import alibi_bias
from torch.nn import functional as F

# optional: its absence (or a broken CUDA build) only means SDPA runs instead
_found = optional_import("flash_attn", "flash_attn_func")
flash_attn_func = _found[0] if _found else None

FLASH_DTYPES = (torch.float16, torch.bfloat16)
FLASH_MIN_CAPABILITY = (8, 0)  # flash-attn 2 runs on Ampere or newer and refuses older cards


def _positions(q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    tq, tk = q.shape[1], k.shape[1]
    if tk < tq:
        raise ValueError(f"causal attention needs at least as many keys as queries ({tk} < {tq})")
    k_pos = torch.arange(tk, device=q.device)
    return k_pos[tk - tq :], k_pos


def _bias(q, k, alibi_slopes, dtype) -> torch.Tensor:
    """Float mask [H or 1, Tq, Tk]: ALiBi (if any) where allowed, -inf on future keys."""
    q_pos, k_pos = _positions(q, k)
    future = k_pos[None, :] > q_pos[:, None]
    if alibi_slopes is None:
        bias = torch.zeros(1, *future.shape, device=q.device, dtype=torch.float32)
    else:
        bias = alibi_bias(alibi_slopes, q_pos, k_pos)
    return bias.masked_fill(future, float("-inf")).to(dtype)


def attention_naive(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    alibi_slopes: torch.Tensor | None = None,
    *,
    upcast: bool = True,
) -> torch.Tensor:
    """The oracle: every step written out, in fp32, returned in q's dtype. `upcast=False`
    computes in q's dtype instead: the low-precision baseline that fused paths are held to."""
    out_dtype, dtype = q.dtype, torch.float32 if upcast else q.dtype
    q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)
    scores = torch.einsum("bqhd,bkhd->bhqk", q, k) * q.shape[-1] ** -0.5
    scores = scores + _bias(q, k, alibi_slopes, dtype)
    out = torch.einsum("bhqk,bkhd->bqhd", scores.softmax(dim=-1), v)
    return out.to(out_dtype)


def attention_sdpa(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, alibi_slopes: torch.Tensor | None = None
) -> torch.Tensor:
    """torch SDPA. The plain causal case uses `is_causal` (its flash/efficient kernels); a cache
    or ALiBi needs an explicit float mask, since `is_causal` aligns top-left. SDPA wants the mask
    in q's dtype, and an ALiBi bias in bf16 is off by whole steps at long distances (0.0625 at
    distance 4096 for slope 2^-8), so with ALiBi low-precision inputs are computed in fp32."""
    _positions(q, k)  # validates Tk >= Tq
    if alibi_slopes is not None and q.dtype in FLASH_DTYPES:
        wide = (t.float() for t in (q, k, v))
        return attention_sdpa(*wide, alibi_slopes).to(q.dtype)
    qt, kt, vt = (t.transpose(1, 2) for t in (q, k, v))
    if alibi_slopes is None and q.shape[1] == k.shape[1]:
        out = F.scaled_dot_product_attention(qt, kt, vt, is_causal=True)
    elif alibi_slopes is None and q.shape[1] == 1:  # one new token sees the whole cache
        out = F.scaled_dot_product_attention(qt, kt, vt)
    else:
        out = F.scaled_dot_product_attention(
            qt, kt, vt, attn_mask=_bias(q, k, alibi_slopes, q.dtype)
        )
    return out.transpose(1, 2)


def attention_flash(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, alibi_slopes: torch.Tensor | None = None
) -> torch.Tensor:
    """flash-attn (v2.4+): causal is bottom-right aligned and ALiBi is native, as here."""
    if flash_attn_func is None:
        raise RuntimeError("flash-attn is not installed")
    slopes = None if alibi_slopes is None else alibi_slopes.to(torch.float32)
    return flash_attn_func(q, k, v, causal=True, alibi_slopes=slopes)


def flash_usable(device: torch.device, dtype: torch.dtype, head_dim: int) -> bool:
    """flash-attn imports, and runs these tensors: CUDA, capability >= 8.0, fp16/bf16, a head
    size that is a multiple of 8 up to 256."""
    if flash_attn_func is None or dtype not in FLASH_DTYPES:
        return False
    if head_dim % 8 or head_dim > 256:
        return False
    capability = cuda_capability(device)
    return capability is not None and capability >= FLASH_MIN_CAPABILITY


def attention_kernel(device: torch.device, dtype: torch.dtype, head_dim: int = 64) -> str:
    """The path `causal_attention` takes for tensors of this device, dtype and head size."""
    return "flash_attn" if flash_usable(torch.device(device), dtype, head_dim) else "sdpa"


def causal_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, alibi_slopes: torch.Tensor | None = None
) -> torch.Tensor:
    """The fast path: flash-attn where it applies, SDPA otherwise (CPU included)."""
    if attention_kernel(q.device, q.dtype, q.shape[-1]) == "flash_attn":
        return attention_flash(q, k, v, alibi_slopes)
    return attention_sdpa(q, k, v, alibi_slopes)

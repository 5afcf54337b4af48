"""Causal sliding-window multi-query attention (Griffin's local attention): SDPA or flash-attn.

Query at position p sees the keys at positions p - window .. p: `window` keys before it and
itself (RecurrentGemma's mask: q_pos <= k_pos + window_size). All query heads share one
key/value head (multi-query attention), so the heads are folded into the query rows and the
keys are never copied per head.

Both functions take q [B, Tq, H, D] and k, v [B, Tk, D] with Tk >= Tq: the queries are the last
Tq positions of the keys (the first Tk - Tq keys are a cache of earlier tokens, as in `step`).

- `local_attention_naive`: per head, scores masked to the window, softmax, weighted sum; no SDPA,
  no head folding. The oracle.
- `local_attention_dense`: one dense [Tq, Tk] mask through SDPA; O(Tq * Tk).
- `local_attention`: the same, but a long sequence is cut into blocks of `window` queries that
  each see only their own block and the one before (2 * window keys), so the cost is
  O(T * window), not O(T^2). Short chunks (streaming) take the dense path.
- `local_attention_flash`: flash-attn's `window_size` (CUDA, fp16/bf16, capability >= 8.0);
  `local_attention` takes it where it applies.
"""

from __future__ import annotations

import torch
from statebench.models.ops import attention
from torch.nn import functional as F


def _check(q, k, v, window: int) -> None:
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"local_attention: window={window!r} must be an integer >= 1")
    if q.dim() != 4 or k.dim() != 3 or k.shape != v.shape:
        raise ValueError(
            f"local_attention: q {tuple(q.shape)} must be [B,Tq,H,D] and k {tuple(k.shape)}, "
            f"v {tuple(v.shape)} [B,Tk,D]"
        )
    if k.shape[0] != q.shape[0] or k.shape[2] != q.shape[3] or k.shape[1] < q.shape[1]:
        raise ValueError(
            f"local_attention: k {tuple(k.shape)} must be [B, Tk >= Tq, D] for q {tuple(q.shape)}"
        )


def _fold(q: torch.Tensor) -> torch.Tensor:
    """[..., Tq, H, D] -> [..., H*Tq, D]: heads become extra query rows over the shared keys."""
    *lead, t, h, d = q.shape
    return q.transpose(-2, -3).reshape(*lead, h * t, d)


def _unfold(o: torch.Tensor, h: int) -> torch.Tensor:
    """Inverse of `_fold`."""
    *lead, ht, d = o.shape
    return o.reshape(*lead, h, ht // h, d).transpose(-2, -3)


def _window_mask(tq: int, tk: int, window: int, device) -> torch.Tensor:
    """[Tq, Tk]: True where query i (at position Tk - Tq + i) may see key j."""
    dist = torch.arange(tk - tq, tk, device=device)[:, None] - torch.arange(tk, device=device)
    return (dist >= 0) & (dist <= window)


def local_attention_naive(q, k, v, window: int) -> torch.Tensor:
    """Every step written out: the spec."""
    _check(q, k, v, window)
    s = torch.einsum("bqhd,bkd->bhqk", q, k) * q.shape[-1] ** -0.5
    s = s.masked_fill(~_window_mask(q.shape[1], k.shape[1], window, q.device), float("-inf"))
    return torch.einsum("bhqk,bkd->bqhd", s.softmax(-1), v)


def local_attention_dense(q, k, v, window: int) -> torch.Tensor:
    """One dense masked SDPA call over the folded heads."""
    _check(q, k, v, window)
    tq, h, tk = q.shape[1], q.shape[2], k.shape[1]
    mask = _window_mask(tq, tk, window, q.device).repeat(h, 1)  # [H*Tq, Tk]
    o = F.scaled_dot_product_attention(_fold(q), k, v, attn_mask=mask)
    return _unfold(o, h)


def flash_window(window: int) -> tuple[int, int]:
    """flash-attn's `window_size` for our mask. flash-attn lets query i (at position
    Tk - Tq + i) see key j when Tk - Tq + i - left <= j <= Tk - Tq + i + right, so "p - window
    .. p" is left = window, right = 0 (`flash_mask` spells that rule out for the tests)."""
    return (window, 0)


def flash_mask(tq: int, tk: int, window_size: tuple[int, int]) -> torch.Tensor:
    """[Tq, Tk]: the keys flash-attn's documented causal sliding-window rule lets each query
    see, for checking `flash_window` against `_window_mask`."""
    left, right = window_size
    i = torch.arange(tq)[:, None] + tk - tq
    j = torch.arange(tk)[None, :]
    return (j >= i - left) & (j <= i + min(right, 0))  # causal: never past the query


def local_attention_kernel(device: torch.device, dtype: torch.dtype, head_dim: int) -> str:
    """ "flash_attn" where flash-attn runs these tensors (as for full attention), else "sdpa"."""
    usable = attention.flash_usable(torch.device(device), dtype, head_dim)
    return "flash_attn" if usable else "sdpa"


def local_attention_flash(q, k, v, window: int) -> torch.Tensor:
    """flash-attn's sliding window: k and v as one shared head (MQA), causal, bottom-right
    aligned like the cache here."""
    _check(q, k, v, window)
    if attention.flash_attn_func is None:
        raise RuntimeError("local_attention_flash: flash-attn is not installed")
    k, v = k.unsqueeze(2), v.unsqueeze(2)  # [B, Tk, 1, D]: one KV head for every query head
    return attention.flash_attn_func(q, k, v, causal=True, window_size=flash_window(window))


def local_attention(q, k, v, window: int) -> torch.Tensor:
    """Sliding-window attention: flash-attn where it applies, else blocked SDPA; equal to
    `local_attention_naive`."""
    _check(q, k, v, window)
    if local_attention_kernel(q.device, q.dtype, q.shape[-1]) == "flash_attn":
        return local_attention_flash(q, k, v, window)
    bsz, tq, h, d = q.shape
    if tq <= window:
        return local_attention_dense(q, k, v, window)
    w = window
    # Keys older than the first query's window are invisible: keep at most w cached ones.
    cached = min(k.shape[1] - tq, w)
    k, v = k[:, k.shape[1] - tq - cached :], v[:, v.shape[1] - tq - cached :]
    n = -(-tq // w)
    pad = n * w - tq
    q = F.pad(q, (0, 0, 0, 0, 0, pad)).view(bsz, n, w, h, d)
    # One block of keys in front of the queries: the cache, left-padded to a full block.
    k, v = (F.pad(x, (0, 0, w - cached, pad)).view(bsz, n + 1, w, d) for x in (k, v))
    keys = torch.cat((k[:, :-1], k[:, 1:]), dim=2)  # [B, N, 2w, D]: previous block + own block
    values = torch.cat((v[:, :-1], v[:, 1:]), dim=2)
    i = torch.arange(w, device=q.device)[:, None]
    j = torch.arange(2 * w, device=q.device)[None, :]
    band = (j >= i) & (j <= i + w)  # key j of the pair sits i + w - j positions before query i
    first = band & (j >= w - cached)  # block 0: front padding is not a key
    mask = torch.stack([first] + [band] * (n - 1)).repeat(1, h, 1)  # [N, H*w, 2w]
    o = F.scaled_dot_product_attention(_fold(q), keys, values, attn_mask=mask)
    return _unfold(o, h).reshape(bsz, n * w, h, d)[:, :tq]

"""Retention (Sun et al. 2023, "Retentive Network") in its three equivalent forms.

Per head, with a fixed decay gamma in (0, 1), a state S [dk, dv] and row vectors q_t, k_t, v_t:

    S_t = gamma * S_{t-1} + k_t^T v_t,        o_t = q_t S_t

- `retention_recurrent`: that loop, one token at a time. It is the spec and the test oracle only.
- `retention_parallel`: o = (Q K^T * D) V with D[n, m] = gamma^(n - m) for n >= m, else 0 (the
  "D-matrix" form); O(T^2) work, one matmul chain, best for short sequences.
- `retention_chunkwise`: the parallel form inside chunks of `chunk_size` tokens, the recurrent
  form across chunks. The chunk-to-chunk recurrence S_n = gamma^C S_{n-1} + U_n is itself a
  first-order linear recurrence, so it runs through the blocked `linear_scan`: no Python loop
  over time, O(T * C) work. This is the CPU path for long sequences and for streaming `step`.

All three share one signature: q, k [B, H, T, dk], v [B, H, T, dv], gamma [H], optional incoming
state [B, H, dk, dv] (zeros when None); they return (o [B, H, T, dv], final state). No scaling is
applied (the caller scales k by dk^-0.5, as torchscale does), and none of torchscale's per-row
renormalizations of the decay mask or of QK^T: those are invisible after the per-head norm that
follows retention in RetNet, and leaving them out keeps the three forms exactly equal.

`retention` picks the path: fla's Triton kernels when flash-linear-attention imports and the
tensors are on CUDA (never an error when it does not), else the chunkwise reference.
"""

from __future__ import annotations

import torch
from statebench.models.ops.fused import fla_ops
from statebench.models.ops.scan import linear_scan

FLA_MODULE = "fla.ops.retention"


def retnet_gammas(n_heads: int, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """RetNet's multi-scale decays gamma_h = 1 - 2^(-5 - h), h = 0..n_heads-1 (torchscale's
    `RetNetRelPos.decay`, and the schedule fla's retention kernels hard-code)."""
    h = torch.arange(n_heads, dtype=torch.float64)
    return (1 - 2.0 ** (-5 - h)).to(dtype=dtype, device=device)


def _check(q, k, v, gamma, state) -> None:
    if q.dim() != 4 or k.shape != q.shape:
        raise ValueError(f"retention: q {tuple(q.shape)} and k {tuple(k.shape)} must be [B,H,T,dk]")
    if v.dim() != 4 or v.shape[:3] != q.shape[:3]:
        raise ValueError(f"retention: v {tuple(v.shape)} must be [B,H,T,dv] matching q")
    if gamma.shape != (q.shape[1],):
        raise ValueError(f"retention: gamma {tuple(gamma.shape)} must be [H={q.shape[1]}]")
    want = (q.shape[0], q.shape[1], q.shape[3], v.shape[3])
    if state is not None and tuple(state.shape) != want:
        raise ValueError(f"retention: state {tuple(state.shape)} must be {want}")


def _decay_setup(q: torch.Tensor, gamma: torch.Tensor, n: int):
    """log gamma and positions 0..n-1 in at least fp32: in half precision neither positions
    beyond 256 nor gamma = 1 - 2^-12 are representable."""
    dtype = torch.promote_types(q.dtype, torch.float32)
    return gamma.to(dtype).log(), torch.arange(n, device=q.device, dtype=dtype)


def _powers(log_gamma: torch.Tensor, exponents: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """gamma^e for every head and exponent, [H, *exponents.shape], cast to `dtype`; e >= 0."""
    return torch.exp(log_gamma.view(-1, *([1] * exponents.dim())) * exponents).to(dtype)


def _causal_decay(log_gamma: torch.Tensor, idx: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The decay mask D [H, T, T]: gamma^(n-m) where n >= m, else 0."""
    diff = idx[:, None] - idx[None, :]
    return torch.where(diff >= 0, _powers(log_gamma, diff.clamp(min=0), dtype), 0.0)


def retention_recurrent(q, k, v, gamma, state=None):
    """The recurrence itself, token by token: slow, obviously correct. Oracle only."""
    _check(q, k, v, gamma, state)
    b, h, t, dk = q.shape
    s = q.new_zeros(b, h, dk, v.shape[-1]) if state is None else state
    g = gamma.view(1, h, 1, 1)
    out = []
    for i in range(t):
        s = g * s + k[:, :, i, :, None] * v[:, :, i, None, :]
        out.append(torch.einsum("bhk,bhkv->bhv", q[:, :, i], s))
    o = torch.stack(out, dim=2) if out else v.new_zeros(b, h, 0, v.shape[-1])
    return o, s


def retention_parallel(q, k, v, gamma, state=None):
    """The D-matrix form: all positions at once, O(T^2) per head."""
    _check(q, k, v, gamma, state)
    t, dt = q.shape[2], q.dtype
    log_g, idx = _decay_setup(q, gamma, t)
    o = (q @ k.transpose(-1, -2) * _causal_decay(log_g, idx, dt)) @ v
    # The state after the last token: every k_m^T v_m decayed by gamma^(T-1-m).
    s = k.transpose(-1, -2) @ (v * _powers(log_g, t - 1 - idx, dt)[..., None])
    if state is not None:
        o = o + (q * _powers(log_g, idx + 1, dt)[..., None]) @ state
        s = s + torch.exp(log_g * t).to(dt)[:, None, None] * state
    return o, s


def retention_chunkwise(q, k, v, gamma, state=None, chunk_size: int = 64):
    """Parallel inside chunks, a blocked linear scan across them. Equal to the other two forms.

    With chunk n's tokens at offsets i = 0..L_n-1 (L_n = chunk_size except a shorter last one)
    and S_in the state entering it:
        o_i   = [(Q K^T * D) V]_i + gamma^(i+1) q_i S_in
        S_out = gamma^(L_n) S_in + sum_j gamma^(L_n-1-j) k_j^T v_j
    """
    _check(q, k, v, gamma, state)
    if chunk_size < 1:
        raise ValueError(f"retention_chunkwise: chunk_size={chunk_size} must be >= 1")
    b, h, t, dk = q.shape
    dv = v.shape[-1]
    if t <= chunk_size:
        return retention_parallel(q, k, v, gamma, state)
    c = chunk_size
    n = -(-t // c)
    pad = n * c - t
    if pad:  # zero keys and values add nothing to any state; padded queries are cropped
        q, k, v = (torch.nn.functional.pad(x, (0, 0, 0, pad)) for x in (q, k, v))
    q, k, v = (x.reshape(b, h, n, c, x.shape[-1]) for x in (q, k, v))
    dt = q.dtype
    log_g, idx = _decay_setup(q, gamma, c)
    inner = (q @ k.transpose(-1, -2) * _causal_decay(log_g, idx, dt)[:, None]) @ v  # [B,H,N,C,dv]

    lengths = torch.full((n,), float(c), dtype=idx.dtype, device=q.device)
    lengths[-1] = c - pad
    expo = lengths[:, None] - 1 - idx[None, :]  # [N, C]; negative only on padded tokens
    k_decay = torch.where(expo >= 0, _powers(log_g, expo.clamp(min=0), dt), 0.0)  # [H, N, C]
    u = k.transpose(-1, -2) @ (v * k_decay[..., None])  # [B, H, N, dk, dv]
    a = _powers(log_g, lengths, dt)  # [H, N]: each chunk's total decay

    # S_out[n] = a[n] * S_out[n-1] + u[n], over chunks (dim 1 after the permute).
    u_t = u.permute(0, 2, 1, 3, 4)
    a_t = a.t()[None, :, :, None, None].expand_as(u_t)
    s_out = linear_scan(a_t, u_t, state)  # [B, N, H, dk, dv]
    s_in = s_out[:, :-1]
    first = torch.zeros_like(s_out[:, :1]) if state is None else state[:, None]
    s_in = torch.cat([first, s_in], dim=1).permute(0, 2, 1, 3, 4)  # [B, H, N, dk, dv]
    cross = (q * _powers(log_g, idx + 1, dt)[:, None, :, None]) @ s_in
    o = (inner + cross).reshape(b, h, n * c, dv)[:, :, :t]
    return o, s_out[:, -1]


def _fla():
    """fla's retention ops (chunked, fused recurrent), or None when fla does not import."""
    return fla_ops(FLA_MODULE, "chunk_retention", "fused_recurrent_retention")


def fla_available() -> bool:
    return _fla() is not None


def retention_fla(q, k, v, gamma, state=None, chunk_size: int = 64):
    """fla's Triton kernels behind the reference signature (CUDA only).

    fla derives the decays from the head count with the same `retnet_gammas` schedule, so
    `gamma` must be that schedule; it is checked by shape here and by construction in the
    RetNet mixer. Short chunks (streaming) use the fused recurrent kernel, long ones the chunked.
    """
    _check(q, k, v, gamma, state)
    ops = _fla()
    if ops is None:
        raise RuntimeError("retention_fla: flash-linear-attention is not importable")
    chunk_retention, fused_recurrent_retention = ops
    fn = fused_recurrent_retention if q.shape[2] < chunk_size else chunk_retention
    qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))  # fla wants [B, T, H, d]
    o, s = fn(qt, kt, vt, scale=1.0, initial_state=state, output_final_state=True)
    return o.transpose(1, 2), s


def retention_kernel(device: torch.device) -> str:
    """The path `retention` takes for tensors on `device`: "fla" or "ref"."""
    return "fla" if torch.device(device).type == "cuda" and fla_available() else "ref"


def retention(q, k, v, gamma, state=None, chunk_size: int = 64):
    """Dispatch: fla on CUDA when it imports, else `retention_chunkwise`."""
    if retention_kernel(q.device) == "fla":
        return retention_fla(q, k, v, gamma, state, chunk_size)
    return retention_chunkwise(q, k, v, gamma, state, chunk_size)

"""The delta rule (DeltaNet, Yang et al. 2024) and its gated form (Gated DeltaNet, 2025).

Per head, with a state S [dk, dv], row vectors q_t, k_t (k_t of unit norm in DeltaNet), v_t, a
step size beta_t and, when gated, a decay alpha_t = exp(g_t) in (0, 1]:

    S_t = alpha_t (I - beta_t k_t^T k_t) S_{t-1} + beta_t k_t^T v_t,      o_t = scale * q_t S_t

With beta in (0, 1) the transition's eigenvalues lie in [0, 1]; with beta in (0, 2) in [-1, 1]
(Grazzi et al. 2025), which is what lets one layer track parity. The rule itself is the same.

- `delta_rule_naive`: that loop, one token at a time. The spec and the test oracle.
- `delta_rule_torch`: the chunked WY / UT-transform form. Inside a chunk of C tokens entering
  with state S_in, the pseudo-values u_i = beta_i (v_i - alpha_i k_i S_{i-1}) solve one
  unit lower-triangular system (I + A) U = diag(beta) V - diag(beta * gamma) K S_in, with
  A_ij = beta_i (k_i . k_j) gamma_i / gamma_j for j < i and gamma the in-chunk decay product.
  Its solve is batched over all chunks at once; only the matrix-valued chunk-to-chunk state update
  S_out = gamma_C S_in + K^T diag(gamma_C / gamma) U runs as a Python loop, T / C times (the
  transition is a dense dk x dk matrix, so no diagonal scan applies). Outputs are then one
  batched product: o = (q * gamma) S_in + tril(q k^T * gamma_i / gamma_j) U.
- `delta_rule_fla`: fla's Triton kernels (`chunk_delta_rule`, `chunk_gated_delta_rule`), CUDA only,
  imported on first use through `fused.fla_ops` (a missing fla is never an error).
  `chunk_delta_rule` refuses float32 (an assert in every fla release we pin), so the plain rule in
  float32 runs `chunk_gated_delta_rule` with g = 0: a decay of exp(0) = 1 is the plain rule.

All three take fla's layout: q, k [B, T, H, dk], v [B, T, H, dv], beta [B, T, H], g [B, T, H]
(log alpha, <= 0) or None, `scale` (dk^-0.5 when None), an incoming state [B, H, dk, dv] or None
(zeros); they return (o [B, T, H, dv], final state [B, H, dk, dv]). No normalization happens here:
the caller L2-normalizes q and k, as DeltaNet does.
"""

from __future__ import annotations

from typing import Any

import torch
from statebench.models.ops.fused import fla_ops, import_error
from torch.nn import functional as F


def _check(q, k, v, beta, g, state) -> None:
    if q.dim() != 4 or k.shape != q.shape:
        raise ValueError(
            f"delta_rule: q {tuple(q.shape)} and k {tuple(k.shape)} must be [B,T,H,dk]"
        )
    if v.dim() != 4 or v.shape[:3] != q.shape[:3]:
        raise ValueError(f"delta_rule: v {tuple(v.shape)} must be [B,T,H,dv] matching q")
    if beta.shape != q.shape[:3]:
        raise ValueError(f"delta_rule: beta {tuple(beta.shape)} must be [B,T,H]")
    if g is not None and g.shape != q.shape[:3]:
        raise ValueError(f"delta_rule: g {tuple(g.shape)} must be [B,T,H] like beta")
    want = (q.shape[0], q.shape[2], q.shape[3], v.shape[3])
    if state is not None and tuple(state.shape) != want:
        raise ValueError(f"delta_rule: initial_state {tuple(state.shape)} must be {want}")


def _compute_dtype(q: torch.Tensor) -> torch.dtype:
    return torch.promote_types(q.dtype, torch.float32)


def delta_rule_naive(q, k, v, beta, g=None, scale=None, initial_state=None):
    """The recurrence token by token: slow, obviously correct. Oracle only."""
    _check(q, k, v, beta, g, initial_state)
    b, t, h, dk = q.shape
    dt = _compute_dtype(q)
    scale = dk**-0.5 if scale is None else scale
    s = q.new_zeros(b, h, dk, v.shape[-1], dtype=dt) if initial_state is None else initial_state
    s = s.to(dt)
    out = []
    for i in range(t):
        k_i, v_i, b_i = k[:, i].to(dt), v[:, i].to(dt), beta[:, i].to(dt)
        if g is not None:
            s = g[:, i].to(dt).exp()[..., None, None] * s
        u = b_i[..., None] * (v_i - torch.einsum("bhk,bhkv->bhv", k_i, s))
        s = s + k_i[..., :, None] * u[..., None, :]
        out.append(torch.einsum("bhk,bhkv->bhv", q[:, i].to(dt) * scale, s))
    o = torch.stack(out, dim=1) if out else v.new_zeros(b, 0, h, v.shape[-1], dtype=dt)
    return o.to(v.dtype), s


def delta_rule_torch(q, k, v, beta, g=None, scale=None, initial_state=None, chunk_size=64):
    """The chunked WY form: batched in-chunk solves, a loop over chunks only. Equals the naive."""
    _check(q, k, v, beta, g, initial_state)
    if chunk_size < 1:
        raise ValueError(f"delta_rule_torch: chunk_size={chunk_size} must be >= 1")
    b, t, h, dk = q.shape
    dv, out_dtype = v.shape[-1], v.dtype  # v is rebound to its fp32 chunks below
    dt = _compute_dtype(q)
    scale = dk**-0.5 if scale is None else scale
    s = q.new_zeros(b, h, dk, dv, dtype=dt) if initial_state is None else initial_state.to(dt)
    if t == 0:
        return v.new_zeros(b, 0, h, dv), s
    c = min(chunk_size, t)
    n = -(-t // c)
    pad = n * c - t

    def chunks(x: torch.Tensor) -> torch.Tensor:
        """[B, T, H, ...] -> [B, H, N, C, ...]; padded tokens have k = v = beta = g = 0, an
        identity transition, so the final state is exact and padded outputs are cropped."""
        x = x.to(dt).transpose(1, 2)
        if pad:
            x = F.pad(x, (0, 0, 0, pad)) if x.dim() == 4 else F.pad(x, (0, pad))
        return x.reshape(b, h, n, c, *x.shape[3:])

    q, k, v, beta = chunks(q) * scale, chunks(k), chunks(v), chunks(beta)
    causal = torch.ones(c, c, dtype=torch.bool, device=q.device).tril()
    kk = k @ k.transpose(-1, -2)  # [B, H, N, C, C]
    qk = q @ k.transpose(-1, -2)
    if g is not None:
        cum = chunks(g).cumsum(-1)  # log gamma_i, the decay from the chunk's start to token i
        rel = torch.where(causal, cum[..., :, None] - cum[..., None, :], -torch.inf).exp()
        kk, qk = kk * rel, qk * rel
        gamma = cum.exp()
        q_in = q * gamma[..., None]  # how the incoming state reaches each query
        k_out = k * (cum[..., -1:] - cum).exp()[..., None]  # how each token reaches the chunk's end
        k_in = k * (beta * gamma)[..., None]
        total = gamma[..., -1, None, None]  # [B, H, N, 1, 1]: the whole chunk's decay
    else:
        q_in, k_out, k_in, total = q, k, k * beta[..., None], None
    lower = (kk * beta[..., None]).tril(-1)
    eye = torch.eye(c, dtype=dt, device=q.device)
    # (I + A)^{-1} applied to [diag(beta) V | diag(beta gamma) K]: the UT transform.
    rhs = torch.cat([v * beta[..., None], k_in], dim=-1)
    solved = torch.linalg.solve_triangular(eye + lower, rhs, upper=False, unitriangular=True)
    u0, w = solved.split([dv, dk], dim=-1)  # U = u0 - w S_in

    states, pseudo = [], []
    for i in range(n):  # the only loop: over chunks, with a dense dk x dk transition
        states.append(s)
        u = u0[:, :, i] - w[:, :, i] @ s
        pseudo.append(u)
        if total is not None:
            s = total[:, :, i] * s
        s = s + k_out[:, :, i].transpose(-1, -2) @ u
    s_in, u = torch.stack(states, dim=2), torch.stack(pseudo, dim=2)
    o = q_in @ s_in + (qk * causal) @ u  # [B, H, N, C, dv]
    o = o.reshape(b, h, n * c, dv)[:, :, :t].transpose(1, 2)
    return o.to(out_dtype), s


FLA_MODULES = ("fla.ops.delta_rule", "fla.ops.gated_delta_rule")


def _fla() -> tuple[Any, Any] | None:
    """fla's (chunk_delta_rule, chunk_gated_delta_rule), or None when either does not import;
    imported on first use through `fused.fla_ops`, which keeps the error for `statebench doctor`."""
    plain = fla_ops(FLA_MODULES[0], "chunk_delta_rule")
    gated = fla_ops(FLA_MODULES[1], "chunk_gated_delta_rule")
    if plain is None or gated is None:
        return None
    return plain[0], gated[0]


def delta_rule_fla(q, k, v, beta, g=None, scale=None, initial_state=None, chunk_size=64):
    """fla's Triton kernels behind the same signature (CUDA only; fla picks its own chunks)."""
    _check(q, k, v, beta, g, initial_state)
    ops = _fla()
    if ops is None:
        why = import_error(FLA_MODULES[0]) or import_error(FLA_MODULES[1])
        raise RuntimeError(f"delta_rule_fla: flash-linear-attention is not importable ({why})")
    chunk_delta_rule, chunk_gated_delta_rule = ops
    kwargs = dict(scale=scale, initial_state=initial_state, output_final_state=True)
    if fla_function(q.dtype, g is not None) == "chunk_delta_rule":
        return chunk_delta_rule(q, k, v, beta, **kwargs)
    if g is None:  # the plain rule in float32: no decay, which chunk_delta_rule cannot run
        g = beta.new_zeros(beta.shape, dtype=torch.float32)
    return chunk_gated_delta_rule(q, k, v, g, beta, **kwargs)


def fla_function(dtype: torch.dtype, gated: bool) -> str:
    """The fla kernel `delta_rule_fla` calls: `chunk_delta_rule` for the plain rule in 16 bits,
    `chunk_gated_delta_rule` for the gated rule and for the plain one in float32 (g = 0)."""
    return "chunk_delta_rule" if not gated and dtype != torch.float32 else "chunk_gated_delta_rule"


def delta_rule_kernel(device: torch.device) -> str:
    """The path `delta_rule` takes for tensors on `device`: "fla" or "torch"."""
    return "fla" if torch.device(device).type == "cuda" and _fla() is not None else "torch"


def delta_rule(q, k, v, beta, g=None, scale=None, initial_state=None, chunk_size=64):
    """Dispatch: fla on CUDA when it imports, else `delta_rule_torch`."""
    if delta_rule_kernel(q.device) == "fla":
        return delta_rule_fla(q, k, v, beta, g, scale, initial_state, chunk_size)
    return delta_rule_torch(q, k, v, beta, g, scale, initial_state, chunk_size)

"""The mLSTM cell of xLSTM (Beck et al. 2024): a loop oracle and a chunked parallel form.

Per head, with exponential input gate and sigmoid forget gate, the matrix memory is

    C_t = f_t C_{t-1} + i_t k_t v_t^T,   n_t = f_t n_{t-1} + i_t k_t,
    h_t = (C_t^T q_t) / max(|n_t . q_t|, 1)            (q scaled by 1/sqrt(d_qk))

with i_t = exp(i~_t), f_t = sigmoid(f~_t). Exponentials overflow, so the cell carries the
stabilizer m_t = max(log f_t + m_{t-1}, i~_t) and stores C, n scaled by exp(-m_t); the output
becomes num / (max(|den|, exp(-m_t)) + eps). Both functions follow transformers' xLSTM
(`mlstm_recurrent_sequence_native`, `mlstm_chunkwise_native_autograd`): same arguments, same
m_0 = 0, same eps placement, so the states and outputs agree with it, not just the math.

`mlstm_torch` is the chunked form with no loop over time or chunks: inside a chunk of Q steps
the output is a masked, gate-weighted attention; each chunk's own state contribution comes from
one batched matmul; the stabilizer at every chunk end has a closed form (a cumulative sum plus a
cumulative max: m_k = max(g_k + m_{k-1}, a_k) unrolls to G_k + max(m_0, max_{j<=k} a_j - G_j));
and the states pass between chunks through the blocked scan of models/ops/scan.py. The
normalizer n rides along as an extra value column (v -> [v, 1]), so one matmul yields both the
numerator and the denominator.

Shapes: q, k [B, H, T, Dqk]; v [B, H, T, Dv]; igate, fgate (pre-activations) [B, H, T];
state (C [B, H, Dqk, Dv], n [B, H, Dqk], m [B, H, 1]). Math in fp32 (fp64 for fp64 inputs).
"""

from __future__ import annotations

import torch
from statebench.models.ops.scan import linear_scan
from torch.nn import functional as F

_NO_INPUT = -1e30  # input-gate pre-activation of padded steps: exp(-1e30 - m) == 0


def _wide(x: torch.Tensor) -> torch.dtype:
    return torch.promote_types(x.dtype, torch.float32)


def _initial(q, v, c_initial, n_initial, m_initial, wide):
    batch, heads, _, dqk = q.shape
    dv = v.shape[-1]
    if c_initial is None:
        return (
            q.new_zeros(batch, heads, dqk, dv, dtype=wide),
            q.new_zeros(batch, heads, dqk, dtype=wide),
            q.new_zeros(batch, heads, 1, dtype=wide),
        )
    return c_initial.to(wide), n_initial.to(wide), m_initial.to(wide)


def mlstm_naive(
    q, k, v, igate, fgate, c_initial=None, n_initial=None, m_initial=None,
    return_last_states=False, eps=1e-6, chunk_size=None,
):  # fmt: skip
    """The stabilized recurrence one step at a time (the oracle; `chunk_size` is ignored)."""
    wide = _wide(q)
    C, n, m = _initial(q, v, c_initial, n_initial, m_initial, wide)
    qs = q.to(wide) * q.shape[-1] ** -0.5
    kw, vw = k.to(wide), v.to(wide)
    log_f, i = F.logsigmoid(fgate.to(wide)), igate.to(wide)
    hs = []
    for t in range(q.shape[2]):
        m_new = torch.maximum(log_f[:, :, t, None] + m, i[:, :, t, None])  # [B, H, 1]
        f_act = torch.exp(log_f[:, :, t, None] + m - m_new)
        i_act = torch.exp(i[:, :, t, None] - m_new)
        C = f_act[..., None] * C + i_act[..., None] * kw[:, :, t, :, None] * vw[:, :, t, None, :]
        n = f_act * n + i_act * kw[:, :, t]
        m = m_new
        num = (qs[:, :, t, :, None] * C).sum(-2)  # [B, H, Dv]
        den = (qs[:, :, t] * n).sum(-1, keepdim=True)
        hs.append(num / (torch.maximum(den.abs(), torch.exp(-m)) + eps))
    h = torch.stack(hs, dim=2).to(q.dtype)
    return (h, (C, n, m)) if return_last_states else h


def mlstm_torch(
    q, k, v, igate, fgate, c_initial=None, n_initial=None, m_initial=None,
    return_last_states=False, eps=1e-6, chunk_size=64,
):  # fmt: skip
    """The chunked parallel form (module docstring); the same results as `mlstm_naive`."""
    wide = _wide(q)
    batch, heads, length, dqk = q.shape
    dv = v.shape[-1]
    C0, n0, m0 = _initial(q, v, c_initial, n_initial, m_initial, wide)
    size = max(1, min(int(chunk_size), length))
    pad = -length % size
    nc = (length + pad) // size

    def chunks(t: torch.Tensor, value: float = 0.0) -> torch.Tensor:
        """[B, H, T, ...] -> [B, H, nc, Q, ...], padded at the end with `value`."""
        if pad:
            widths = (0, 0) * (t.dim() - 3) + (0, pad)
            t = F.pad(t, widths, value=value)
        return t.reshape(batch, heads, nc, size, *t.shape[3:])

    qc = chunks(q.to(wide)) * dqk**-0.5
    kc = chunks(k.to(wide))
    vc = chunks(torch.cat([v.to(wide), v.new_ones(*v.shape[:-1], 1, dtype=wide)], dim=-1))
    ic = chunks(igate.to(wide), _NO_INPUT)
    cum_f = chunks(F.logsigmoid(fgate.to(wide))).cumsum(-1)  # [B, H, nc, Q], padding adds 0
    g = cum_f[..., -1]  # log of the chunk's whole forget product [B, H, nc]

    # Stabilizer at each chunk end, in closed form, and at each chunk start (the previous end).
    to_end = g[..., None] - cum_f + ic  # log weight of step s in its chunk's end state
    total = g.cumsum(-1)
    m_end = total + torch.maximum(m0, torch.cummax(to_end.amax(-1) - total, dim=-1).values)
    m_start = torch.cat([m0, m_end[..., :-1]], dim=-1)

    # Chunk-end states [C | n] (scaled by exp(-m_end)) through the scan over chunks.
    local = torch.matmul((kc * torch.exp(to_end - m_end[..., None])[..., None]).mT, vc)
    decay = torch.exp(g + m_start - m_end)[..., None, None].expand_as(local)
    h0 = torch.cat([C0, n0[..., None]], dim=-1)
    ends = linear_scan(decay.transpose(1, 2), local.transpose(1, 2), h0).transpose(1, 2)
    starts = torch.cat([h0[:, :, None], ends[:, :, :-1]], dim=2)  # [B, H, nc, Dqk, Dv+1]

    # Outputs: intra-chunk attention plus the carried-in state, under one stabilizer per row.
    causal = torch.ones(size, size, dtype=torch.bool, device=q.device).tril()
    log_d = (cum_f[..., :, None] - cum_f[..., None, :] + ic[..., None, :]).masked_fill(
        ~causal, -float("inf")
    )
    m_inter = cum_f + m_start[..., None]
    m_row = torch.maximum(log_d.amax(-1), m_inter)  # [B, H, nc, Q]
    scores = torch.matmul(qc, kc.mT) * torch.exp(log_d - m_row[..., None])
    out = torch.matmul(scores, vc) + torch.matmul(
        qc * torch.exp(m_inter - m_row)[..., None], starts
    )
    num, den = out[..., :dv], out[..., dv:]
    h = num / (torch.maximum(den.abs(), torch.exp(-m_row)[..., None]) + eps)
    h = h.reshape(batch, heads, nc * size, dv)[:, :, :length].to(q.dtype)
    if not return_last_states:
        return h
    last = ends[:, :, -1]
    return h, (last[..., :dv], last[..., dv], m_end[..., -1:])

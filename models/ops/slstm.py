"""The sLSTM cell of xLSTM (Beck et al. 2024): scalar memory, exponential gating, recurrent
mixing between the units of a head. It has no parallel form (h_{t-1} enters every gate through
the recurrent matrices): that is the point of the cell, so it runs as a loop over time.

Per unit, with pre-activations p~ = W x_t + R h_{t-1} + b for p in (i, f, z, o):

    m_t = max(log sigmoid(f~) + m_{t-1}, i~)          (the stabilizer; m_0 = -inf)
    i_t = exp(i~ - m_t),  f_t = exp(log sigmoid(f~) + m_{t-1} - m_t)
    c_t = f_t c_{t-1} + i_t tanh(z~),  n_t = f_t n_{t-1} + i_t,  h_t = sigmoid(o~) c_t / n_t

c and n are the paper's states scaled by exp(-m_t); their ratio, the output, is not. m_0 = -inf
makes the first step's m its input gate, so n starts at 1, never at an underflowed 0.

Speed: the input part W x_t + b of every gate is computed for all t before the loop (one big
matmul, outside); each step is one batched matmul with the block-diagonal R (heads as the batch
dimension) plus a handful of pointwise ops on [heads, batch, 4 * head_dim].

Shapes: pre [B, T, H, 4 * Dh] (gate order i, f, z, o along the last dim, Dh units each);
R [H, Dh, 4 * Dh]; state (h, c, n, m) each [B, H, Dh], or None for the zero state.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def slstm_initial(batch: int, heads: int, head_dim: int, device, dtype=torch.float32):
    """The zero state (h, c, n, m), m = -inf (see the module docstring)."""
    zeros = torch.zeros(batch, heads, head_dim, device=device, dtype=dtype)
    return zeros, zeros.clone(), zeros.clone(), torch.full_like(zeros, -float("inf"))


def slstm_torch(pre: torch.Tensor, R: torch.Tensor, state=None):
    """h for every step [B, T, H, Dh] and the last state (h, c, n, m), math in fp32 or wider."""
    batch, length, heads, four_dh = pre.shape
    dh = four_dh // 4
    wide = torch.promote_types(pre.dtype, torch.float32)
    if state is None:
        state = slstm_initial(batch, heads, dh, pre.device, wide)
    # Heads lead inside the loop, so each step is one bmm against R [H, Dh, 4 Dh].
    h, c, n, m = (s.to(wide).transpose(0, 1) for s in state)  # [H, B, Dh]
    pre_t = pre.to(wide).permute(1, 2, 0, 3)  # [T, H, B, 4 Dh]
    Rw = R.to(wide)
    outs = []
    for t in range(length):
        i_raw, f_raw, z_raw, o_raw = torch.baddbmm(pre_t[t], h, Rw).chunk(4, dim=-1)
        log_f = F.logsigmoid(f_raw) + m
        m = torch.maximum(log_f, i_raw)
        i_act, f_act = torch.exp(i_raw - m), torch.exp(log_f - m)
        c = f_act * c + i_act * torch.tanh(z_raw)
        n = f_act * n + i_act
        h = torch.sigmoid(o_raw) * c / n
        outs.append(h)
    out = torch.stack(outs, dim=2) if outs else pre.new_zeros(heads, batch, 0, dh, dtype=wide)
    last = tuple(s.transpose(0, 1) for s in (h, c, n, m))
    return out.permute(1, 2, 0, 3).to(pre.dtype), last

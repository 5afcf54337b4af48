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
from torch.autograd.function import once_differentiable
from torch.nn import functional as F


def slstm_initial(batch: int, heads: int, head_dim: int, device, dtype=torch.float32):
    """The zero state (h, c, n, m), m = -inf (see the module docstring)."""
    zeros = torch.zeros(batch, heads, head_dim, device=device, dtype=dtype)
    return zeros, zeros.clone(), zeros.clone(), torch.full_like(zeros, -float("inf"))


class _SLSTMLoop(torch.autograd.Function):
    """The loop over time, with a hand-written backward.

    Autograd would record ~15 tiny ops per step and replay them one by one. Here the forward
    keeps only the gate pre-activations and h, c, n, m per step; the backward computes every
    pointwise factor for all steps at once, and only the adjoint recurrence (about a dozen ops
    per step) runs as a loop. m is a stabilizer and gets no gradient: h = o c / n does not
    depend on it (c and n carry the same factor exp(-m)), so the gradients of h are exact.
    """

    @staticmethod
    def forward(ctx, pre, R, h0, c0, n0, m0):
        # pre [T, H, B, 4 Dh]; R [H, Dh, 4 Dh]; h0, c0, n0, m0 [H, B, Dh]
        length = pre.shape[0]
        gates = torch.empty_like(pre)
        hs, cs, ns, ms = (pre.new_empty(length, *h0.shape) for _ in range(4))
        h, c, n, m = h0, c0, n0, m0
        for t in range(length):
            i_raw, f_raw, z_raw, o_raw = torch.baddbmm(pre[t], h, R, out=gates[t]).chunk(4, -1)
            log_f = F.logsigmoid(f_raw).add_(m)
            m = torch.maximum(log_f, i_raw, out=ms[t])
            i_act, f_act = torch.sub(i_raw, m).exp_(), log_f.sub_(m).exp_()
            c = torch.addcmul(i_act * torch.tanh(z_raw), f_act, c, out=cs[t])
            n = torch.addcmul(i_act, f_act, n, out=ns[t])
            h = torch.mul(torch.sigmoid(o_raw), c, out=hs[t]).div_(n)
        ctx.save_for_backward(R, gates, hs, cs, ns, ms, h0, c0, n0, m0)
        return hs, c.clone(), n.clone(), m.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_hs, grad_c, grad_n, _grad_m):
        R, gates, hs, cs, ns, ms, h0, c0, n0, m0 = ctx.saved_tensors
        length = gates.shape[0]

        def before(xs, x0):  # the value at t-1 for every t
            return torch.cat([x0[None], xs[:-1]])

        i_raw, f_raw, z_raw, o_raw = gates.chunk(4, -1)
        i_act = torch.exp(i_raw - ms)
        f_act = torch.exp(F.logsigmoid(f_raw) + before(ms, m0) - ms)
        z_act, o_act = torch.tanh(z_raw), torch.sigmoid(o_raw)
        ratio = cs / ns
        # dL/d(c_t) = dh_t * by_c + ..., dL/d(n_t) = dh_t * by_n + ..., and so on.
        by_c, by_n = o_act / ns, -o_act * ratio / ns
        by_o = ratio * o_act * (1 - o_act)
        by_f, by_z = f_act * torch.sigmoid(-f_raw), i_act * (1 - z_act.square())
        c_prev, n_prev = before(cs, c0), before(ns, n0)
        grad_hs = torch.zeros_like(hs) if grad_hs is None else grad_hs
        carry_c = torch.zeros_like(c0) if grad_c is None else grad_c.clone()
        carry_n = torch.zeros_like(n0) if grad_n is None else grad_n.clone()
        grad_gates = torch.empty_like(gates)
        d_i, d_f, d_z, d_o = grad_gates.chunk(4, -1)
        R_t = R.transpose(1, 2)
        for t in range(length - 1, -1, -1):
            dh = grad_hs[t]
            if t < length - 1:  # plus what h_t feeds into the next step's gates through R
                dh = torch.baddbmm(dh, grad_gates[t + 1], R_t)
            dc = torch.addcmul(carry_c, dh, by_c[t])
            dn = torch.addcmul(carry_n, dh, by_n[t])
            torch.mul(dh, by_o[t], out=d_o[t])
            torch.mul(torch.addcmul(dn * n_prev[t], dc, c_prev[t]), by_f[t], out=d_f[t])
            torch.mul(torch.addcmul(dn, dc, z_act[t]), i_act[t], out=d_i[t])
            torch.mul(dc, by_z[t], out=d_z[t])
            carry_c, carry_n = dc.mul_(f_act[t]), dn.mul_(f_act[t])
        grad_h0 = torch.bmm(grad_gates[0], R_t)
        h_prev = before(hs, h0)  # [T, H, B, Dh]: dR = sum over t and batch of h_{t-1}^T dgates_t
        grad_R = torch.bmm(
            h_prev.permute(1, 3, 0, 2).flatten(2), grad_gates.permute(1, 0, 2, 3).flatten(1, 2)
        )
        return grad_gates, grad_R, grad_h0, carry_c, carry_n, None


def slstm_torch(pre: torch.Tensor, R: torch.Tensor, state=None):
    """h for every step [B, T, H, Dh] and the last state (h, c, n, m), math in fp32 or wider."""
    batch, length, heads, four_dh = pre.shape
    dh = four_dh // 4
    wide = torch.promote_types(pre.dtype, torch.float32)
    if state is None:
        state = slstm_initial(batch, heads, dh, pre.device, wide)
    if length == 0:
        return pre.new_zeros(batch, 0, heads, dh), tuple(state)
    # Heads lead inside the loop, so each step is one bmm against R [H, Dh, 4 Dh].
    h0, c0, n0, m0 = (s.to(wide).transpose(0, 1).contiguous() for s in state)
    pre_t = pre.to(wide).permute(1, 2, 0, 3).contiguous()  # [T, H, B, 4 Dh]
    hs, c, n, m = _SLSTMLoop.apply(pre_t, R.to(wide), h0, c0, n0, m0)
    last = tuple(s.transpose(0, 1) for s in (hs[-1], c, n, m))
    return hs.permute(2, 0, 1, 3).to(pre.dtype), last


def slstm_naive(pre: torch.Tensor, R: torch.Tensor, state=None):
    """The same loop, differentiated by autograd: the oracle for `slstm_torch`'s backward."""
    batch, length, heads, four_dh = pre.shape
    dh = four_dh // 4
    wide = torch.promote_types(pre.dtype, torch.float32)
    if state is None:
        state = slstm_initial(batch, heads, dh, pre.device, wide)
    h, c, n, m = (s.to(wide) for s in state)
    outs = []
    for t in range(length):
        gates = pre[:, t].to(wide) + torch.einsum("bhd,hde->bhe", h, R.to(wide))
        i_raw, f_raw, z_raw, o_raw = gates.chunk(4, dim=-1)
        log_f = F.logsigmoid(f_raw) + m.detach()
        m_new = torch.maximum(log_f, i_raw).detach()  # a stabilizer: no gradient, as above
        i_act, f_act = torch.exp(i_raw - m_new), torch.exp(log_f - m_new)
        c = f_act * c + i_act * torch.tanh(z_raw)
        n = f_act * n + i_act
        h = torch.sigmoid(o_raw) * c / n
        m = m_new
        outs.append(h)
    out = torch.stack(outs, dim=1) if outs else pre.new_zeros(batch, 0, heads, dh, dtype=wide)
    return out.to(pre.dtype), (h, c, n, m)

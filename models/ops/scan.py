"""First-order linear recurrence h_t = a_t * h_{t-1} + b_t along time, without a Python time loop.

Every diagonal recurrent layer here (Mamba's selective SSM, Griffin's RG-LRU) reduces to this
scan. `linear_scan` runs a log-depth (Hillis-Steele) scan in the forward pass and, in the
backward pass, the adjoint recurrence g_t = dL/dh_t + a_{t+1} g_{t+1}, which is the same scan
run backwards in time. Autograd therefore stores only a, b and h instead of log2(T) levels.
`linear_scan_ref` is the plain loop: the spec, and the oracle for tests.
"""

from __future__ import annotations

import torch


def _scan(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inclusive scan along dim 1 of the affine maps h -> a*h + b; returns (prod a, h with h0=0)."""
    a = a.clone()
    b = b.clone()
    t = a.shape[1]
    k = 1
    while k < t:
        # Combine each position with the one k steps back; both updates read the old values.
        b_new = torch.addcmul(b[:, k:], a[:, k:], b[:, :-k])
        a_new = a[:, k:] * a[:, :-k]
        b[:, k:] = b_new
        a[:, k:] = a_new
        k *= 2
    return a, b


class _LinearScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, h0):
        cum_a, h = _scan(a, b)
        if h0 is not None:
            h = torch.addcmul(h, cum_a, h0.unsqueeze(1))
        ctx.save_for_backward(a, h, h0)
        return h

    @staticmethod
    def backward(ctx, grad_h):
        a, h, h0 = ctx.saved_tensors
        # Adjoint: g_t = grad_h_t + a_{t+1} g_{t+1}, a reverse-time scan.
        a_next = torch.cat([a[:, 1:], torch.zeros_like(a[:, :1])], dim=1)
        _, g = _scan(a_next.flip(1), grad_h.flip(1))
        g = g.flip(1)
        h_prev = torch.cat(
            [h0.unsqueeze(1) if h0 is not None else torch.zeros_like(h[:, :1]), h[:, :-1]], dim=1
        )
        grad_a = g * h_prev
        grad_h0 = a[:, 0] * g[:, 0] if h0 is not None else None
        return grad_a, g, grad_h0


def linear_scan(
    a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None
) -> torch.Tensor:
    """h_t = a_t * h_{t-1} + b_t for t along dim 1, h_{-1} = h0 (zeros if None).

    a, b: [B, T, ...] of the same shape; h0: [B, ...]. Returns h: [B, T, ...] (every step).
    """
    if a.shape != b.shape:
        raise ValueError(f"linear_scan: a {tuple(a.shape)} and b {tuple(b.shape)} differ")
    if h0 is not None and h0.shape != a.shape[:1] + a.shape[2:]:
        raise ValueError(f"linear_scan: h0 {tuple(h0.shape)} does not match a {tuple(a.shape)}")
    if a.shape[1] == 0:
        return b.clone()
    return _LinearScan.apply(a, b, h0)


def linear_scan_ref(
    a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None
) -> torch.Tensor:
    """The same recurrence as a loop over time: slow, obviously correct."""
    h = torch.zeros_like(b[:, 0]) if h0 is None else h0
    out = []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, dim=1)

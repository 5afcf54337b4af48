"""First-order linear recurrence h_t = a_t * h_{t-1} + b_t along time, without a Python time loop.

Every diagonal recurrent layer here (Mamba's selective SSM, Griffin's RG-LRU, retention's
chunk-to-chunk state) reduces to this scan. `linear_scan` is a blocked scan: time is cut into
about sqrt(T/3) chunks, each torch op covers one in-chunk offset of every chunk at once, so the
Python loop runs O(sqrt T) times, never T times. Its backward is the adjoint recurrence
g_t = dL/dh_t + a_{t+1} g_{t+1}, the same scan run backwards, so autograd keeps only a and h.
It replaced a log-depth (Hillis-Steele) scan, whose log2(T) full passes over the sequence cost
more on CPU than one blocked sweep (docs/performance.md gives the figures).
`linear_scan_naive` is the plain loop: the spec, and the oracle for tests.
"""

from __future__ import annotations

import math

import torch


def default_chunk(length: int) -> int:
    """About sqrt(L/3): the two passes make 3 ops per in-chunk offset, the carry 1 per chunk."""
    return max(1, min(length, round(math.sqrt(length / 3))))


def _offsets(length: int, chunk: int, k: int, reverse: bool) -> tuple[int, int]:
    """Positions at in-chunk offset k: (first time index, how many); they are every chunk-th.

    Forward, chunks start at 0 and the last one is ragged; reverse, chunks end at length-1, the
    first one is ragged, and offset k counts back from each chunk's end.
    """
    first = k if not reverse else (length - 1 - k) % chunk
    count = (length - 1 - k) // chunk + 1
    return first, count


def blocked_scan(
    a: torch.Tensor,
    b: torch.Tensor,
    h0: torch.Tensor | None,
    chunk: int,
    reverse: bool,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """h_t = a_t h_{t-1} + b_t along dim 1 (reverse: h_t = a_t h_{t+1} + b_t); a, b [B, L, F].

    Time is cut into n chunks of `chunk` steps. Pass 1 sweeps the in-chunk offsets, all chunks at
    once, into two [B, n, F] buffers: each chunk's decay product and its final state from zero.
    A loop over chunks turns those into each chunk's incoming state, and pass 2 sweeps again from
    those states, writing h. That is O(chunk + n) torch ops of [B, n, F] each, two reads of a and
    b and one write of h, and no [B, L, F] temporaries. `out` may be b itself: pass 2 reads each
    b_t just before it writes h_t in the same place.
    """
    batch, length, feat = b.shape
    n = -(-length // chunk)
    local = b.new_zeros(batch, n, feat)  # each chunk's final state, started from zero
    decay = b.new_ones(batch, n, feat)  # each chunk's product of a
    sel = (lambda c: slice(0, c)) if not reverse else (lambda c: slice(n - c, n))
    for k in range(chunk):
        first, count = _offsets(length, chunk, k, reverse)
        ak, bk = a[:, first::chunk], b[:, first::chunk]
        part = local[:, sel(count)]
        torch.addcmul(bk, ak, part, out=part)
        decay[:, sel(count)].mul_(ak)
    incoming = torch.empty_like(local)
    order = range(n) if not reverse else range(n - 1, -1, -1)
    state = h0 if h0 is not None else b.new_zeros(batch, feat)
    for i in order:
        incoming[:, i] = state
        state = torch.addcmul(local[:, i], decay[:, i], state)
    h = torch.empty_like(b) if out is None else out
    for k in range(chunk):
        first, count = _offsets(length, chunk, k, reverse)
        if k == 0:
            prev = incoming
        else:  # the neighbour one step back in time (forward) or ahead (reverse)
            first_prev, count_prev = _offsets(length, chunk, k - 1, reverse)
            prev = h[:, first_prev::chunk]
            prev = prev[:, :count] if not reverse else prev[:, count_prev - count :]
        torch.addcmul(b[:, first::chunk], a[:, first::chunk], prev, out=h[:, first::chunk])
    return h


class _ChunkedScan(torch.autograd.Function):
    @staticmethod
    def forward(a, b, h0, chunk):
        return blocked_scan(a, b, h0, chunk, reverse=False)

    @staticmethod
    def setup_context(ctx, inputs, output):
        a, _, h0, ctx.chunk = inputs
        ctx.save_for_backward(a, output, h0)

    @staticmethod
    def vmap(info, in_dims, a, b, h0, chunk):
        """Under torch.func.vmap (several cells trained as one model: bench.run.batched), the
        vmapped dimension joins the batch: rows are independent, so each member's h is what
        it would be alone, bit for bit."""
        size = info.batch_size

        def fold(x, dim):
            if x is None:
                return None
            x = x.unsqueeze(0).expand(size, *x.shape) if dim is None else x.movedim(dim, 0)
            return x.reshape(size * x.shape[1], *x.shape[2:]).contiguous()

        h = _ChunkedScan.apply(
            fold(a, in_dims[0]), fold(b, in_dims[1]), fold(h0, in_dims[2]), chunk
        )
        return h.view(size, -1, *h.shape[1:]), 0

    @staticmethod
    def backward(ctx, grad_h):
        a, h, h0 = ctx.saved_tensors
        # Adjoint g_t = grad_h_t + a_{t+1} g_{t+1}: the same scan backwards with a shifted by one.
        a_next = torch.empty_like(a)
        a_next[:, :-1] = a[:, 1:]
        a_next[:, -1] = 0
        g = blocked_scan(a_next, grad_h.contiguous(), None, ctx.chunk, reverse=True)
        grad_a = torch.empty_like(g)
        torch.mul(g[:, 1:], h[:, :-1], out=grad_a[:, 1:])
        if h0 is not None:
            torch.mul(g[:, 0], h0, out=grad_a[:, 0])
        else:
            grad_a[:, 0] = 0
        grad_h0 = a[:, 0] * g[:, 0] if h0 is not None else None
        return grad_a, g, grad_h0, None


def linear_scan(
    a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None, chunk: int | None = None
) -> torch.Tensor:
    """h_t = a_t * h_{t-1} + b_t for t along dim 1, h_{-1} = h0 (zeros if None).

    a, b: [B, T, ...] of the same shape; h0: [B, ...]. Returns h: [B, T, ...] (every step).
    `chunk` overrides the chunk length (tests use it to force ragged chunks).
    """
    if a.shape != b.shape:
        raise ValueError(f"linear_scan: a {tuple(a.shape)} and b {tuple(b.shape)} differ")
    if h0 is not None and h0.shape != a.shape[:1] + a.shape[2:]:
        raise ValueError(f"linear_scan: h0 {tuple(h0.shape)} does not match a {tuple(a.shape)}")
    batch, length = a.shape[:2]
    if length == 0:
        return b.clone()
    chunk = default_chunk(length) if chunk is None else max(1, min(chunk, length))
    flat = (batch, length, -1)
    h = _ChunkedScan.apply(
        a.reshape(flat).contiguous(),
        b.reshape(flat).contiguous(),
        None if h0 is None else h0.reshape(batch, -1).contiguous(),
        chunk,
    )
    return h.view(a.shape)


def linear_scan_naive(
    a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None
) -> torch.Tensor:
    """The same recurrence as a loop over time: slow, obviously correct."""
    h = torch.zeros_like(b[:, 0]) if h0 is None else h0
    out = []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, dim=1)

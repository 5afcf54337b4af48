"""Mamba's selective scan: a loop oracle, a fast pure-PyTorch path, and mamba_ssm's fused kernel.

All three have the signature and semantics of `mamba_ssm`'s `selective_scan_fn` (u, delta
[B, D, L]; A [D, N]; B, C [B, N, L], [B, G, N, L] or time-invariant [D, N]), plus:

- `eigen`: "[0,1]" is Mamba's transition exp(delta*A); "[-1,1]" is 2*exp(delta*A) - 1, the
  negative-eigenvalue variant of Grazzi et al. 2025, which lets a diagonal SSM flip signs and so
  track parity. The fused kernel has no such mode, so "[-1,1]" always runs the torch path.
- `h0` [B, D, N]: the state to start from, so `step` can run a whole chunk in parallel. The fused
  kernel cannot start from a state either, so a non-None `h0` also selects the torch path (a
  stream's first chunk passes h0=None and so still runs fused).

Paths: `selective_scan_naive` (one Python step per time step: the spec and test oracle),
`selective_scan_torch` (the CPU path, below) and `selective_scan_mamba_ssm` (the fused kernel);
`selective_scan` picks the fused one where it applies.

Precision: the scan runs in fp32 whatever the input dtype (fp64 for fp64 inputs, so tests can be
tight), as mamba_ssm's kernel and reference do: the state is a product of up to L decays, and
bf16's 8 mantissa bits would drift over the long evaluation lengths this benchmark is about. The
output is cast back to u's dtype; the last state stays fp32.

Speed and memory on CPU: `selective_scan_torch` works through time in segments of
~SEGMENT_ELEMENTS state floats, carrying the state between them, and within a segment runs the
blocked scan of `models.ops.scan` (O(sqrt S) torch ops for S steps, each over all chunks at once;
never one op per time step). Its hand-written backward recomputes each segment's states from the
segment's start, as mamba_ssm's kernel does, so no [B, L, D, N] tensor is ever built: memory is
O(B L D) rather than O(B L D N), which is what lets long evaluation lengths run.
"""

from __future__ import annotations

import torch
from statebench.models.ops.fused import import_error, optional_import, record_error
from statebench.models.ops.scan import blocked_scan, default_chunk
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

MAMBA_MODULE = "mamba_ssm.ops.selective_scan_interface"


def load_mamba_ssm():
    """mamba_ssm's `selective_scan_fn` if its CUDA kernel is really there, else None.

    mamba-ssm builds its CUDA extension only on request (MAMBA_KEEP_CUDA_BUILD=TRUE in recent
    releases), and without it the Python package still imports while `selective_scan_fn` raises
    at the first call. So the extension module itself, `selective_scan_cuda`, must import too.
    """
    found = optional_import(MAMBA_MODULE, "selective_scan_fn")
    if found is None:
        return None
    if optional_import("selective_scan_cuda", "fwd", "bwd") is None:
        record_error(
            MAMBA_MODULE,
            "mamba_ssm imports but its CUDA extension selective_scan_cuda does not "
            f"({import_error('selective_scan_cuda')}); reinstall it with "
            "MAMBA_KEEP_CUDA_BUILD=TRUE",
        )
        return None
    return found[0]


_fused_selective_scan = load_mamba_ssm()

EIGEN_MODES = ("[0,1]", "[-1,1]")
# The scan works through time in segments of about this many state floats over the batch (2 MiB
# in fp32, about a core's L2; 2^19 measured best or tied among 2^18..2^22 at batch 2 and 8 on a
# 2 MiB-L2 Xeon), and never fewer than MIN_SEGMENT steps, which keeps the Python overhead per
# segment small next to its work.
SEGMENT_ELEMENTS = 1 << 19
MIN_SEGMENT = 32


def check_eigen(eigen: str) -> None:
    if eigen not in EIGEN_MODES:
        raise ValueError(f"eigen={eigen!r} is not one of {EIGEN_MODES}")


def fused_available(device: torch.device, eigen: str = "[0,1]") -> bool:
    """True when `selective_scan` would run mamba_ssm's fused kernel on `device` (no h0)."""
    check_eigen(eigen)
    return (
        _fused_selective_scan is not None
        and torch.device(device).type == "cuda"
        and eigen == "[0,1]"
    )


def transition(delta: torch.Tensor, A: torch.Tensor, eigen: str = "[0,1]") -> torch.Tensor:
    """The state's decay per step: exp(delta*A) in [0, 1], or 2*exp(delta*A) - 1 in [-1, 1].

    delta*A <= 0 (delta > 0, A < 0), so both stay in range; "[-1,1]" maps a long step (delta*A
    -> -inf) to -1, a sign flip, and a zero step to 1, keeping the state.
    """
    check_eigen(eigen)
    decay = torch.exp(delta * A)
    return decay if eigen == "[0,1]" else 2 * decay - 1


def _per_channel(x: torch.Tensor, dim: int, wide: torch.dtype) -> torch.Tensor:
    """B or C as [B|1, D, N, L|1]: one row per channel, whatever mamba_ssm layout it came in."""
    if x.dim() == 2:  # time-invariant [D, N]
        return x.to(wide)[None, :, :, None]
    if x.dim() == 3:  # [B, N, L]: shared by every channel
        return x.to(wide)[:, None]
    if x.dim() == 4 and dim % x.shape[1] == 0:  # [B, G, N, L]: shared within a group
        return x.to(wide).repeat_interleave(dim // x.shape[1], dim=1)
    raise ValueError(f"selective_scan_naive: B/C of shape {tuple(x.shape)} for D={dim}")


def selective_scan_naive(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    *,
    eigen: str = "[0,1]",
    return_last_state: bool = False,
    h0: torch.Tensor | None = None,
):
    """The recurrence one time step at a time: slow, obviously correct. The test oracle of
    `selective_scan_torch` and of the fused kernel; same signature and result as both."""
    check_eigen(eigen)
    wide = torch.promote_types(u.dtype, torch.float32)
    batch, dim, length = u.shape
    u_w, delta = u.to(wide), delta.to(wide)
    if delta_bias is not None:
        delta = delta + delta_bias.to(wide)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    A = A.to(wide)
    Bc, Cc = _per_channel(B, dim, wide), _per_channel(C, dim, wide)
    h = u_w.new_zeros(batch, dim, A.shape[1]) if h0 is None else h0.to(wide)
    ys = []
    for t in range(length):
        a = transition(delta[:, :, t, None], A, eigen)  # [B, D, N]
        b_t, c_t = Bc[..., min(t, Bc.shape[-1] - 1)], Cc[..., min(t, Cc.shape[-1] - 1)]
        h = a * h + (delta[:, :, t] * u_w[:, :, t])[..., None] * b_t
        ys.append((h * c_t).sum(-1))
    y = torch.stack(ys, dim=2) if ys else u_w.new_zeros(batch, dim, 0)
    if D is not None:
        y = y + D.to(wide)[:, None] * u_w
    if z is not None:
        y = y * F.silu(z.to(wide))
    out = y.to(u.dtype)
    return (out, h) if return_last_state else out


# --- the selective scan ----------------------------------------------------------------------


def _outer(v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """v [B, L, G, H] times w [B|1, L|1, G, 1, N] -> [B, L, G, H, N], contiguous."""
    return (v.unsqueeze(-1) * w).contiguous()  # a transposed w would otherwise set the layout


def _dot_n(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x [B, L, G, H, N] against w [B|1, L|1, G, 1, N] over N -> [B, L, G, H]."""
    if w.shape[:2] == x.shape[:2]:  # einsum's batched mat-vec: ~2x a multiply-and-sum on CPU
        return torch.einsum("blghn,blgn->blgh", x, w.squeeze(-2))
    return (x * w).sum(-1)


def _dot_h(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """v [B, L, G, H] against x [B, L, G, H, N] over H -> [B, L, G, 1, N]."""
    return torch.matmul(v.unsqueeze(-2), x)


def _segments(length: int, state_numel: int) -> list[tuple[int, int]]:
    """Time ranges of about SEGMENT_ELEMENTS state floats each (at least MIN_SEGMENT steps)."""
    step = max(MIN_SEGMENT, SEGMENT_ELEMENTS // max(1, state_numel))
    return [(t, min(t + step, length)) for t in range(0, length, step)]


def _at(x: torch.Tensor, t0: int, t1: int) -> torch.Tensor:
    """x's time range [t0, t1) (dim 1), or x itself when it is constant in time (size 1)."""
    return x if x.shape[1] == 1 else x[:, t0:t1]


class _SelectiveScanCore(torch.autograd.Function):
    """y_t = C_t . h_t and h_{L-1}, for h_t = a_t h_{t-1} + delta_t u_t B_t, a_t = transition.

    Shapes (time-major, channels split into G groups of H that share B and C): delta, u
    [B, L, G, H]; A [G, H, N]; B, C [B|1, L|1, G, 1, N]; h0 [B, G, H, N] or None.

    Time is processed in segments of ~SEGMENT_ELEMENTS state floats, carrying h between them,
    so no [B, L, D, N] tensor ever exists: memory is O(B L D + B D N per segment), which is what
    lets long evaluation lengths run, and each segment's temporaries stay in cache. Like
    mamba_ssm's kernel, the backward keeps only the state at each segment start and recomputes
    the segment's states from it. Autograd through the same ops would keep a, the drive and h
    over all of L, and run broadcasting backward multiplies that are slow on CPU.
    """

    @staticmethod
    def forward(ctx, delta, u, A, B, C, h0, eigen):
        batch, length, groups, heads = delta.shape
        A = A.contiguous()  # its layout (and delta's) sets that of the [B, L, G, H, N] products
        du = delta * u
        y = delta.new_empty(delta.shape)
        state = h0 if h0 is not None else delta.new_zeros(batch, groups, heads, A.shape[-1])
        starts = []
        for t0, t1 in _segments(length, state.numel()):
            starts.append(state)
            a = _transition_(torch.mul(delta[:, t0:t1].unsqueeze(-1), A), eigen)
            h = _scan_segment(a, _outer(du[:, t0:t1], _at(B, t0, t1)), state, reverse=False)
            y[:, t0:t1] = _dot_n(h, _at(C, t0, t1))
            state = h[:, -1].clone()
        ctx.eigen = eigen
        ctx.save_for_backward(delta, u, A, B, C, h0, torch.stack(starts))
        return y, state

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, grad_last):
        delta, u, A, B, C, h0, starts = ctx.saved_tensors
        length = delta.shape[1]
        eigen, du = ctx.eigen, delta * u
        grad_delta, grad_u = torch.empty_like(delta), torch.empty_like(u)
        grad_A = torch.zeros_like(A)
        grad_B = torch.zeros_like(B) if ctx.needs_input_grad[3] else None
        grad_C = torch.zeros_like(C) if ctx.needs_input_grad[4] else None
        # dL/dh at the end of the segment from everything after it: grad_last, then a_t1 g_t1.
        carry = grad_last
        segments = _segments(length, starts[0].numel())
        for i, (t0, t1) in reversed(list(enumerate(segments))):
            # a_t for t0 <= t <= t1, in one buffer: [:-1] rebuilds the states, [1:] (a_{t+1})
            # drives the adjoint. a_L does not exist: 0, nothing flows back from past the end.
            t_end = min(t1 + 1, length)
            a_ext = delta.new_empty((delta.shape[0], t1 - t0 + 1, *A.shape))
            torch.mul(delta[:, t0:t_end].unsqueeze(-1), A, out=a_ext[:, : t_end - t0])
            _transition_(a_ext[:, : t_end - t0], eigen)
            if t_end == t1:
                a_ext[:, -1] = 0
            a, a_next = a_ext[:, :-1], a_ext[:, 1:]
            B_i, C_i, gy = _at(B, t0, t1), _at(C, t0, t1), grad_y[:, t0:t1]
            h = _scan_segment(a, _outer(du[:, t0:t1], B_i), starts[i], reverse=False)

            grad_h = _outer(gy, C_i)
            if carry is not None:
                grad_h[:, -1] += carry
            g = _scan_segment(a_next, grad_h, None, reverse=True)  # dL/d(drive_t)
            if grad_C is not None:
                _accumulate(grad_C, t0, t1, _dot_h(gy, h))
            grad_du = _dot_n(g, B_i)
            if grad_B is not None:
                _accumulate(grad_B, t0, t1, _dot_h(du[:, t0:t1], g))
            carry = a[:, 0] * g[:, 0]  # dL/dh_{t0-1} through h_t0

            # g becomes dL/dx_t for x_t = delta_t A: times h_{t-1} (so dL/da_t), times da/dx,
            # which is exp(x) = a for "[0,1]" and 2 exp(x) = a + 1 for "[-1,1]".
            g[:, 1:].mul_(h[:, :-1])
            g[:, 0].mul_(starts[i])
            g.mul_(a if eigen == "[0,1]" else a.add_(1))
            grad_A += (g * delta[:, t0:t1].unsqueeze(-1)).sum((0, 1))
            ones = A.new_ones(A.shape[-1])
            grad_x = torch.mv(g.mul_(A).view(-1, A.shape[-1]), ones).view(grad_du.shape)
            grad_delta[:, t0:t1] = grad_x + grad_du * u[:, t0:t1]
            grad_u[:, t0:t1] = grad_du * delta[:, t0:t1]
        grad_h0 = carry if h0 is not None else None
        return grad_delta, grad_u, grad_A, grad_B, grad_C, grad_h0, None


def _scan_segment(a, drive, h0, reverse: bool) -> torch.Tensor:
    """The blocked scan over [B, S, G, H, N] tensors, written over `drive` (which it consumes)."""
    batch, length = drive.shape[:2]
    flat = (batch, length, -1)
    h0 = None if h0 is None else h0.reshape(batch, -1)
    chunk = default_chunk(length)
    out = drive.view(flat)
    return blocked_scan(a.reshape(flat), out, h0, chunk, reverse, out=out).view(drive.shape)


def _accumulate(total: torch.Tensor, t0: int, t1: int, part: torch.Tensor) -> None:
    """Add a segment's gradient for B or C: into its time range, or summed if B/C is constant."""
    if total.shape[1] == 1:
        total += part.sum_to_size(total.shape)
    else:
        total[:, t0:t1] += part.sum_to_size(total[:, t0:t1].shape)


def _transition_(x: torch.Tensor, eigen: str) -> torch.Tensor:
    """`transition` in place on x = delta * A (saves a [B, L, D, N] temporary)."""
    x.exp_()
    return x if eigen == "[0,1]" else x.mul_(2).sub_(1)


def _time_major_bc(x: torch.Tensor, dim: int, name: str, wide: torch.dtype) -> torch.Tensor:
    """B or C as [B|1, L|1, G, 1, N], to broadcast against the state as [B, L, G, D/G, N]."""
    if x.is_complex():
        raise ValueError(f"selective_scan_torch: complex {name} is not supported")
    if x.dim() == 2:  # time-invariant [D, N]
        return x.to(wide)[None, None, :, None, :]
    if x.dim() == 3:  # [B, N, L]: one group
        return x.to(wide).transpose(1, 2)[:, :, None, None, :]
    if x.dim() == 4 and dim % x.shape[1] == 0:  # [B, G, N, L]
        return x.to(wide).permute(0, 3, 1, 2)[:, :, :, None, :]
    raise ValueError(
        f"selective_scan_torch: {name} has shape {tuple(x.shape)}; expected [D, N], [B, N, L] or "
        f"[B, G, N, L] with G dividing D={dim}"
    )


def selective_scan_torch(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    *,
    eigen: str = "[0,1]",
    return_last_state: bool = False,
    h0: torch.Tensor | None = None,
):
    """out = (C_t . h_t + D u_t) * silu(z_t), h_t = a_t h_{t-1} + delta_t B_t u_t, h_{-1} = h0.

    a_t = exp(delta_t A) for eigen "[0,1]", 2 exp(delta_t A) - 1 for "[-1,1]". Returns out
    [B, D, L] in u's dtype, and with `return_last_state` also h_{L-1} [B, D, N] in fp32 (fp64
    for fp64 inputs; unlike mamba_ssm's, it carries gradients). The keywords after
    delta_softplus are keyword-only, so a call written for mamba_ssm's positional order cannot
    bind them silently wrong.
    """
    check_eigen(eigen)
    if A.is_complex():
        raise ValueError("selective_scan_torch: complex A is not supported")
    dtype_in = u.dtype
    batch, dim, length = u.shape
    wide = torch.promote_types(u.dtype, torch.float32)  # fp32, or fp64 for fp64 inputs
    Bv, Cv = _time_major_bc(B, dim, "B", wide), _time_major_bc(C, dim, "C", wide)
    groups = max(Bv.shape[2], Cv.shape[2])
    # Mixed groupings (e.g. B per group, C time-invariant per channel): spread the coarser one.
    Bv, Cv = (
        x if x.shape[2] in (1, groups) else x.repeat_interleave(groups // x.shape[2], dim=2)
        for x in (Bv, Cv)
    )
    grouped = (batch, length, groups, dim // groups, A.shape[1])

    u_t = u.to(wide).transpose(1, 2).contiguous()  # [B, L, D]: time-major, as the scan wants
    delta = delta.to(wide)
    if delta_bias is not None:
        delta = delta + delta_bias.to(wide)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    delta_t = delta.transpose(1, 2).contiguous()

    y, last = _SelectiveScanCore.apply(
        delta_t.reshape(grouped[:-1]),
        u_t.reshape(grouped[:-1]),
        A.to(wide).reshape(grouped[2:]),
        Bv,
        Cv,
        None if h0 is None else h0.to(wide).reshape(batch, *grouped[2:]),
        eigen,
    )
    y = y.reshape(batch, length, dim)
    if D is not None:
        y = y + u_t * D.to(wide)
    out = y.transpose(1, 2)
    if z is not None:
        out = out * F.silu(z.to(wide))
    out = out.to(dtype_in)
    if not return_last_state:
        return out
    return out, last.view(batch, dim, -1)


def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    *,
    eigen: str = "[0,1]",
    return_last_state: bool = False,
    h0: torch.Tensor | None = None,
):
    """mamba_ssm's fused kernel when it imports, u is on CUDA, eigen is "[0,1]" and there is no
    h0; `selective_scan_torch` otherwise. (The fused last state carries no gradient.)"""
    if h0 is None and fused_available(u.device, eigen):
        return selective_scan_mamba_ssm(
            u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state=return_last_state
        )
    return selective_scan_torch(
        u,
        delta,
        A,
        B,
        C,
        D,
        z,
        delta_bias,
        delta_softplus,
        eigen=eigen,
        return_last_state=return_last_state,
        h0=h0,
    )


def selective_scan_mamba_ssm(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    *,
    eigen: str = "[0,1]",
    return_last_state: bool = False,
    h0: torch.Tensor | None = None,
):
    """mamba_ssm's `selective_scan_fn` behind this module's signature (CUDA, eigen "[0,1]",
    no h0: the kernel has neither)."""
    if _fused_selective_scan is None:
        raise RuntimeError("selective_scan_mamba_ssm: mamba_ssm's CUDA kernel is not available")
    if eigen != "[0,1]" or h0 is not None:
        raise ValueError("selective_scan_mamba_ssm: the kernel has no eigen='[-1,1]' and no h0")
    return _fused_selective_scan(
        u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state
    )

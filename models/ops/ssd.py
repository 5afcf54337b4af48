"""Mamba-2's state-space duality (SSD) scan: a loop oracle, a chunked pure-PyTorch form, and
mamba_ssm's fused `mamba_chunk_scan_combined`, all with one signature.

The recurrence, per head h with a scalar decay (Dao & Gu 2024):

    S_t = a_t S_{t-1} + dt_t x_t B_t^T      (S [head_dim, d_state])
    y_t = S_t C_t + D x_t,                 a_t = exp(dt_t A)      (eigen "[0,1]")
                                            a_t = 2 exp(dt_t A) - 1 (eigen "[-1,1]")

Heads are split into n_groups groups that share B and C. "[-1,1]" is the negative-eigenvalue
variant of Grazzi et al. 2025, mapped as our Mamba maps it (models/ops/selective_scan.py); the
fused kernel has no such mode, so that variant always runs `ssd_torch`.

`ssd_torch` is the chunked dual form: inside a chunk of Q steps the output is a masked,
decay-weighted attention (C_t . B_s) L[t, s] (dt x)_s, a few batched matmuls; across chunks
only the [head_dim, d_state] states travel, through the blocked scan of models/ops/scan.py. No
op runs per time step, and no [T, T] or [T, d_state, head_dim] tensor is ever built. A product
of signed decays is carried as sum(log|a|) plus a sign parity, so "[-1,1]" uses the same
matmuls; |a| is floored at MIN_ABS_DECAY (a decay that small zeroes the product anyway).

Shapes (mamba_ssm's): x [B, L, H, P]; dt [B, L, H]; A [H]; B, C [B, L, G, N]; D [H] or None;
dt_bias [H]; initial_states [B, H, P, N]. Returns y [B, L, H, P] in x's dtype, and with
`return_final_states` the last state [B, H, P, N] in fp32 (fp64 for fp64 inputs).
"""

from __future__ import annotations

import math

import torch
from statebench.models.ops.fused import optional_import
from statebench.models.ops.scan import linear_scan
from statebench.models.ops.selective_scan import EIGEN_MODES
from torch.nn import functional as F

# The optional fused kernel; its absence (or a broken build) is never an error.
MAMBA_SSD_MODULE = "mamba_ssm.ops.triton.ssd_combined"
_found = optional_import(MAMBA_SSD_MODULE, "mamba_chunk_scan_combined")
_fused_ssd = _found[0] if _found is not None else None

MIN_ABS_DECAY = 1e-20
_LOG_MIN_ABS_DECAY = math.log(MIN_ABS_DECAY)


def _check(x, dt, A, B, C, eigen: str) -> None:
    if eigen not in EIGEN_MODES:
        raise ValueError(f"ssd: eigen={eigen!r} is not one of {EIGEN_MODES}")
    batch, length, heads, _ = x.shape
    groups = B.shape[2]
    if dt.shape != (batch, length, heads) or A.shape != (heads,):
        raise ValueError(
            f"ssd: x {tuple(x.shape)} needs dt [B, L, H] and A [H], "
            f"got {tuple(dt.shape)} and {tuple(A.shape)}"
        )
    if B.shape != C.shape or B.shape[:2] != (batch, length) or heads % groups:
        raise ValueError(
            f"ssd: B {tuple(B.shape)} and C {tuple(C.shape)} must be [B, L, G, N] alike, "
            f"with G dividing the {heads} heads"
        )


def fused_available(device: torch.device, eigen: str = "[0,1]") -> bool:
    """True when `ssd` would run mamba_ssm's fused kernel for tensors on `device`."""
    if eigen not in EIGEN_MODES:
        raise ValueError(f"ssd: eigen={eigen!r} is not one of {EIGEN_MODES}")
    return _fused_ssd is not None and torch.device(device).type == "cuda" and eigen == "[0,1]"


def _steps(dt, A, dt_bias, dt_softplus: bool, wide: torch.dtype):
    """dt after bias and softplus, and the log-decay dt*A (<= 0), both [B, L, H] in `wide`."""
    dt = dt.to(wide)
    if dt_bias is not None:
        dt = dt + dt_bias.to(wide)
    if dt_softplus:
        dt = F.softplus(dt)
    return dt, dt * A.to(wide)


def _wide(x: torch.Tensor) -> torch.dtype:
    return torch.promote_types(x.dtype, torch.float32)


def ssd_naive(
    x, dt, A, B, C, chunk_size=None, *, D=None, dt_bias=None, initial_states=None,
    dt_softplus=False, return_final_states=False, eigen="[0,1]",
):  # fmt: skip
    """The recurrence one time step at a time: slow, obviously correct (the test oracle).
    `chunk_size` is accepted for the common signature and ignored."""
    _check(x, dt, A, B, C, eigen)
    wide = _wide(x)
    batch, length, heads, head_dim = x.shape
    per_group = heads // B.shape[2]
    dt, log_a = _steps(dt, A, dt_bias, dt_softplus, wide)
    a = torch.exp(log_a) if eigen == "[0,1]" else 2 * torch.exp(log_a) - 1
    Bh = B.to(wide).repeat_interleave(per_group, dim=2)  # [B, L, H, N]
    Ch = C.to(wide).repeat_interleave(per_group, dim=2)
    xw = x.to(wide)
    state = (
        x.new_zeros(batch, heads, head_dim, B.shape[-1], dtype=wide)
        if initial_states is None
        else initial_states.to(wide)
    )
    ys = []
    for t in range(length):
        drive = (dt[:, t, :, None] * xw[:, t])[..., None] * Bh[:, t, :, None, :]
        state = a[:, t, :, None, None] * state + drive
        ys.append((state * Ch[:, t, :, None, :]).sum(-1))
    y = torch.stack(ys, dim=1) if ys else xw.clone()
    if D is not None:
        y = y + D.to(wide)[:, None] * xw
    y = y.to(x.dtype)
    return (y, state) if return_final_states else y


def ssd_torch(
    x, dt, A, B, C, chunk_size=64, *, D=None, dt_bias=None, initial_states=None,
    dt_softplus=False, return_final_states=False, eigen="[0,1]",
):  # fmt: skip
    """The chunked dual form (see the module docstring); same results as `ssd_naive`."""
    _check(x, dt, A, B, C, eigen)
    wide = _wide(x)
    batch, length, heads, head_dim = x.shape
    groups, n = B.shape[2], B.shape[3]
    per_group = heads // groups
    q = max(1, min(int(chunk_size), length))
    pad = -length % q
    nc = (length + pad) // q
    dt, log_a = _steps(dt, A, dt_bias, dt_softplus, wide)
    if eigen == "[0,1]":
        log_mag, negative = log_a, None
    else:  # log|a| and whether a < 0; padded steps below get a = 1 (log 0, positive)
        a = 2 * torch.exp(log_a) - 1
        log_mag = torch.log(a.abs().clamp_min(MIN_ABS_DECAY))
        negative = (a < 0).to(wide)

    def chunks(t: torch.Tensor) -> torch.Tensor:
        """[B, L, ...] -> [B, nc, Q, ...], zero-padded at the end (zero input, decay 1)."""
        t = F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad)) if pad else t
        return t.reshape(batch, nc, q, *t.shape[2:])

    xdt = chunks(x.to(wide) * dt[..., None])  # [B, nc, Q, H, P]
    Bc, Cc = chunks(B.to(wide)), chunks(C.to(wide))  # [B, nc, Q, G, N]
    cum = chunks(log_mag).cumsum(2)  # [B, nc, Q, H]: log|prod a| from the chunk start
    parity = None if negative is None else chunks(negative).cumsum(2)

    def signed(exponent: torch.Tensor, flips: torch.Tensor | None) -> torch.Tensor:
        """exp(exponent) times (-1)^flips: a product of decays from its log and sign count."""
        out = torch.exp(exponent)
        return out if flips is None else out * (1 - 2 * torch.remainder(flips, 2))

    def heads_major(t: torch.Tensor) -> torch.Tensor:
        """[B, nc, Q, H, ...] -> [B, nc, G, H/G, Q, ...]: each group's B, C span its heads."""
        t = t.reshape(batch, nc, q, groups, per_group, *t.shape[4:])
        return t.movedim(2, 4)

    cum_h = heads_major(cum)  # [B, nc, G, Hg, Q]
    par_h = None if parity is None else heads_major(parity)
    xdt_h = heads_major(xdt)  # [B, nc, G, Hg, Q, P]
    Bg, Cg = Bc.movedim(2, 3), Cc.movedim(2, 3)  # [B, nc, G, Q, N]

    # 1. Inside each chunk: y_t += sum_{s<=t} (C_t . B_s) prod_{s<r<=t} a_r (dt x)_s.
    causal = torch.ones(q, q, dtype=torch.bool, device=x.device).tril()
    exponent = (cum_h[..., :, None] - cum_h[..., None, :]).masked_fill(~causal, -math.inf)
    flips = None if par_h is None else par_h[..., :, None] - par_h[..., None, :]
    decay = signed(exponent, flips)  # [B, nc, G, Hg, Q, Q]
    scores = torch.matmul(Cg, Bg.transpose(-1, -2))  # [B, nc, G, Q, Q]
    y = torch.matmul(scores[:, :, :, None] * decay, xdt_h)  # [B, nc, G, Hg, Q, P]

    # 2. Each chunk's own final state from zero: sum_s prod_{s<r<=end} a_r (dt x)_s B_s^T.
    to_end = signed(
        cum_h[..., -1:] - cum_h, None if par_h is None else par_h[..., -1:] - par_h
    )  # [B, nc, G, Hg, Q]
    local = torch.matmul((xdt_h * to_end[..., None]).transpose(-1, -2), Bg[:, :, :, None])
    # local: [B, nc, G, Hg, P, N]

    # 3. Across chunks: S_c = (prod of the chunk's decays) S_{c-1} + local_c, a blocked scan.
    total = signed(cum_h[..., -1], None if par_h is None else par_h[..., -1])  # [B, nc, G, Hg]
    h0 = None
    if initial_states is not None:
        h0 = initial_states.to(wide).reshape(batch, groups, per_group, head_dim, n)
    ends = linear_scan(total[..., None, None].expand_as(local), local, h0)
    start = torch.cat([h0[:, None] if h0 is not None else torch.zeros_like(ends[:, :1]),
                       ends[:, :-1]], dim=1)  # fmt: skip

    # 4. The carried-in state's part: y_t += prod_{start<r<=t} a_r (C_t S_start).
    from_start = signed(cum_h, par_h)  # [B, nc, G, Hg, Q]
    carried = torch.matmul(Cg[:, :, :, None], start.transpose(-1, -2))  # [B, nc, G, Hg, Q, P]
    y = y + carried * from_start[..., None]

    y = y.movedim(4, 2).reshape(batch, nc * q, heads, head_dim)[:, :length]
    if D is not None:
        y = y + D.to(wide)[:, None] * x.to(wide)
    y = y.to(x.dtype)
    if not return_final_states:
        return y
    return y, ends[:, -1].reshape(batch, heads, head_dim, n)


def ssd_mamba_ssm(
    x, dt, A, B, C, chunk_size=64, *, D=None, dt_bias=None, initial_states=None,
    dt_softplus=False, return_final_states=False, eigen="[0,1]",
):  # fmt: skip
    """mamba_ssm's fused Triton kernel (CUDA only, eigen "[0,1]" only)."""
    if _fused_ssd is None or eigen != "[0,1]":
        raise RuntimeError("ssd_mamba_ssm: needs mamba_ssm and eigen '[0,1]'")
    return _fused_ssd(
        x, dt, A, B, C, chunk_size, D=D, dt_bias=dt_bias, initial_states=initial_states,
        dt_softplus=dt_softplus, return_final_states=return_final_states,
    )  # fmt: skip


def ssd(
    x, dt, A, B, C, chunk_size=64, *, D=None, dt_bias=None, initial_states=None,
    dt_softplus=False, return_final_states=False, eigen="[0,1]",
):  # fmt: skip
    """`ssd_mamba_ssm` when mamba_ssm imports, x is on CUDA and eigen is "[0,1]"; else
    `ssd_torch`."""
    fn = ssd_mamba_ssm if fused_available(x.device, eigen) else ssd_torch
    return fn(
        x, dt, A, B, C, chunk_size, D=D, dt_bias=dt_bias, initial_states=initial_states,
        dt_softplus=dt_softplus, return_final_states=return_final_states, eigen=eigen,
    )  # fmt: skip

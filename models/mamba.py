"""Mamba (Gu & Dao 2023): the Mamba-1 block as a token mixer, optionally with negative eigenvalues.

The block is mamba_ssm's `Mamba` module: in_proj -> (x, z); x -> depthwise causal conv -> SiLU ->
x_proj -> (dt, B, C); dt -> dt_proj -> softplus(dt + bias); selective scan with A = -exp(A_log)
and a D skip; y * SiLU(z) -> out_proj. Parameter names and shapes match mamba_ssm's and
transformers' `MambaMixer`, so their weights load as they are.

`eigen="[-1,1]"` is the variant of Grazzi et al. 2025 ("Unlocking State-Tracking in Linear RNNs
Through Negative Eigenvalues"): the transition 2*exp(delta*A) - 1 spans [-1, 1] instead of [0, 1],
which lets one layer compute parity. The fused kernel has no such mode; that variant always runs
the reference scan (`kernel_name` says so).

Streaming: the state is (the last d_conv-1 conv inputs [B, d_inner, d_conv-1], the SSM state
[B, d_inner, d_state] in fp32, or None before the first chunk). `step` runs a chunk of any length
through the same parallel scan started from that state, so feeding a chunk costs what `forward`
on it costs. The fused kernel cannot start from a state, so on CUDA a stream's first chunk runs
fused (no state yet) and the later ones run the torch scan; `step_kernel_name` says so.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import ClassVar

import torch
from statebench.models.base import Mixer
from statebench.models.ops.causal_conv import causal_conv1d
from statebench.models.ops.selective_scan import EIGEN_MODES, fused_available, selective_scan
from statebench.models.registry import register_arch
from torch import nn
from torch.nn import functional as F


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"mamba: {name}={value!r} must be an integer >= 1")
    return int(value)


@register_arch("mamba")
class MambaMixer(Mixer):
    """The Mamba-1 mixer. Options: d_state, d_conv, expand, dt_rank ("auto" = ceil(d_model/16)),
    dt_min/dt_max (range of the initial step size), eigen ("[0,1]" or "[-1,1]")."""

    description = "Mamba-1: selective state space, input-dependent diagonal transitions"

    time_parallel = True

    default_mlp = "none"  # the block gates itself (y * SiLU(z)); Mamba stacks have no MLP
    max_length = None
    conformance_options: ClassVar[list[dict]] = [{"eigen": "[0,1]"}, {"eigen": "[-1,1]"}]

    def __init__(
        self,
        d_model: int,
        layer_idx: int = 0,
        d_state: int = 16,
        d_conv: int = 4,
        expand: float = 2,
        dt_rank: int | str = "auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        eigen: str = "[0,1]",
    ) -> None:
        super().__init__(d_model, layer_idx)
        self.d_state = _positive_int("d_state", d_state)
        self.d_conv = _positive_int("d_conv", d_conv)
        if isinstance(expand, bool) or not isinstance(expand, Real) or int(expand * d_model) < 1:
            raise ValueError(f"mamba: expand={expand!r} must be a number with expand*d_model >= 1")
        self.d_inner = int(expand * d_model)
        if dt_rank == "auto":
            self.dt_rank = math.ceil(d_model / 16)
        elif isinstance(dt_rank, str):
            raise ValueError(f"mamba: dt_rank={dt_rank!r} must be 'auto' or an integer >= 1")
        else:
            self.dt_rank = _positive_int("dt_rank", dt_rank)
        if not (isinstance(dt_min, Real) and isinstance(dt_max, Real) and 0 < dt_min <= dt_max):
            raise ValueError(f"mamba: need 0 < dt_min <= dt_max, got {dt_min!r} and {dt_max!r}")
        if eigen not in EIGEN_MODES:
            raise ValueError(f"mamba: eigen={eigen!r} is not one of {EIGEN_MODES}")
        self.eigen = eigen

        d_inner, n = self.d_inner, self.d_state
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        # Only the weight layout of nn.Conv1d is used ([d_inner, 1, d_conv], plus its default
        # init); the convolution itself runs through models.ops.causal_conv.
        self.conv1d = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * n, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, d_inner, bias=True)
        self.A_log = nn.Parameter(torch.empty(d_inner, n))
        self.D = nn.Parameter(torch.empty(d_inner))
        self.A_log._no_weight_decay = True  # as mamba_ssm: no weight decay on A_log and D
        self.D._no_weight_decay = True
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)
        self._init_ssm(dt_min, dt_max)

    @torch.no_grad()
    def _init_ssm(self, dt_min: float, dt_max: float, dt_floor: float = 1e-4) -> None:
        """The paper's init: S4D-real A, D = 1, and step sizes log-uniform in [dt_min, dt_max]."""
        bound = self.dt_rank**-0.5  # keeps dt_proj's output variance independent of the rank
        nn.init.uniform_(self.dt_proj.weight, -bound, bound)
        dt = torch.exp(
            torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        ).clamp(min=dt_floor)
        self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus(bias) == dt
        a = torch.arange(1, self.d_state + 1, dtype=torch.float32)
        self.A_log.copy_(torch.log(a).expand(self.d_inner, -1))
        self.D.fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._mix(x, None)[0]

    def init_state(self, batch_size, device, dtype):
        conv = torch.zeros(batch_size, self.d_inner, self.d_conv - 1, device=device, dtype=dtype)
        return conv, None  # no SSM state yet: the first chunk may take the fused scan

    def step(self, x: torch.Tensor, state):
        return self._mix(x, state)

    def state_size(self, length: int) -> int:
        return self.d_inner * (self.d_conv - 1 + self.d_state)

    def kernel_name(self, device: torch.device) -> str:
        return "mamba_ssm" if fused_available(device, self.eigen) else "ref"

    def step_kernel_name(self, device: torch.device) -> str:
        # the first chunk of a stream runs fused, every later one starts from h0: torch scan
        return "mamba_ssm+ref" if fused_available(device, self.eigen) else "ref"

    def _mix(self, x: torch.Tensor, state):
        """The block on x [B, T, D]; from `state` when given (step), else from zeros (forward)."""
        length = x.shape[1]
        xs, z = self.in_proj(x).transpose(1, 2).chunk(2, dim=1)  # [B, d_inner, T] each
        if state is not None:  # prepend the last d_conv-1 inputs, drop their outputs below
            window, h0 = state
            xs = torch.cat([window.to(xs.dtype), xs], dim=2)
            window = xs[:, :, xs.shape[2] - (self.d_conv - 1) :].clone()  # not a view of the chunk
        else:
            h0 = None
        weight = self.conv1d.weight.squeeze(1)
        xs = causal_conv1d(xs, weight, self.conv1d.bias, activation="silu")[:, :, -length:]

        dt, B, C = self.x_proj(xs.transpose(1, 2)).split(
            [self.dt_rank, self.d_state, self.d_state], dim=-1
        )
        dt = F.linear(dt, self.dt_proj.weight)  # its bias goes in as delta_bias, as in mamba_ssm
        result = selective_scan(
            xs,
            dt.transpose(1, 2),
            -torch.exp(self.A_log.float()),
            B.transpose(1, 2),
            C.transpose(1, 2),
            self.D.float(),
            z,
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
            eigen=self.eigen,
            return_last_state=state is not None,
            h0=h0,  # None on a stream's first chunk: the fused kernel applies
        )
        if state is None:
            return self.out_proj(result.transpose(1, 2)), None
        y, h = result
        h = h.float()  # the carried SSM state is fp32 whichever scan produced it
        return self.out_proj(y.transpose(1, 2)), (window, h)

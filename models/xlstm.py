"""xLSTM (Beck et al. 2024): the sLSTM and mLSTM cells as token mixers, `cell="slstm"|"mlstm"`.

Both cells use the paper's exponential input gate with a stabilizer state m (models/ops/slstm.py
and models/ops/mlstm.py say how). They sit on either side of the critical-time conjecture: the
mLSTM's memory is linear in its inputs, so it has a chunked parallel form; the sLSTM mixes its
hidden state back into its gates, so it is recurrent and runs step by step.

- `mlstm` is the mLSTM layer of xLSTM 7B (transformers' `xLSTMLayer`, weight_mode "single"):
  q, k (d_model * qk_dim_factor), v, an output gate, soft-capped input and forget gates per
  head, a per-head LayerNorm of the cell output, times sigmoid(o), then out_proj. Parameter
  names and shapes match transformers', so its weights load as they are.
- `slstm` is the paper's sLSTM block core: a causal conv (width d_conv) + SiLU feeding the input
  and forget gates, z and o from the block input, block-diagonal recurrent matrices (one per
  head), and a per-head LayerNorm. The gate input projections are full (the paper's are
  block-diagonal per head).

Both stack with the backbone's gated MLP, as the paper's blocks and xLSTM 7B's do.
Streaming: mlstm carries (C, n, m) per head; slstm carries its conv window and (h, c, n, m).
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, ClassVar

import torch
from statebench.models.base import Mixer
from statebench.models.ops.causal_conv import causal_conv1d
from statebench.models.ops.mlstm import mlstm_torch
from statebench.models.ops.slstm import slstm_initial, slstm_torch
from statebench.models.registry import register_arch
from torch import nn
from torch.nn import functional as F

CELLS = ("slstm", "mlstm")


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"xlstm: {name}={value!r} must be an integer >= 1")
    return int(value)


class HeadNorm(nn.Module):
    """LayerNorm over each head's features, then one learned scale over all of them."""

    def __init__(self, heads: int, head_dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(heads * head_dim))
        self.heads, self.eps = heads, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, H, Dh] -> [B, T, H * Dh]
        dtype = x.dtype
        x = F.layer_norm(x.float(), x.shape[-1:], eps=self.eps).to(dtype)
        return x.flatten(-2) * self.weight


def _soft_cap(x: torch.Tensor, cap: float) -> torch.Tensor:
    return cap * torch.tanh(x / cap)


@register_arch("xlstm")
class XLSTMMixer(Mixer):
    """The xLSTM mixer. Options: cell ("slstm" or "mlstm"), n_heads; mlstm: qk_dim_factor,
    gate_soft_cap, chunk_size (of the chunked form); slstm: d_conv."""

    description = "xLSTM: sLSTM (serial, exponential gates) or mLSTM (matrix memory)"

    @classmethod
    def is_time_parallel(cls, options: dict[str, Any]) -> bool | None:
        """mLSTM trains in a chunked parallel form; sLSTM is a true serial recurrence."""
        return options.get("cell", "mlstm") != "slstm"

    default_mlp = "gated"
    max_length = None
    conformance_options: ClassVar[list[dict]] = [
        {"cell": "slstm"},
        {"cell": "mlstm"},
        {"cell": "mlstm", "chunk_size": 4},  # several chunks at the conformance length
    ]

    def __init__(
        self,
        d_model: int,
        layer_idx: int = 0,
        cell: str = "mlstm",
        n_heads: int = 4,
        qk_dim_factor: float = 0.5,
        gate_soft_cap: float = 15.0,
        chunk_size: int = 64,
        d_conv: int = 4,
    ) -> None:
        super().__init__(d_model, layer_idx)
        if cell not in CELLS:
            raise ValueError(f"xlstm: cell={cell!r} is not one of {CELLS}")
        self.cell = cell
        self.n_heads = _positive_int("n_heads", n_heads)
        self.chunk_size = _positive_int("chunk_size", chunk_size)
        self.d_conv = _positive_int("d_conv", d_conv)
        if not isinstance(gate_soft_cap, Real) or isinstance(gate_soft_cap, bool):
            raise ValueError(f"xlstm: gate_soft_cap={gate_soft_cap!r} must be a number > 0")
        if gate_soft_cap <= 0:
            raise ValueError(f"xlstm: gate_soft_cap={gate_soft_cap!r} must be a number > 0")
        self.gate_soft_cap = float(gate_soft_cap)
        if not isinstance(qk_dim_factor, Real) or not 0 < qk_dim_factor:
            raise ValueError(f"xlstm: qk_dim_factor={qk_dim_factor!r} must be a number > 0")
        self.qk_dim = int(d_model * qk_dim_factor)
        dims = (self.qk_dim, d_model) if cell == "mlstm" else (d_model,)
        if any(d < self.n_heads or d % self.n_heads for d in dims):
            raise ValueError(
                f"xlstm: n_heads={self.n_heads} must divide the {cell} widths {dims} "
                f"(d_model={d_model}, qk_dim_factor={qk_dim_factor})"
            )
        if cell == "mlstm":
            self._build_mlstm(d_model)
        else:
            self._build_slstm(d_model)

    # --- mLSTM: xLSTM 7B's layer ------------------------------------------------------------

    def _build_mlstm(self, d: int) -> None:
        heads = self.n_heads
        self.q = nn.Linear(d, self.qk_dim, bias=False)
        self.k = nn.Linear(d, self.qk_dim, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.ogate_preact = nn.Linear(d, d, bias=False)
        self.igate_preact = nn.Linear(d, heads)
        self.fgate_preact = nn.Linear(d, heads)
        self.multihead_norm = HeadNorm(heads, d // heads)
        self.out_proj = nn.Linear(d, d, bias=False)
        with torch.no_grad():  # xLSTM 7B's init: small q/k/v, quiet gates that remember
            std = math.sqrt(2 / (5 * d))
            for lin in (self.q, self.k, self.v):
                nn.init.normal_(lin.weight, std=std)
            for lin in (self.ogate_preact, self.igate_preact, self.fgate_preact):
                nn.init.zeros_(lin.weight)
            self.igate_preact.bias.fill_(-10.0)
            self.fgate_preact.bias.copy_(torch.linspace(3.0, 6.0, heads))
            nn.init.normal_(self.out_proj.weight, std=2 / math.sqrt(d))

    def _mlstm(self, x: torch.Tensor, state):
        batch, length, d = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:  # [B, T, H*Dh] -> [B, H, T, Dh]
            return t.unflatten(-1, (self.n_heads, -1)).transpose(1, 2)

        cap = self.gate_soft_cap
        i_pre = _soft_cap(self.igate_preact(x), cap).transpose(1, 2)  # [B, H, T]
        f_pre = _soft_cap(self.fgate_preact(x), cap).transpose(1, 2)
        h, last = mlstm_torch(
            heads(self.q(x)),
            heads(self.k(x)),
            heads(self.v(x)),
            i_pre,
            f_pre,
            *(state if state is not None else (None, None, None)),
            return_last_states=True,
            chunk_size=self.chunk_size,
        )
        h = self.multihead_norm(h.transpose(1, 2))  # [B, T, d]
        return self.out_proj(torch.sigmoid(self.ogate_preact(x)) * h), last

    # --- sLSTM: the paper's block core ------------------------------------------------------

    def _build_slstm(self, d: int) -> None:
        heads, dh = self.n_heads, d // self.n_heads
        self.conv1d = nn.Conv1d(d, d, self.d_conv, groups=d, padding=self.d_conv - 1)
        self.if_proj = nn.Linear(d, 2 * d)  # input and forget gates, from the conv branch
        self.zo_proj = nn.Linear(d, 2 * d)  # cell input and output gate, from x
        self.recurrent = nn.Parameter(torch.empty(heads, dh, 4 * dh))
        self.multihead_norm = HeadNorm(heads, dh)
        with torch.no_grad():
            nn.init.normal_(self.recurrent, std=dh**-0.5)
            self.recurrent.mul_(0.5)  # the recurrent path starts weaker than the input path
            forget = self.if_proj.bias[d:].view(heads, dh)
            forget.copy_(torch.linspace(3.0, 6.0, dh).expand(heads, dh))  # long memory first
            self.if_proj.bias[:d].zero_()

    def _slstm(self, x: torch.Tensor, state):
        batch, length, d = x.shape
        heads, dh = self.n_heads, d // self.n_heads
        xt = x.transpose(1, 2)
        cell_state = None
        if state is not None:
            window, *cell_state = state
            xt = torch.cat([window.to(xt.dtype), xt], dim=2)
            window = xt[:, :, xt.shape[2] - (self.d_conv - 1) :].clone()
        weight = self.conv1d.weight.squeeze(1)
        xc = causal_conv1d(xt, weight, self.conv1d.bias, activation="silu")[:, :, -length:]
        i_pre, f_pre = self.if_proj(xc.transpose(1, 2)).chunk(2, dim=-1)
        z_pre, o_pre = self.zo_proj(x).chunk(2, dim=-1)
        # [B, T, H, 4 * Dh] in the cell's gate order i, f, z, o, each head's units together.
        pre = torch.stack([i_pre, f_pre, z_pre, o_pre], dim=-2)  # [B, T, 4, d]
        pre = pre.unflatten(-1, (heads, dh)).transpose(2, 3).flatten(-2)
        h, last = slstm_torch(pre, self.recurrent, cell_state)
        y = self.multihead_norm(h)
        return y, (None if state is None else (window, *last))

    # --- the contract -----------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self._mlstm if self.cell == "mlstm" else self._slstm)(x, None)[0]

    def init_state(self, batch_size, device, dtype):
        if self.cell == "mlstm":
            dh_qk, dh_v = self.qk_dim // self.n_heads, self.d_model // self.n_heads
            return (
                torch.zeros(batch_size, self.n_heads, dh_qk, dh_v, device=device),
                torch.zeros(batch_size, self.n_heads, dh_qk, device=device),
                torch.zeros(batch_size, self.n_heads, 1, device=device),
            )
        window = torch.zeros(batch_size, self.d_model, self.d_conv - 1, device=device, dtype=dtype)
        dh = self.d_model // self.n_heads
        return (window, *slstm_initial(batch_size, self.n_heads, dh, device))

    def step(self, x: torch.Tensor, state):
        if self.cell == "mlstm":
            return self._mlstm(x, state)
        return self._slstm(x, state)

    def state_size(self, length: int) -> int:
        d = self.d_model
        if self.cell == "mlstm":
            return self.n_heads * ((self.qk_dim // self.n_heads) * (d // self.n_heads + 1) + 1)
        return d * (self.d_conv - 1) + 4 * d

    def kernel_name(self, device: torch.device) -> str:
        return "torch"

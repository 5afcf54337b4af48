"""The RG-LRU of Griffin (De et al. 2024) as RecurrentGemma computes it, on a linear scan.

    r_t = sigmoid(x_t W_a + b_a),  i_t = sigmoid(x_t W_x + b_x)    (block-diagonal W per head)
    log a_t = -c * softplus(Lambda) * r_t,  c = 8
    h_t = a_t * h_{t-1} + sqrt(1 - a_t^2) * (i_t * x_t)

The recurrence is h_t = a_t h_{t-1} + b_t, so it runs on `gated_scan`: `gated_scan_torch` (the
blocked `linear_scan`) on CPU, or `gated_scan_fla` (fla's HGRN kernels: the same recurrence, gate
given as log a) when flash-linear-attention imports and the tensors are on CUDA. The scan runs
in fp32 whatever the model dtype (fp64 stays fp64), as RecurrentGemma keeps its recurrent state
in fp32.

RecurrentGemma's quirks, kept on purpose so weights and outputs carry over:
- at the first position of a sequence (its "reset") the input is not scaled by sqrt(1 - a^2);
  `fresh=True` says the chunk starts a sequence, so `step` reproduces `forward` exactly;
- the sqrt's derivative is clipped at 1000 (sqrt(1 - a^2) has an infinite slope at a = 1).
One deliberate difference: 1 - a^2 is computed as -expm1(2 log a), exact for a near 1 where
RecurrentGemma's 1 - exp(2 log a) cancels (the two agree to ~1e-6 relative in fp32).
"""

from __future__ import annotations

import torch
from statebench.models.ops.fused import fla_ops
from statebench.models.ops.scan import linear_scan
from torch.nn import functional as F

RGLRU_C = 8.0
MAX_SQRT_GRADIENT = 1000.0


class _SqrtBoundDerivative(torch.autograd.Function):
    """sqrt(x) whose derivative 1 / (2 sqrt(x)) is capped at MAX_SQRT_GRADIENT. Elementwise, so
    torch.func derives its vmap rule (batched training of several cells: bench.run.batched)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return torch.sqrt(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / torch.sqrt(torch.clamp(4.0 * x, min=1.0 / MAX_SQRT_GRADIENT**2))


FLA_MODULE = "fla.ops.hgrn"


def _fla():
    """fla's HGRN ops (chunked, fused recurrent), or None when fla does not import."""
    return fla_ops(FLA_MODULE, "chunk_hgrn", "fused_recurrent_hgrn")


def gated_scan_torch(log_a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None):
    """h_t = exp(log_a_t) * h_{t-1} + b_t along dim 1 ([B, T, D]); h0 [B, D] or None (zeros).
    The blocked `linear_scan`: the CPU path, and the reference the fla path is tested against."""
    return linear_scan(log_a.exp(), b, h0)


def gated_scan_fla(log_a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None):
    """The same recurrence with fla's kernels (CUDA). Its chunked kernel gives no gradient to
    an initial state, so a chunk that continues a state goes through the fused recurrent one."""
    ops = _fla()
    if ops is None:
        raise RuntimeError("gated_scan_fla: flash-linear-attention is not importable")
    chunk_hgrn, fused_recurrent_hgrn = ops
    if h0 is None:
        return chunk_hgrn(b, log_a)[0]
    return fused_recurrent_hgrn(b, log_a, initial_state=h0)[0]


def scan_kernel(device: torch.device) -> str:
    """The path `gated_scan` takes on `device`: "fla" or "ref"."""
    return "fla" if torch.device(device).type == "cuda" and _fla() is not None else "ref"


def gated_scan(log_a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None):
    """Dispatch: fla on CUDA when it imports, else `gated_scan_torch`."""
    if scan_kernel(log_a.device) == "fla":
        return gated_scan_fla(log_a, b, h0)
    return gated_scan_torch(log_a, b, h0)


def rglru(
    x: torch.Tensor,
    a_param: torch.Tensor,
    gate_x_weight: torch.Tensor,
    gate_x_bias: torch.Tensor,
    gate_a_weight: torch.Tensor,
    gate_a_bias: torch.Tensor,
    h0: torch.Tensor | None = None,
    fresh: bool = True,
) -> torch.Tensor:
    """Run the RG-LRU over x [B, T, L]; returns h [B, T, L] in at least fp32 (h[:, -1] is the
    state to carry).

    a_param: Lambda [L]; gate weights [H, L/H, L/H] applied as x_head @ W (RecurrentGemma's
    layout); gate biases [H, L/H]. `fresh`: x[:, 0] is a sequence's first token.
    """
    bsz, t, width = x.shape
    heads, bw, _ = gate_x_weight.shape
    xh = x.reshape(bsz * t, heads, bw).transpose(0, 1)  # [H, B*T, bw]
    w = torch.cat((gate_x_weight, gate_a_weight), dim=-1)  # one batched matmul for both gates
    bias = torch.cat((gate_x_bias, gate_a_bias), dim=-1)[:, None, :]
    gates = torch.sigmoid(torch.baddbmm(bias, xh, w))  # [H, B*T, 2 bw]
    gates = gates.transpose(0, 1).reshape(bsz, t, heads, 2, bw)
    acc = torch.promote_types(x.dtype, torch.float32)
    gate_x = gates[:, :, :, 0].reshape(bsz, t, width).to(acc)
    gate_a = gates[:, :, :, 1].reshape(bsz, t, width).to(acc)

    log_a = -RGLRU_C * F.softplus(a_param.to(acc)) * gate_a
    scale = _SqrtBoundDerivative.apply(-torch.expm1(2.0 * log_a))
    if fresh:  # RecurrentGemma's reset: the first token enters unscaled
        scale = torch.cat((torch.ones_like(scale[:, :1]), scale[:, 1:]), dim=1)
    b = x.to(acc) * gate_x * scale
    return gated_scan(log_a, b, None if h0 is None else h0.to(acc))

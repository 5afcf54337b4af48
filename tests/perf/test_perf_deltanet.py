"""The chunked delta rule (`delta_rule_torch`, DeltaNet's CPU path) against its loop oracle
`delta_rule_naive` and against fla's own pure-torch delta rules, forward + backward,
T = 256..4096, timed in the same run (one thread, alternating rounds, CPU-time minima; the
ratios land in `extra_info` and in docs/performance.md).

fla's naive ops are plain torch, but importing fla needs triton even on a CPU: where it does not
import the peer is recorded as not applicable. Its `delta_rule_recurrence` is a loop like ours;
its `delta_rule_chunkwise` is the chunked form with a per-row loop for the triangular inverse
(and only for lengths divisible by its chunk).

Shapes are those of the suite's ~100k-parameter models (4 heads of 16), batch 1. A row's own
stats are one wall-clock call of ours, there only to register the row. Goal: the chunked path
at least 10x faster than the loop oracle from T = 1024 on.
"""

from __future__ import annotations

import pytest
import torch
from perfkit import interleaved, rounds_for, timed
from statebench.models.ops.delta_rule import delta_rule_naive, delta_rule_torch
from torch.nn import functional as F

pytestmark = pytest.mark.perf

LENGTHS = [256, 1024, 4096]
HEADS, DIM = 4, 16


def _inputs(length: int, gated: bool):
    g = torch.Generator().manual_seed(length)
    q = torch.randn(1, length, HEADS, DIM, generator=g)
    k = F.normalize(torch.randn(1, length, HEADS, DIM, generator=g), dim=-1)
    v = torch.randn(1, length, HEADS, DIM, generator=g)
    beta = 2 * torch.rand(1, length, HEADS, generator=g)  # eigenvalues in [-1, 1]
    decay = -0.1 * torch.rand(1, length, HEADS, generator=g) if gated else None
    leaves = [x.requires_grad_() for x in (q, k, v, beta, decay) if x is not None]
    return (q, k, v, beta, decay), leaves


def _fwd_bwd(fn, leaves):
    def go():
        for t in leaves:
            t.grad = None
        o, s = fn()
        (o.float().square().mean() + s.float().square().mean()).backward()

    return go


def _record(benchmark, fns: dict, ours: str, peer: str, shape: str, rounds: int) -> float:
    best = interleaved(fns, rounds=rounds)
    benchmark.pedantic(fns[ours], rounds=1, iterations=1)
    ratio = best[ours] / best[peer]
    benchmark.extra_info.update(
        family="peers", peer=peer, ours=ours, shape=shape,
        ours_s=best[ours], peer_s=best[peer], ratio=ratio,
    )  # fmt: skip
    return ratio


@pytest.mark.parametrize("gated", [False, True], ids=["deltanet", "gated"])
@pytest.mark.parametrize("length", LENGTHS)
def test_chunked_vs_loop_oracle(benchmark, length, gated):
    args, leaves = _inputs(length, gated)
    fns = {
        "delta_rule_torch": _fwd_bwd(lambda: delta_rule_torch(*args), leaves),
        "delta_rule_naive": _fwd_bwd(lambda: delta_rule_naive(*args), leaves),
    }
    rounds = rounds_for(timed(fns["delta_rule_naive"]), lo=1, hi=3)
    kind = "gated " if gated else ""
    shape = f"{kind}B=1 T={length} H={HEADS} d={DIM}"
    ratio = _record(benchmark, fns, "delta_rule_torch", "delta_rule_naive", shape, rounds)
    if length >= 1024:
        assert ratio <= 0.1, f"chunked only {1 / ratio:.1f}x faster than the loop at T={length}"


@pytest.mark.parametrize("peer", ["delta_rule_recurrence", "delta_rule_chunkwise"])
@pytest.mark.parametrize("length", LENGTHS)
def test_chunked_vs_fla_naive(benchmark, length, peer, not_applicable):
    try:
        from fla.ops.delta_rule import naive
    except Exception as e:  # fla needs triton to import, even for its pure-torch ops
        not_applicable("fla naive delta rule", f"fla does not import here ({type(e).__name__})")
    (q, k, v, beta, _), leaves = _inputs(length, gated=False)
    theirs = getattr(naive, peer)
    heads_first = [x.transpose(1, 2) for x in (q, k, v, beta)]
    fns = {
        "delta_rule_torch": _fwd_bwd(lambda: delta_rule_torch(q, k, v, beta), leaves),
        f"fla {peer}": _fwd_bwd(lambda: theirs(*heads_first), leaves),
    }
    rounds = rounds_for(timed(fns[f"fla {peer}"]), lo=1, hi=3)
    shape = f"B=1 T={length} H={HEADS} d={DIM}"
    ratio = _record(benchmark, fns, "delta_rule_torch", f"fla {peer}", shape, rounds)
    assert ratio < 1, f"slower than fla's {peer} ({ratio:.2f}x its time)"

"""Mamba-2 and mLSTM CPU paths against their loop oracles and their peer, forward + backward,
T = 256..4096, timed in the same run (one thread, alternating rounds, CPU-time minima; the
ratios land in `extra_info` and in docs/performance.md's peers table):

- the mamba2 mixer vs transformers' Mamba2Mixer torch path, same weights (goal: no slower);
- the chunked SSD scan `ssd_torch` vs its loop oracle `ssd_naive`;
- the chunked mLSTM `mlstm_torch` vs its loop oracle `mlstm_naive`.

Shapes are those of the suite's ~100k-parameter, 2-layer models (mamba2 at d_model 80: 10 heads
of 16, d_state 32; xlstm mlstm at d_model 64: 4 heads, d_qk 8, d_v 16), batch 1. A row's own
stats are one wall-clock call of ours, there only to register the row.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
from perfkit import interleaved, rounds_for, timed
from statebench.models.mamba2 import Mamba2Mixer
from statebench.models.ops.mlstm import mlstm_naive, mlstm_torch
from statebench.models.ops.ssd import ssd_naive, ssd_torch

pytestmark = pytest.mark.perf

LENGTHS = [256, 1024, 4096]
D_MODEL, D_STATE, HEAD_DIM = 80, 32, 16


def _randn(*shape, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g) * scale).requires_grad_()


def _fwd_bwd(fn, leaves):
    def go():
        for t in leaves:
            t.grad = None
        fn().float().square().mean().backward()

    return go


def _record(benchmark, fns: dict, ours: str, peer: str, label: str, shape: str, rounds: int):
    best = interleaved(fns, rounds=rounds)
    benchmark.pedantic(fns[ours], rounds=1, iterations=1)
    ratio = best[ours] / best[peer]
    benchmark.extra_info.update(
        family="peers", peer=peer, ours=label, shape=shape,
        ours_s=best[ours], peer_s=best[peer], ratio=ratio,
    )  # fmt: skip
    return ratio, best


@pytest.mark.parametrize("length", LENGTHS)
def test_mamba2_vs_transformers(benchmark, length, not_applicable):
    transformers = pytest.importorskip("transformers")
    if importlib.util.find_spec("mamba_ssm") is not None:
        not_applicable(
            "transformers Mamba2Mixer",
            "mamba_ssm is installed: transformers would time its fused kernels, not its torch path",
        )
    from transformers.models.mamba2.modeling_mamba2 import Mamba2Mixer as HFMamba2Mixer

    config = transformers.Mamba2Config(
        hidden_size=D_MODEL, state_size=D_STATE, expand=2, head_dim=HEAD_DIM,
        num_heads=2 * D_MODEL // HEAD_DIM, n_groups=1, chunk_size=64, num_hidden_layers=1,
    )  # fmt: skip
    torch.manual_seed(0)
    theirs = HFMamba2Mixer(config, layer_idx=0).eval()  # eval: training mode asks for kernels
    ours = Mamba2Mixer(D_MODEL, d_state=D_STATE, head_dim=HEAD_DIM, chunk_size=64)
    ours.load_state_dict(theirs.state_dict())
    x = _randn(1, length, D_MODEL)
    fns = {
        "ours": _fwd_bwd(lambda: ours(x), [x]),
        "transformers Mamba2Mixer": _fwd_bwd(lambda: theirs(x), [x]),
    }
    ratio, best = _record(
        benchmark, fns, "ours", "transformers Mamba2Mixer", "mamba2 mixer (ssd_torch)",
        f"B=1 T={length} D={D_MODEL} H={config.num_heads} P={HEAD_DIM} N={D_STATE}", rounds=3,
    )  # fmt: skip
    assert ratio <= 1.0, best


def _ssd_inputs(length: int):
    heads = 2 * D_MODEL // HEAD_DIM
    return [
        _randn(1, length, heads, HEAD_DIM, seed=1),
        _randn(1, length, heads, seed=2),
        (-torch.arange(1.0, heads + 1)).requires_grad_(),
        _randn(1, length, 1, D_STATE, seed=3),
        _randn(1, length, 1, D_STATE, seed=4),
    ]


@pytest.mark.parametrize("length", LENGTHS)
def test_ssd_chunked_vs_loop(benchmark, length):
    leaves = _ssd_inputs(length)
    ours = _fwd_bwd(lambda: ssd_torch(*leaves, 64, dt_softplus=True), leaves)
    loop = _fwd_bwd(lambda: ssd_naive(*leaves, 64, dt_softplus=True), leaves)
    rounds = rounds_for(timed(loop), budget_s=4.0, lo=1, hi=3)
    shape = f"B=1 T={length} H={leaves[0].shape[2]} P={HEAD_DIM} N={D_STATE}"
    ratio, best = _record(
        benchmark, {"ssd_torch": ours, "ssd_naive": loop}, "ssd_torch", "ssd_naive",
        "ssd_torch (chunked)", shape, rounds,
    )  # fmt: skip
    assert ratio <= 0.5, best


@pytest.mark.parametrize("length", LENGTHS)
def test_mlstm_chunked_vs_loop(benchmark, length):
    heads, dqk, dv = 4, 8, 16
    leaves = [
        _randn(1, heads, length, dqk, seed=1),
        _randn(1, heads, length, dqk, seed=2),
        _randn(1, heads, length, dv, seed=3),
        _randn(1, heads, length, seed=4, scale=3.0),
        _randn(1, heads, length, seed=5, scale=3.0),
    ]
    ours = _fwd_bwd(lambda: mlstm_torch(*leaves, chunk_size=64), leaves)
    loop = _fwd_bwd(lambda: mlstm_naive(*leaves), leaves)
    rounds = rounds_for(timed(loop), budget_s=4.0, lo=1, hi=3)
    ratio, best = _record(
        benchmark, {"mlstm_torch": ours, "mlstm_naive": loop}, "mlstm_torch", "mlstm_naive",
        "mlstm_torch (chunked)", f"B=1 H={heads} T={length} Dqk={dqk} Dv={dv}", rounds,
    )  # fmt: skip
    assert ratio <= 0.5, best

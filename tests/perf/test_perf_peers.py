"""Our kernels against the peers they stand in for, same shapes, timed in the same run
(forward + backward, one thread, alternating rounds; ratios land in `extra_info`).

- our LSTM mixer vs a bare torch.nn.LSTM: the adapter must add nothing to the kernel;
- torch SDPA's default CPU kernel (flash-style, never builds T x T) vs its MATH backend, and our
  fp32 reference attention (the test oracle) vs SDPA: why SDPA is the CPU path;
- retention vs fla's naive retention: recorded as not applicable when fla does not import.
Mamba-1 (vs transformers' MambaMixer) and Griffin (vs RecurrentGemma) have their own files in
tests/models; Mamba-2 (vs transformers' Mamba2Mixer and its loop oracle) and the chunked mLSTM
(vs its loop oracle) are in tests/perf/test_perf_mamba2_xlstm.py. The asserted bounds are
the loose goals; the measured ratios are the result.
The figures are CPU-time minima in `extra_info`; a row's own stats are one wall-clock call of
ours, there only to register the row.
"""

from __future__ import annotations

import pytest
import torch
from perfkit import interleaved
from statebench.models.lstm import LSTMMixer
from statebench.models.ops.attention import attention_naive, attention_sdpa
from torch.nn.attention import SDPBackend, sdpa_kernel

pytestmark = pytest.mark.perf


def _fwd_bwd(fn, *inputs):
    def go():
        for t in inputs:
            t.grad = None
        fn(*inputs).float().square().mean().backward()

    return go


def _randn(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g).requires_grad_()


def test_lstm_mixer_vs_torch_lstm(benchmark):
    batch, length, width = 4, 1024, 80  # 80: the LSTM's width at the suite's 100k budget
    ours = LSTMMixer(width)
    raw = torch.nn.LSTM(width, width, batch_first=True)
    raw.load_state_dict(ours.lstm.state_dict())
    x = _randn(batch, length, width)
    ours_step, raw_step = _fwd_bwd(ours, x), _fwd_bwd(lambda x: raw(x)[0], x)
    best = interleaved({"ours": ours_step, "torch": raw_step}, rounds=5)
    benchmark.pedantic(ours_step, rounds=1, iterations=1)
    ratio = best["ours"] / best["torch"]
    benchmark.extra_info.update(
        family="peers",
        peer="torch.nn.LSTM",
        ours="lstm mixer",
        shape=f"B={batch} T={length} D={width}",
        ours_s=best["ours"],
        peer_s=best["torch"],
        ratio=ratio,
    )
    assert ratio <= 1.15, best


HEADS, HEAD_DIM = 4, 16  # the transformer's heads at the 100k budget (d_model 64)


@pytest.mark.parametrize("length", [1024, 4096])
def test_sdpa_default_vs_math(benchmark, length):
    q, k, v = (_randn(1, length, HEADS, HEAD_DIM, seed=s) for s in range(3))
    default = _fwd_bwd(attention_sdpa, q, k, v)

    def math_backend():
        with sdpa_kernel(SDPBackend.MATH):
            default()

    best = interleaved({"default": default, "math": math_backend}, rounds=3)
    benchmark.pedantic(default, rounds=1, iterations=1)
    ratio = best["default"] / best["math"]
    benchmark.extra_info.update(
        family="peers",
        peer="SDPA math backend",
        ours="SDPA default (CPU flash)",
        shape=f"B=1 T={length} H={HEADS} Dh={HEAD_DIM}",
        ours_s=best["default"],
        peer_s=best["math"],
        ratio=ratio,
    )
    assert ratio <= 1.1, best


@pytest.mark.parametrize("length", [1024, 4096])
def test_attention_naiveerence_vs_sdpa(benchmark, length):
    q, k, v = (_randn(1, length, HEADS, HEAD_DIM, seed=s) for s in range(3))
    sdpa, ref = _fwd_bwd(attention_sdpa, q, k, v), _fwd_bwd(attention_naive, q, k, v)
    best = interleaved({"sdpa": sdpa, "ref": ref}, rounds=3)
    benchmark.pedantic(sdpa, rounds=1, iterations=1)
    ratio = best["sdpa"] / best["ref"]
    benchmark.extra_info.update(
        family="peers",
        peer="attention_naive (fp32 oracle)",
        ours="attention_sdpa",
        shape=f"B=1 T={length} H={HEADS} Dh={HEAD_DIM}",
        ours_s=best["sdpa"],
        peer_s=best["ref"],
        ratio=ratio,
    )
    assert ratio <= 1.1, best


def test_retention_vs_fla_naive(benchmark, not_applicable):
    try:
        from fla.ops.retention.naive import naive_retention
    except Exception as e:  # fla needs triton; on a CPU-only install it does not import
        not_applicable("fla naive_retention", f"fla does not import here ({type(e).__name__})")
    from statebench.models.ops.retention import retention, retnet_gammas

    batch, heads, length, dk = 1, 4, 2048, 16
    q, k, v = (_randn(batch, heads, length, dk, seed=s) for s in range(3))
    gamma = retnet_gammas(heads)
    ours = _fwd_bwd(lambda q, k, v: retention(q, k, v, gamma)[0], q, k, v)
    theirs = _fwd_bwd(naive_retention, q, k, v)
    best = interleaved({"ours": ours, "fla": theirs}, rounds=3)
    benchmark.pedantic(ours, rounds=1, iterations=1)
    ratio = best["ours"] / best["fla"]
    benchmark.extra_info.update(
        family="peers",
        peer="fla naive_retention",
        ours="retention (chunkwise)",
        shape=f"B={batch} H={heads} T={length} Dh={dk}",
        ours_s=best["ours"],
        peer_s=best["fla"],
        ratio=ratio,
    )
    assert ratio <= 1.1, best

"""Speed of the mamba mixer's CPU path against transformers' MambaMixer torch path, same size.

Run: pytest tests/models/test_mamba_perf.py --benchmark-enable -q
Both run in this process on one thread (the machine may be shared; one thread keeps the ratio
honest). transformers is timed by hand (it takes seconds per call) and the ratio of medians is
stored as extra_info["speedup_vs_hf"] in the benchmark JSON.
"""

from __future__ import annotations

import importlib.util
import statistics
import time

import pytest
import torch
from statebench.models.mamba import MambaMixer

pytestmark = pytest.mark.perf

HIDDEN, STATE, EXPAND, BATCH, LENGTH = 64, 16, 2, 2, 1024


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _pair():
    """Our mixer and transformers' with the same weights, and an input."""
    transformers = pytest.importorskip("transformers")
    if importlib.util.find_spec("mamba_ssm") is not None:
        pytest.skip("transformers would route its CPU MambaMixer through mamba_ssm's CUDA kernel")
    from transformers.models.mamba.modeling_mamba import MambaMixer as HFMambaMixer

    config = transformers.MambaConfig(
        hidden_size=HIDDEN,
        state_size=STATE,
        expand=EXPAND,
        num_hidden_layers=1,
        use_mambapy=False,
        use_associative_scan=False,
    )
    torch.manual_seed(0)
    theirs = HFMambaMixer(config, layer_idx=0).eval()
    ours = MambaMixer(HIDDEN, d_state=STATE, expand=EXPAND)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(BATCH, LENGTH, HIDDEN)
    return ours, theirs, x


def _fwd_bwd(mixer, x):
    x = x.detach().requires_grad_()
    mixer(x).square().mean().backward()


def _median_seconds(fn, rounds: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def test_forward_backward_speed_vs_transformers(benchmark, one_thread):
    ours, theirs, x = _pair()
    # transformers takes seconds per call (its backward is ~100x its forward: each of the L
    # per-step index ops backpropagates as a full-size [B, D, L, N] zero-filled gradient), so it
    # gets one timed call after the warm-up.
    hf = _median_seconds(lambda: _fwd_bwd(theirs, x), rounds=1)
    benchmark.pedantic(_fwd_bwd, args=(ours, x), rounds=10, warmup_rounds=1)
    speedup = hf / benchmark.stats.stats.median
    benchmark.extra_info.update(
        speedup_vs_hf=round(speedup, 1), hf_seconds=hf, length=LENGTH, threads=1
    )
    assert speedup >= 10, f"forward+backward only {speedup:.1f}x faster than transformers"


def test_forward_speed_vs_transformers(benchmark, one_thread):
    """Inference alone: transformers' forward is a Python loop over time, ours a chunked scan."""
    ours, theirs, x = _pair()
    with torch.no_grad():
        hf = _median_seconds(lambda: theirs(x), rounds=5)
        benchmark.pedantic(ours, args=(x,), rounds=10, warmup_rounds=1)
    speedup = hf / benchmark.stats.stats.median
    benchmark.extra_info.update(
        speedup_vs_hf=round(speedup, 1), hf_seconds=hf, length=LENGTH, threads=1
    )
    assert speedup >= 1, f"forward slower than transformers ({speedup:.2f}x)"

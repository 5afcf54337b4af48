"""Our Griffin recurrent block against transformers' RecurrentGemma block: forward + backward,
equal size and weights, T = 1024, one CPU thread, timed in the same run.

Run with `nox -s perf`, or: pytest tests/models/test_griffin_perf.py --benchmark-only
(`--benchmark-only` overrides the `--benchmark-skip` in addopts; `--benchmark-enable` does not.)
The ratio ours / theirs (lower is better; the goal is <= 1) lands in `benchmark.extra_info`.
"""

import time

import pytest
import torch
from statebench.models.griffin import RecurrentBlock

pytestmark = pytest.mark.perf

T, BATCH, WIDTH, HEADS = 1024, 2, 256, 4


def _fwd_bwd(run, x):
    def go():
        x.grad = None
        run(x).square().mean().backward()

    return go


def _best_of(fn, repeats):
    """Minimum wall time of `repeats` calls: the least noisy estimate on a shared machine."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_recurrent_block_vs_recurrent_gemma(benchmark):
    transformers = pytest.importorskip("transformers")
    from transformers.models.recurrent_gemma.modeling_recurrent_gemma import (
        RecurrentGemmaRecurrentBlock,
    )

    cfg = transformers.RecurrentGemmaConfig(
        hidden_size=WIDTH, lru_width=WIDTH, num_attention_heads=HEADS, num_hidden_layers=3
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        theirs = RecurrentGemmaRecurrentBlock(cfg, 0)
        ours = RecurrentBlock(WIDTH, WIDTH, HEADS, cfg.conv1d_width)
        with torch.no_grad():  # their parameters start uninitialized; give both the same values
            for name, p in ours.named_parameters():
                if name == "conv_weight":
                    theirs.conv_1d.weight.copy_(p.t()[:, None, :])
                elif name == "conv_bias":
                    theirs.conv_1d.bias.copy_(p)
            for name in ("linear_x", "linear_y", "linear_out"):
                getattr(theirs, name).load_state_dict(getattr(ours, name).state_dict())
            lru = theirs.rg_lru
            lru.recurrent_param.copy_(ours.a_param)
            lru.input_gate_weight.copy_(ours.gate_x_weight)
            lru.input_gate_bias.copy_(ours.gate_x_bias)
            lru.recurrent_gate_weight.copy_(ours.gate_a_weight)
            lru.recurrent_gate_bias.copy_(ours.gate_a_bias)

        x = torch.randn(BATCH, T, WIDTH, generator=torch.Generator().manual_seed(0))
        x.requires_grad_()
        positions = torch.arange(T)[None]
        ours_step = _fwd_bwd(lambda x: ours(x, None)[0], x)
        theirs_step = _fwd_bwd(
            lambda x: theirs(x, position_ids=positions, attention_mask=None, use_cache=False)[0],
            x,
        )
        ours_step(), theirs_step()  # warm up
        t_ours, t_theirs = _best_of(ours_step, 5), _best_of(theirs_step, 3)
        benchmark.pedantic(ours_step, rounds=5, iterations=1)
    finally:
        torch.set_num_threads(threads)

    ratio = t_ours / t_theirs
    benchmark.extra_info.update(
        ours_s=t_ours, recurrent_gemma_s=t_theirs, ratio_ours_over_recurrent_gemma=ratio
    )
    assert ratio <= 1.0, f"ours {t_ours:.4f}s vs RecurrentGemma {t_theirs:.4f}s"

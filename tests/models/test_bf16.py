"""Every registered arch, with each of its conformance option sets, runs in bfloat16 the way the
harness runs a `dtype: bfloat16` cell (the fp32-built model cast with `.to(dtype=bfloat16)`):
forward, backward and a chunked step stream, with outputs close to the same weights in fp32.
A kernel that hands fp32 back to a bf16 layer breaks here for any arch, not only the one
someone thought to test."""

from __future__ import annotations

import copy

import pytest
import torch
from statebench.models import arch_class, build_model, list_archs
from torch.nn import functional as F

VOCAB, CLASSES, LENGTH, CHUNK = 11, 7, 16, 7
# bf16 keeps 8 bits of mantissa; two layers land near 1% of the largest logit (measured <= 1.1%).
REL_TOL = 0.05

CASES = [
    pytest.param(arch, opts, id="-".join([arch, *(f"{k}={v}" for k, v in opts.items())]))
    for arch in list_archs()
    for opts in getattr(arch_class(arch), "conformance_options", None) or [{}]
]


def _rel(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor) -> float:
    return ((a.float() - b.float()).abs().max() / scale.abs().max()).item()


@pytest.mark.parametrize("arch, options", CASES)
def test_arch_runs_in_bfloat16_like_the_harness(arch, options):
    tokens = torch.randint(0, VOCAB, (2, LENGTH), generator=torch.Generator().manual_seed(0))
    labels = torch.randint(0, CLASSES, (2, LENGTH), generator=torch.Generator().manual_seed(1))
    model = build_model(arch, VOCAB, CLASSES, d_model=16, n_layers=2, seed=0, **options)
    with torch.no_grad():
        reference = model(tokens)
    model = copy.deepcopy(model).to(dtype=torch.bfloat16)

    logits = model(tokens)
    assert logits.dtype == torch.bfloat16
    assert _rel(logits, reference, reference) < REL_TOL

    F.cross_entropy(logits.float().reshape(-1, CLASSES), labels.reshape(-1)).backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    missing = [n for n, g in grads.items() if g is None]
    assert not missing, f"no gradient for {missing}"
    for name, grad in grads.items():
        assert grad.dtype == torch.bfloat16 and torch.isfinite(grad).all(), name

    with torch.no_grad():
        state, outs = model.init_state(2), []
        for start in range(0, LENGTH, CHUNK):
            out, state = model.step(tokens[:, start : start + CHUNK], state)
            outs.append(out)
    streamed = torch.cat(outs, dim=1)
    assert streamed.dtype == torch.bfloat16
    assert _rel(streamed, logits, reference) < REL_TOL

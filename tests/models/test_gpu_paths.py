"""Whole models on CUDA: conformance for every arch and option set, fused against torch paths
(outputs, final streamed state, gradients), and gradients through fla's initial states.

TF32 is off throughout: fla's chunk kernels and cuDNN would otherwise compute fp32 products at
TF32 precision (~1e-3), and the tolerances here assume true fp32. They skip without CUDA; run
them with `nox -s gpu`, and with STATEBENCH_REQUIRE_FUSED=1 so a missing package fails instead.
"""

from __future__ import annotations

import pytest
import torch
from statebench.models import build_model, list_archs
from statebench.models.ops import delta_rule, fused, retention, rglru
from statebench.models.registry import arch_class
from statebench.models.testing import check_adapter
from torch.nn import functional as F

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

CASES = [(a, o) for a in list_archs() for o in getattr(arch_class(a), "conformance_options", [{}])]


@pytest.fixture(autouse=True)
def no_tf32():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _label(case) -> str:
    arch, options = case
    return arch + "".join(f"-{k}={v}" for k, v in options.items())


@pytest.mark.parametrize("case", CASES, ids=_label)
def test_check_adapter_on_cuda(case):
    arch, options = case
    report = check_adapter(arch, device="cuda", d_model=32, atol=1e-4, **options)
    assert report["checks"]


def _run(model, tokens, chunk: int):
    """Logits of forward, their gradients, and the streamed logits and final state."""
    model.zero_grad(set_to_none=True)
    out = model(tokens)
    out.float().square().mean().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    state, streamed = model.init_state(tokens.shape[0], tokens.device), []
    with torch.no_grad():
        for start in range(0, tokens.shape[1], chunk):
            y, state = model.step(tokens[:, start : start + chunk], state)
            streamed.append(y)
    return out.detach(), grads, torch.cat(streamed, dim=1), state


def _flat(state) -> list[torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return [state.float()]
    if isinstance(state, (list, tuple)):
        return [t for s in state for t in _flat(s)]
    return []


@pytest.mark.parametrize("case", CASES, ids=_label)
def test_fused_model_matches_torch_paths(case):
    arch, options = case
    model = build_model(arch, 6, 4, d_model=64, n_layers=3, seed=0, **options).cuda()
    tokens = torch.randint(0, 6, (2, 200), device="cuda")
    fused_kernel = model.kernel
    got = _run(model, tokens, chunk=64)
    with fused.torch_paths():
        torch_kernel = model.kernel
        want = _run(model, tokens, chunk=64)
    if fused_kernel == torch_kernel:
        pytest.skip(f"{arch} {options}: same path either way ({fused_kernel})")
    # fla's Triton kernels run tl.dot at TF32 whatever torch's flags say: a looser bound there
    bound = 1e-2 if "fla" in fused_kernel.split("+") else 2e-3
    _close(got[0], want[0], bound, "logits")
    for name, g in got[1].items():
        _close(g, want[1][name], 5 * bound, f"grad {name}")
    _close(got[2], want[2], bound, "streamed logits")
    for i, (a, b) in enumerate(zip(_flat(got[3]), _flat(want[3]), strict=True)):
        _close(a, b, bound, f"final state {i}")


def _close(got: torch.Tensor, want: torch.Tensor, bound: float, what: str) -> None:
    err = ((got.float() - want.float()).norm() / want.float().norm().clamp(min=1e-12)).item()
    assert err <= bound, f"{what}: relative error {err:.3g} > {bound}"


needs_fla = pytest.mark.skipif(not retention.fla_available(), reason="needs fla")


@needs_fla
def test_gradients_through_fla_initial_states():
    """fla's kernels must pass gradients back to an initial state (streaming trains through
    none, but a wrong or missing gradient would silently corrupt any that does)."""
    g = torch.Generator(device="cuda").manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, device="cuda", generator=g, dtype=torch.float32)

    q, k, v = r(2, 4, 100, 16), r(2, 4, 100, 16) * 0.25, r(2, 4, 100, 16)
    gamma = retention.retnet_gammas(4, device="cuda")
    s0 = r(2, 4, 16, 16).requires_grad_()
    for fn in (retention.retention_fla, retention.retention_chunkwise):
        o, s = fn(q, k, v, gamma, s0)
        (got,) = torch.autograd.grad((o.square().sum() + s.square().sum()), s0)
        if fn is retention.retention_fla:
            fla_grad = got
    torch.testing.assert_close(fla_grad, got, rtol=1e-3, atol=1e-3)

    log_a = -torch.rand(2, 100, 32, device="cuda", generator=g)
    b = r(2, 100, 32)
    h0 = r(2, 32).requires_grad_()
    grads = []
    for fn in (rglru.gated_scan_fla, rglru.gated_scan_torch):
        h = fn(log_a, b, h0)
        grads.append(torch.autograd.grad(h.square().sum(), h0)[0])
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-3, atol=1e-3)


@pytest.mark.skipif(delta_rule._fla() is None, reason="needs fla's delta-rule kernels")
@pytest.mark.parametrize("gated", [False, True], ids=["plain", "gated"])
def test_gradients_through_fla_delta_rule(gated):
    """fla's delta-rule kernels against the chunked torch form: outputs, final state and the
    gradients of every input, the incoming state (fp32, as a stream passes it), beta and the
    gated decay included. In float32 both rules run chunk_gated_delta_rule (the plain one with
    g = 0, since chunk_delta_rule refuses float32); test_fla_matches_reference runs bf16 too."""
    g = torch.Generator(device="cuda").manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, device="cuda", generator=g)

    b, t, h, d = 2, 100, 4, 32
    q, k, v = r(b, t, h, d), F.normalize(r(b, t, h, d), dim=-1), r(b, t, h, d)
    beta = 2 * torch.rand(b, t, h, device="cuda", generator=g)  # eigen [-1,1]
    decay = -torch.rand(b, t, h, device="cuda", generator=g) if gated else None
    s0 = r(b, h, d, d)
    runs = []
    for fn in (delta_rule.delta_rule_fla, delta_rule.delta_rule_torch):
        leaves = [x.detach().requires_grad_() for x in (q, k, v, beta, decay, s0) if x is not None]
        qq, kk, vv, bb, *rest = leaves
        gg, ss = rest if gated else (None, rest[0])
        o, s = fn(qq, kk, vv, bb, gg, None, ss)
        grads = torch.autograd.grad(o.square().sum() + s.square().sum(), leaves)
        runs.append([o, s, *grads])
    # fla's Triton kernels run tl.dot at TF32 whatever torch's flags say
    names = ["o", "final state", "dq", "dk", "dv", "dbeta", *(["dg"] if gated else []), "ds0"]
    for name, got, want in zip(names, *runs, strict=True):
        _close(got, want, 1e-2, name)

"""DeltaNet: the chunked delta rule against its loop oracle (and fla's), the mixer contract."""

import pytest
import torch
from statebench.models import build_model, match_params
from statebench.models.deltanet import DeltaNet
from statebench.models.ops.delta_rule import (
    delta_rule_fla,
    delta_rule_kernel,
    delta_rule_naive,
    delta_rule_torch,
)
from torch.nn import functional as F

VOCAB, CLASSES = 11, 5


def _inputs(t, gen, beta_max=1.0, gated=False, b=2, h=3, dk=4, dv=5, dtype=torch.float64):
    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=dtype)

    q = randn(b, t, h, dk)
    k = F.normalize(randn(b, t, h, dk), dim=-1)
    v = randn(b, t, h, dv)
    beta = beta_max * torch.rand(b, t, h, generator=gen, dtype=dtype)
    g = -torch.rand(b, t, h, generator=gen, dtype=dtype) if gated else None
    return q, k, v, beta, g


@pytest.mark.parametrize("t,chunk", [(1, 8), (8, 8), (37, 8), (37, 64), (50, 16)])
@pytest.mark.parametrize("with_state", [False, True], ids=["zeros", "state"])
@pytest.mark.parametrize("beta_max", [1.0, 2.0], ids=["eigen[0,1]", "eigen[-1,1]"])
@pytest.mark.parametrize("gated", [False, True], ids=["plain", "gated"])
def test_chunked_matches_loop_on_outputs_states_and_gradients(
    t, chunk, with_state, beta_max, gated
):
    gen = torch.Generator().manual_seed(t * 100 + chunk)
    q, k, v, beta, g = _inputs(t, gen, beta_max, gated)
    s0 = torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64) if with_state else None
    leaves = [x.requires_grad_() for x in (q, k, v, beta, g, s0) if x is not None]
    w_o = torch.randn(2, t, 3, 5, generator=gen, dtype=torch.float64)
    w_s = torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64)

    def run(fn, *extra):
        o, s = fn(q, k, v, beta, g, 0.7, s0, *extra)
        return o, s, torch.autograd.grad((o * w_o).sum() + (s * w_s).sum(), leaves)

    want = run(delta_rule_naive)
    got = run(delta_rule_torch, chunk)
    torch.testing.assert_close(got[0], want[0], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(got[1], want[1], rtol=1e-9, atol=1e-9)
    for a, b in zip(got[2], want[2], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_negative_eigenvalues_flip_the_state():
    """beta = 2 with a repeated key is a reflection: the key's component of S changes sign."""
    q, k, v = torch.zeros(1, 2, 1, 2), torch.zeros(1, 2, 1, 2), torch.zeros(1, 2, 1, 2)
    k[..., 0] = 1.0
    s0 = torch.tensor([[[[3.0, 1.0], [2.0, 5.0]]]])
    for beta_val, row0 in ((2.0, [3.0, 1.0]), (1.0, [0.0, 0.0])):  # twice: back where it began
        beta = torch.full((1, 2, 1), beta_val)
        for fn in (delta_rule_naive, delta_rule_torch):
            _, s = fn(q, k, v, beta, None, None, s0)
            torch.testing.assert_close(s[0, 0, 0], torch.tensor(row0))
            torch.testing.assert_close(s[0, 0, 1], s0[0, 0, 1])
    _, s = delta_rule_torch(q[:, :1], k[:, :1], v[:, :1], torch.full((1, 1, 1), 2.0), None, 1, s0)
    torch.testing.assert_close(s[0, 0, 0], -s0[0, 0, 0])


def test_chunked_continues_its_own_state():
    gen = torch.Generator().manual_seed(0)
    q, k, v, beta, g = _inputs(29, gen, 2.0, gated=True)
    o, s = delta_rule_torch(q, k, v, beta, g, None, None, 4)
    cut = 11
    o1, s1 = delta_rule_torch(q[:, :cut], k[:, :cut], v[:, :cut], beta[:, :cut], g[:, :cut], None)
    o2, s2 = delta_rule_torch(
        q[:, cut:], k[:, cut:], v[:, cut:], beta[:, cut:], g[:, cut:], None, s1, 4
    )
    torch.testing.assert_close(torch.cat((o1, o2), dim=1), o, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(s2, s, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("gated", [False, True], ids=["plain", "gated"])
def test_low_precision_inputs_give_outputs_in_their_dtype_and_an_fp32_state(gated):
    """The math runs in fp32 whatever comes in; o goes back to v's dtype, the state stays fp32."""
    gen = torch.Generator().manual_seed(3)
    q, k, v, beta, g = _inputs(21, gen, 2.0, gated, dtype=torch.float32)
    want_o, want_s = delta_rule_naive(q, k, v, beta, g)
    low = [x.bfloat16() for x in (q, k, v, beta)]
    for fn, extra in ((delta_rule_naive, ()), (delta_rule_torch, (None, None, 8))):
        o, s = fn(*low, g, *extra)
        assert o.dtype == torch.bfloat16 and s.dtype == torch.float32, fn.__name__
        torch.testing.assert_close(o.float(), want_o, rtol=0.05, atol=0.05)
        torch.testing.assert_close(s, want_s, rtol=0.05, atol=0.05)


def test_rejects_mismatched_shapes():
    q = torch.zeros(1, 5, 2, 4)
    with pytest.raises(ValueError, match="beta"):
        delta_rule_torch(q, q, q, torch.zeros(1, 5, 3))
    with pytest.raises(ValueError, match="initial_state"):
        delta_rule_torch(q, q, q, torch.zeros(1, 5, 2), None, None, torch.zeros(1, 2, 4, 3))


def _fla_naive():
    try:
        from fla.ops.gated_delta_rule.naive import naive_recurrent_gated_delta_rule
    except Exception:  # noqa: BLE001  missing, or fla's import-time platform probe failing
        # fla imports only beside triton, and not every pair works: fla 0.5.2 with triton
        # 3.6.0 does on a CPU, with triton 3.9.0 its autotuner declarations fail at import
        pytest.skip("flash-linear-attention's naive ops do not import here (needs fla + triton)")
    return naive_recurrent_gated_delta_rule


@pytest.mark.parametrize("gated", [False, True])
def test_matches_fla_naive_delta_rule(gated):
    naive = _fla_naive()
    gen = torch.Generator().manual_seed(1)
    q, k, v, beta, g = _inputs(33, gen, 2.0, gated, dtype=torch.float32)
    s0 = torch.randn(2, 3, 4, 5, generator=gen)
    want_o, want_s = naive(
        q, k, v, beta, g if gated else torch.zeros_like(beta), None, s0, output_final_state=True
    )
    got_o, got_s = delta_rule_torch(q, k, v, beta, g, None, s0, 8)
    torch.testing.assert_close(got_o, want_o, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got_s, want_s, rtol=1e-4, atol=1e-4)


@pytest.mark.gpu
@pytest.mark.parametrize("t", [1, 17, 300])
@pytest.mark.parametrize("gated", [False, True])
def test_fla_matches_reference(t, gated):
    if not torch.cuda.is_available() or delta_rule_kernel(torch.device("cuda")) != "fla":
        pytest.skip("needs CUDA and flash-linear-attention")
    gen = torch.Generator().manual_seed(t)
    inputs = _inputs(t, gen, 2.0, gated, h=4, dk=32, dv=64, dtype=torch.float32)
    s0 = torch.randn(2, 4, 32, 64, generator=gen)

    def run(fn, dtype):
        q, k, v, beta, g = (x.cuda() if x is not None else None for x in inputs)
        leaves = [x.to(dtype).requires_grad_() for x in (q, k, v)]
        o, s = fn(*leaves, beta.to(dtype), g, None, s0.cuda().to(dtype))
        grads = torch.autograd.grad(o.float().square().sum() + s.float().sum(), leaves)
        return [o.float(), s.float()] + [x.float() for x in grads]

    ref = run(delta_rule_torch, torch.float32)
    for dtype, bound in ((torch.float32, 1e-3), (torch.bfloat16, None)):
        got = run(delta_rule_fla, dtype)
        ref_low = run(delta_rule_torch, dtype) if bound is None else None
        for i, (a, b) in enumerate(zip(got, ref, strict=True)):
            err = ((a - b).norm() / b.norm()).item()
            limit = bound or 2 * ((ref_low[i] - b).norm() / b.norm()).item() + 1e-2
            assert err <= limit, (dtype, i, err, limit)


# --- the mixer ------------------------------------------------------------------------------------


def test_negative_eigen_doubles_beta():
    """Same weights, one token: the state is beta k v^T, so "[-1,1]" makes it exactly twice."""
    x = torch.randn(2, 1, 16)
    states = []
    for eigen in ("[0,1]", "[-1,1]"):
        torch.manual_seed(0)
        mixer = DeltaNet(16, eigen=eigen)
        _, (_, s) = mixer.step(x, mixer.init_state(2, None, torch.float32))
        states.append(s)
    torch.testing.assert_close(states[1], 2 * states[0])


def test_gated_decay_is_in_unit_interval_and_trained():
    model = build_model("deltanet", VOCAB, CLASSES, d_model=16, n_layers=1, seed=0, gated=True)
    mixer = model.blocks[0].mixer
    x = torch.randn(3, 9, 16)
    g = -mixer.A_log.exp() * F.softplus(mixer.a_proj(x) + mixer.dt_bias)
    assert (g < 0).all() and (g.exp() > 0).all()
    model(torch.randint(VOCAB, (2, 9))).sum().backward()
    assert mixer.A_log.grad.abs().sum() > 0 and mixer.dt_bias.grad.abs().sum() > 0


def test_records_its_kernel_and_rejects_bad_options():
    assert build_model("deltanet", VOCAB, CLASSES, d_model=16).kernel == "torch"
    for bad in ({"eigen": "[-2,2]"}, {"n_heads": 3}, {"gated": "yes"}, {"chunk_size": 0}):
        with pytest.raises(ValueError, match="deltanet"):
            build_model("deltanet", VOCAB, CLASSES, d_model=16, **bad)


@pytest.mark.parametrize("options", [{}, {"gated": True, "eigen": "[-1,1]"}])
def test_parameter_matching_reaches_100k(options):
    d = match_params("deltanet", 100_000, VOCAB, CLASSES, n_layers=2, **options)
    got = build_model("deltanet", VOCAB, CLASSES, d_model=d, n_layers=2, **options).num_params()
    assert abs(got - 100_000) <= 10_000

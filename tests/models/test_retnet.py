"""RetNet: the three retention forms against each other (and fla's), the mixer contract."""

import pytest
import torch
from statebench.models import build_model
from statebench.models.ops.retention import (
    retention_chunkwise,
    retention_fla,
    retention_kernel,
    retention_parallel,
    retention_recurrent,
    retnet_gammas,
)
from statebench.models.retnet import RetNet

VOCAB, CLASSES = 11, 5


def _qkv(t, gen, b=2, h=3, dk=4, dv=6, dtype=torch.float64, device="cpu"):
    q, k = (torch.randn(b, h, t, dk, generator=gen, dtype=dtype).to(device) for _ in range(2))
    v = torch.randn(b, h, t, dv, generator=gen, dtype=dtype).to(device)
    return q, k, v


def test_gammas_are_the_papers():
    torch.testing.assert_close(
        retnet_gammas(4, torch.float64),
        torch.tensor([1 - 1 / 32, 1 - 1 / 64, 1 - 1 / 128, 1 - 1 / 256], dtype=torch.float64),
    )


@pytest.mark.parametrize("t,chunk", [(1, 4), (5, 4), (16, 4), (37, 4), (37, 16), (64, 64)])
@pytest.mark.parametrize("with_state", [False, True])
def test_forms_agree_on_outputs_states_and_gradients(t, chunk, with_state):
    gen = torch.Generator().manual_seed(t * 10 + chunk)
    q, k, v = _qkv(t, gen)
    gamma = retnet_gammas(3, torch.float64)
    s0 = torch.randn(2, 3, 4, 6, generator=gen, dtype=torch.float64) if with_state else None
    leaves = [x.requires_grad_() for x in (q, k, v) + ((s0,) if with_state else ())]
    w_o = torch.randn(2, 3, t, 6, generator=gen, dtype=torch.float64)
    w_s = torch.randn(2, 3, 4, 6, generator=gen, dtype=torch.float64)

    def run(fn, *extra):
        o, s = fn(q, k, v, gamma, s0, *extra)
        return o, s, torch.autograd.grad((o * w_o).sum() + (s * w_s).sum(), leaves)

    want = run(retention_recurrent)
    for got in (run(retention_parallel), run(retention_chunkwise, chunk)):
        torch.testing.assert_close(got[0], want[0], rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(got[1], want[1], rtol=1e-10, atol=1e-10)
        for a, b in zip(got[2], want[2], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_chunkwise_continues_its_own_state():
    """Splitting a sequence and feeding the state across is the same as one call."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = _qkv(29, gen)
    gamma = retnet_gammas(3, torch.float64)
    o, s = retention_chunkwise(q, k, v, gamma, None, 4)
    o1, s1 = retention_chunkwise(q[:, :, :11], k[:, :, :11], v[:, :, :11], gamma, None, 4)
    o2, s2 = retention_chunkwise(q[:, :, 11:], k[:, :, 11:], v[:, :, 11:], gamma, s1, 4)
    torch.testing.assert_close(torch.cat((o1, o2), dim=2), o, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(s2, s, rtol=1e-10, atol=1e-10)


def test_half_precision_decay_is_not_rounded():
    """gamma = 1 - 2^-12 is 1.0 in bf16; the decay must still be computed at full precision."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = _qkv(1000, gen, h=8, dtype=torch.float32)
    gamma = retnet_gammas(8)
    want, _ = retention_chunkwise(q, k, v, gamma, None, 64)
    got, _ = retention_chunkwise(q.bfloat16(), k.bfloat16(), v.bfloat16(), gamma, None, 64)
    # ~1% from bf16 inputs; rounding gamma to bf16 (1.0 for half the heads) costs ~30%.
    assert (got.float() - want).norm() / want.norm() < 3e-2


def test_rejects_mismatched_shapes():
    q = torch.zeros(1, 2, 5, 4)
    with pytest.raises(ValueError, match="gamma"):
        retention_chunkwise(q, q, q, torch.ones(3))
    with pytest.raises(ValueError, match="state"):
        retention_parallel(q, q, q, torch.ones(2), torch.zeros(1, 2, 4, 3))


def test_matches_fla_naive_retention():
    naive = pytest.importorskip("fla.ops.retention.naive")
    gen = torch.Generator().manual_seed(0)
    q, k, v = _qkv(33, gen, dtype=torch.float32)
    want = naive.naive_retention(q, k, v)  # scales q by dk^-0.5 itself
    got, _ = retention_parallel(q, k * 4**-0.5, v, retnet_gammas(3))
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.gpu
@pytest.mark.parametrize("t", [1, 17, 300])
def test_fla_matches_reference(t):
    if not torch.cuda.is_available() or retention_kernel(torch.device("cuda")) != "fla":
        pytest.skip("needs CUDA and flash-linear-attention")
    gen = torch.Generator().manual_seed(t)
    q, k, v = _qkv(t, gen, h=4, dk=32, dv=64, dtype=torch.float32, device="cuda")
    k = k * 32**-0.5
    s0 = torch.randn(2, 4, 32, 64, generator=gen).cuda()
    gamma = retnet_gammas(4, device="cuda")

    def run(fn, dtype):
        leaves = [x.to(dtype).requires_grad_() for x in (q, k, v)]
        o, s = fn(*leaves, gamma, s0.to(dtype))
        grads = torch.autograd.grad(o.float().square().sum(), leaves)
        return [o.float(), s.float()] + [g.float() for g in grads]

    ref = run(retention_chunkwise, torch.float32)
    # fp32 bound 5e-3: fla's Triton chunk kernels run tl.dot at TF32 whatever torch's TF32 flags
    for dtype, bound in ((torch.float32, 5e-3), (torch.bfloat16, None)):
        got = run(retention_fla, dtype)
        ref_low = run(retention_chunkwise, dtype) if bound is None else None
        for i, (a, b) in enumerate(zip(got, ref, strict=True)):
            err = ((a - b).norm() / b.norm()).item()
            limit = bound or 2 * ((ref_low[i] - b).norm() / b.norm()).item() + 1e-3
            assert err <= limit, (dtype, i, err, limit)


# --- the mixer contract ---------------------------------------------------------------------------


def _model(**opts):
    return build_model("retnet", VOCAB, CLASSES, d_model=32, n_layers=2, seed=0, **opts)


def _stream(model, tokens, chunk):
    state = model.init_state(tokens.shape[0])
    outs = []
    for i in range(0, tokens.shape[1], chunk):
        y, state = model.step(tokens[:, i : i + chunk], state)
        outs.append(y)
    return torch.cat(outs, dim=1)


@pytest.mark.parametrize("chunk", [1, 7])
@pytest.mark.parametrize("chunk_size", [4, 64])
def test_step_equals_forward(chunk, chunk_size):
    model = _model(chunk_size=chunk_size).double()
    tokens = torch.randint(0, VOCAB, (2, 23), generator=torch.Generator().manual_seed(chunk))
    torch.testing.assert_close(_stream(model, tokens, chunk), model(tokens), rtol=1e-9, atol=1e-9)


def test_causal():
    model = _model(chunk_size=4)
    tokens = torch.randint(0, VOCAB, (2, 20), generator=torch.Generator().manual_seed(0))
    changed = tokens.clone()
    changed[:, 11] = (changed[:, 11] + 1) % VOCAB
    y, y2 = model(tokens), model(changed)
    torch.testing.assert_close(y[:, :11], y2[:, :11], rtol=0, atol=0)
    assert not torch.allclose(y[:, 11:], y2[:, 11:])


def test_runs_at_four_times_the_length():
    model = _model(chunk_size=16)
    tokens = torch.randint(0, VOCAB, (1, 4 * 24), generator=torch.Generator().manual_seed(0))
    y = model(tokens)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(_stream(model, tokens, 24), y, rtol=1e-4, atol=1e-5)


def test_state_is_constant_size():
    model = _model(n_heads=2, value_factor=2)
    per_layer = 2 * 16 * 32  # heads * dk * dv
    assert model.state_size(1) == model.state_size(100_000) == 2 * per_layer
    assert model.init_state(3)[0].kv.shape == (3, 2, 16, 32)
    assert model.kernel == "ref"


@pytest.mark.parametrize(
    "opts,match",
    [
        ({"n_heads": 3}, "n_heads"),
        ({"n_heads": 32}, "even"),
        ({"value_factor": 0}, "value_factor"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"chunk_size": 2.5}, "chunk_size"),
    ],
)
def test_bad_options_are_named(opts, match):
    with pytest.raises(ValueError, match=match):
        RetNet(32, 0, **opts)

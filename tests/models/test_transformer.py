"""Transformer adapter: KV cache, positional encodings, attention paths against the reference."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from statebench.models import build_model
from statebench.models.ops import attention as attn
from statebench.models.ops.positional import alibi_bias, alibi_slopes, apply_rope, sinusoidal
from statebench.models.transformer import POS_KINDS, TransformerMixer, default_heads

V, C, D = 11, 5, 16


def tiny(pos="rope", n_layers=2, seed=0, **options):
    return build_model("transformer", V, C, D, n_layers, seed=seed, pos=pos, **options).eval()


def tokens(batch, length, seed=0):
    return torch.randint(V, (batch, length), generator=torch.Generator().manual_seed(seed))


# --- the model ------------------------------------------------------------------------------


def test_kv_cache_grows_linearly_and_state_size_counts_it():
    model = tiny(n_layers=3)
    x = tokens(2, 40)
    state = model.init_state(2)
    for start, stop in ((0, 8), (8, 24), (24, 40)):
        _, state = model.step(x[:, start:stop], state)
        assert [layer.length for layer in state] == [stop] * 3
    # every layer caches k and v of each token seen: 2 * 40 * D floats per sequence
    cached = sum(t[0].numel() for layer in state for t in layer)
    assert model.state_size(40) == cached == 3 * 2 * 40 * D
    sizes = [model.state_size(n) for n in (0, 10, 20, 30)]
    assert sizes[1] - sizes[0] == sizes[2] - sizes[1] == sizes[3] - sizes[2] == 3 * 2 * 10 * D


@pytest.mark.parametrize("pos", ["none", "sinusoidal", "rope", "alibi"])
def test_length_free_encodings_run_at_4x_and_step_still_matches(pos):
    model = tiny(pos)
    assert model.max_length is None
    x = tokens(2, 64)  # 4x the nominal training length of 16
    full = model(x)
    assert torch.isfinite(full).all()
    state = model.init_state(2)
    outs = []
    for start in range(0, 64, 13):
        out, state = model.step(x[:, start : start + 13], state)
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs, dim=1), full, atol=1e-5, rtol=0)


def test_learned_refuses_beyond_max_len_with_a_clear_error():
    model = tiny("learned", max_len=8)
    assert model.max_length == 8 and model.blocks[1].mixer.pos_embed is None  # one table
    assert model(tokens(1, 8)).shape == (1, 8, C)
    with pytest.raises(ValueError, match=r"max_len=8 positions; got a sequence of length 9"):
        model(tokens(1, 9))
    _, state = model.step(tokens(1, 8), model.init_state(1))
    with pytest.raises(ValueError, match="max_len=8"):
        model.step(tokens(1, 1), state)


def test_learned_table_costs_max_len_times_d_model_once():
    assert tiny("learned", max_len=100).num_params() == tiny("none").num_params() + 100 * D


@pytest.mark.parametrize("pos", ["sinusoidal", "learned"])
def test_absolute_encodings_make_identical_tokens_distinguishable(pos):
    """With NoPE a run of one token gives the same output everywhere but through the mask;
    an absolute encoding must make the first two outputs of a constant run differ."""
    out = tiny(pos)(torch.full((1, 4), 3))
    assert not torch.allclose(out[0, 0], out[0, 1], atol=1e-4)


def test_heads_default_and_validation():
    assert [default_heads(d) for d in (16, 12, 6, 64)] == [4, 2, 1, 4]
    assert TransformerMixer(12).head_dim == 6
    with pytest.raises(ValueError, match="n_heads=3 must divide d_model=16"):
        TransformerMixer(16, n_heads=3)
    with pytest.raises(ValueError, match="even head size"):
        TransformerMixer(12, n_heads=4, pos="rope")
    TransformerMixer(12, n_heads=4, pos="alibi")  # odd head size is fine without rope
    with pytest.raises(ValueError, match=str(POS_KINDS).replace("(", r"\(").replace(")", r"\)")):
        TransformerMixer(16, pos="xpos")


def test_kernel_is_sdpa_on_cpu():
    for dtype in (torch.float32, torch.bfloat16):
        assert attn.attention_kernel(torch.device("cpu"), dtype, 64) == "sdpa"
    model = tiny()
    assert model.kernel == "sdpa"
    model(tokens(1, 4))
    assert model.kernel == "sdpa"


# --- positional encodings -------------------------------------------------------------------


def test_sinusoidal_matches_the_formula():
    pe = sinusoidal(torch.arange(50), 6)
    assert pe.shape == (50, 6)
    assert torch.equal(pe[0], torch.tensor([0.0, 1, 0, 1, 0, 1]))
    p, i = 37, 1
    angle = p / 10000 ** (2 * i / 6)
    assert pe[p, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-5)
    assert pe[p, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-5)
    assert sinusoidal(torch.arange(3), 5).shape == (3, 5)


def test_rope_scores_depend_only_on_relative_position():
    """Why RoPE extrapolates: shifting every position by s leaves every q.k unchanged."""
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 1, 6, 2, 8, generator=gen).unbind(0)
    pos = torch.arange(6)

    def scores(shift):
        return torch.einsum(
            "bqhd,bkhd->bhqk", apply_rope(q, pos + shift), apply_rope(k, pos + shift)
        )

    torch.testing.assert_close(scores(1000), scores(0), atol=1e-4, rtol=1e-4)
    assert apply_rope(q, pos).norm() == pytest.approx(q.norm().item(), rel=1e-5)  # a rotation


@pytest.mark.slow  # importing transformers takes seconds
def test_rope_matches_transformers_llama():
    llama = pytest.importorskip("transformers.models.llama.modeling_llama")
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 2, 5, 3, 8, generator=gen).unbind(0)  # [B, T, H, Dh]
    angles = torch.arange(5.0)[:, None] * 10000 ** (-torch.arange(0, 8, 2) / 8)
    emb = torch.cat((angles, angles), dim=-1)[None]  # [1, T, Dh], the Llama layout
    hq, hk = llama.apply_rotary_pos_emb(q, k, emb.cos(), emb.sin(), unsqueeze_dim=2)
    torch.testing.assert_close(apply_rope(q, torch.arange(5)), hq)
    torch.testing.assert_close(apply_rope(k, torch.arange(5)), hk)


def test_alibi_slopes_are_the_standard_ones():
    assert alibi_slopes(8).tolist() == [2.0**-i for i in range(1, 9)]
    assert alibi_slopes(6).tolist() == [2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3]
    bias = alibi_bias(alibi_slopes(2), torch.arange(3), torch.arange(3))
    assert bias[1, 2, 0].item() == -2 * 2**-8  # slope of head 1 times distance 2


@pytest.mark.slow
@pytest.mark.parametrize("n_heads", [1, 4, 6, 12])
def test_alibi_slopes_match_transformers_bloom(n_heads):
    bloom = pytest.importorskip("transformers.models.bloom.modeling_bloom")
    alibi = bloom.build_alibi_tensor(torch.ones(1, 2), n_heads, torch.float32)  # slope * pos
    torch.testing.assert_close(alibi_slopes(n_heads), alibi[:, 0, 1])


# --- attention paths against the reference --------------------------------------------------


def qkv(tq, tk, heads=2, dh=8, batch=2, seed=0, dtype=torch.float32, device="cpu"):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, tq, heads, dh, generator=gen)
    k, v = torch.randn(2, batch, tk, heads, dh, generator=gen).unbind(0)
    return [t.to(device=device, dtype=dtype).requires_grad_() for t in (q, k, v)]


def test_reference_is_causal_softmax_with_bottom_right_alignment():
    q, k, v = qkv(3, 5, heads=1, batch=1)
    out = attn.attention_naive(q, k, v)
    for i in range(3):
        visible = 5 - 3 + i + 1  # query i sits at absolute position 2 + i
        w = (k[0, :visible, 0] @ q[0, i, 0] / math.sqrt(8)).softmax(0)
        torch.testing.assert_close(out[0, i, 0], w @ v[0, :visible, 0])


@settings(max_examples=25, deadline=None)
@given(
    tq=st.integers(1, 9),
    extra=st.integers(0, 9),
    heads=st.integers(1, 3),
    alibi=st.booleans(),
    seed=st.integers(0, 100),
)
def test_sdpa_matches_reference_outputs_and_gradients(tq, extra, heads, alibi, seed):
    slopes = alibi_slopes(heads) if alibi else None
    ref_in, fast_in = qkv(tq, tq + extra, heads, seed=seed), qkv(tq, tq + extra, heads, seed=seed)
    ref, fast = attn.attention_naive(*ref_in, slopes), attn.attention_sdpa(*fast_in, slopes)
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
    grad = torch.randn_like(ref)
    ref.backward(grad)
    fast.backward(grad)
    for a, b in zip(fast_in, ref_in, strict=True):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-5)


def test_low_precision_reference_computes_in_its_dtype():
    exact = attn.attention_naive(*qkv(6, 9), alibi_slopes(2))
    low = attn.attention_naive(*qkv(6, 9, dtype=torch.bfloat16), alibi_slopes(2), upcast=False)
    assert low.dtype == torch.bfloat16
    err = (low.float() - exact).abs().max().item()
    assert 0 < err < 0.05  # bf16-sized, not zero: it did not quietly upcast


def test_more_queries_than_keys_is_an_error():
    with pytest.raises(ValueError, match="at least as many keys"):
        attn.attention_sdpa(*qkv(4, 3))


def _low_precision_errors(fast, dtype, alibi):
    """Max error of `fast` in `dtype` and of the reference computed in `dtype`, both against the
    fp32 reference, on the output and on each of dq, dk, dv."""
    slopes = alibi_slopes(4, "cuda") if alibi else None
    shapes = dict(tq=64, tk=96, heads=4, dh=64, device="cuda")
    exact_in = qkv(**shapes)
    exact = attn.attention_naive(*exact_in, slopes)
    grad = torch.randn_like(exact)
    exact.backward(grad)
    errors = []
    low_ref = functools.partial(attn.attention_naive, upcast=False)
    for path in (fast, low_ref):
        low_in = qkv(**shapes, dtype=dtype)
        out = path(*low_in, slopes)
        out.backward(grad.to(dtype))
        pairs = [(out, exact)] + [(a.grad, b.grad) for a, b in zip(low_in, exact_in, strict=True)]
        errors.append([(a.float() - b.float()).abs().max().item() for a, b in pairs])
    return errors


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("alibi", [False, True])
def test_sdpa_on_cuda_matches_reference(alibi):
    err_fast, err_ref = _low_precision_errors(attn.attention_sdpa, torch.bfloat16, alibi)
    for f, r in zip(err_fast, err_ref, strict=True):
        assert f <= 2 * r + 1e-3, (err_fast, err_ref)


@pytest.mark.gpu
@pytest.mark.skipif(
    not torch.cuda.is_available() or attn.flash_attn_func is None, reason="needs CUDA + flash-attn"
)
@pytest.mark.parametrize("alibi", [False, True])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_flash_attn_matches_reference(alibi, dtype):
    assert attn.attention_kernel(torch.device("cuda"), dtype, 64) == "flash_attn"
    err_fast, err_ref = _low_precision_errors(attn.attention_flash, dtype, alibi)
    for f, r in zip(err_fast, err_ref, strict=True):
        assert f <= 2 * r + 1e-3, (err_fast, err_ref)

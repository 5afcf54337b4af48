"""Griffin and Hawk: RecurrentGemma parity, the ops against their oracles, the mixer contract."""

import pytest
import torch
from statebench.models import build_model
from statebench.models.griffin import Griffin, Hawk, LocalAttentionBlock, RecurrentBlock
from statebench.models.ops.local_attention import (
    local_attention,
    local_attention_dense,
    local_attention_naive,
)
from statebench.models.ops.rglru import gated_scan_fla, gated_scan_torch, scan_kernel

VOCAB, CLASSES = 11, 5


def _model(arch, n_layers=3, d_model=32, **opts):
    return build_model(arch, VOCAB, CLASSES, d_model=d_model, n_layers=n_layers, seed=0, **opts)


# --- parity with transformers' RecurrentGemma -------------------------------------------------


def _hf_config(window=5):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.RecurrentGemmaConfig(
        hidden_size=32,
        lru_width=48,
        num_attention_heads=4,
        num_key_value_heads=1,
        attention_window_size=window,
        num_hidden_layers=3,
        vocab_size=VOCAB,
        intermediate_size=96,
    )
    cfg._attn_implementation = "eager"
    return cfg


def _randomize(module, gen):
    """Random values of a trained model's scale; RecurrentGemma's params start uninitialized."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)


def test_recurrent_block_matches_recurrent_gemma():
    hf = pytest.importorskip("transformers.models.recurrent_gemma.modeling_recurrent_gemma")
    cfg = _hf_config()
    gen = torch.Generator().manual_seed(0)
    theirs = hf.RecurrentGemmaRecurrentBlock(cfg, 0)
    _randomize(theirs, gen)
    with torch.no_grad():  # a = exp(-softplus(Lambda)) in [0.9, 0.999], as initialized there
        a = torch.empty(cfg.lru_width).uniform_(0.9, 0.999, generator=gen)
        theirs.rg_lru.recurrent_param.copy_(torch.log(1 / a - 1))
    ours = RecurrentBlock(cfg.hidden_size, cfg.lru_width, cfg.num_attention_heads, 4)
    with torch.no_grad():
        for name in ("linear_x", "linear_y", "linear_out"):
            getattr(ours, name).load_state_dict(getattr(theirs, name).state_dict())
        ours.conv_weight.copy_(theirs.conv_1d.weight[:, 0, :].t())
        ours.conv_bias.copy_(theirs.conv_1d.bias)
        lru = theirs.rg_lru
        ours.a_param.copy_(lru.recurrent_param)
        ours.gate_x_weight.copy_(lru.input_gate_weight)
        ours.gate_x_bias.copy_(lru.input_gate_bias)
        ours.gate_a_weight.copy_(lru.recurrent_gate_weight)
        ours.gate_a_bias.copy_(lru.recurrent_gate_bias)

    t = 37
    x = torch.randn(2, t, cfg.hidden_size, generator=gen, requires_grad=True)
    w = torch.randn(2, t, cfg.hidden_size, generator=gen)
    y_ref = theirs(x, position_ids=torch.arange(t)[None], attention_mask=None, use_cache=False)[0]
    (g_ref,) = torch.autograd.grad((y_ref * w).sum(), x)
    y = ours(x, None)[0]
    (g,) = torch.autograd.grad((y * w).sum(), x)
    torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=1e-5)


def test_attention_block_matches_recurrent_gemma():
    hf = pytest.importorskip("transformers.models.recurrent_gemma.modeling_recurrent_gemma")
    window, t = 5, 23
    cfg = _hf_config(window)
    gen = torch.Generator().manual_seed(1)
    theirs = hf.RecurrentGemmaAttention(cfg, 2)
    _randomize(theirs, gen)
    ours = LocalAttentionBlock(cfg.hidden_size, cfg.num_attention_heads, window)
    loaded = ours.load_state_dict(theirs.state_dict(), strict=False)  # + their rope buffers
    assert not loaded.missing_keys

    x = torch.randn(2, t, cfg.hidden_size, generator=gen, requires_grad=True)
    i = torch.arange(t)
    allowed = (i[:, None] >= i[None, :]) & (i[:, None] - i[None, :] <= window)
    mask = torch.zeros(t, t).masked_fill(~allowed, float("-inf"))[None, None]
    y_ref = theirs(x, position_ids=i[None], attention_mask=mask)[0]
    (g_ref,) = torch.autograd.grad(y_ref.square().sum(), x)
    y = ours(x, None)[0]
    (g,) = torch.autograd.grad(y.square().sum(), x)
    torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-5)
    # Gradients sum ~t*D products in a different order than theirs: fp32 rounding reaches 1e-5.
    torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=5e-5)


# --- ops ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tq,cached,window",
    [(5, 0, 8), (17, 0, 4), (16, 0, 4), (17, 2, 4), (17, 9, 4), (3, 9, 4), (12, 0, 1), (9, 3, 1)],
)
def test_local_attention_matches_oracles(tq, cached, window):
    gen = torch.Generator().manual_seed(tq * 100 + cached)
    q = torch.randn(2, tq, 3, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, cached + tq, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, cached + tq, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, tq, 3, 8, generator=gen, dtype=torch.float64)
    results = []
    for fn in (local_attention_naive, local_attention, local_attention_dense):
        o = fn(q, k, v, window)
        results.append((o, torch.autograd.grad((o * w).sum(), (q, k, v))))
    for o, grads in results[1:]:
        torch.testing.assert_close(results[0][0], o, rtol=1e-10, atol=1e-10)
        for a, b in zip(results[0][1], grads, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_local_attention_rejects_bad_input():
    q, k = torch.zeros(1, 4, 2, 8), torch.zeros(1, 4, 8)
    with pytest.raises(ValueError, match="window"):
        local_attention(q, k, k, 0)
    with pytest.raises(ValueError, match="Tk >= Tq"):
        local_attention(q, k[:, :3], k[:, :3], 2)


@pytest.mark.gpu
def test_fla_scan_matches_reference():
    if not torch.cuda.is_available() or scan_kernel(torch.device("cuda")) != "fla":
        pytest.skip("needs CUDA and flash-linear-attention")
    gen = torch.Generator(device="cuda").manual_seed(0)
    log_a = -torch.rand(2, 300, 64, device="cuda", generator=gen) * 0.1
    b = torch.randn(2, 300, 64, device="cuda", generator=gen)
    h0 = torch.randn(2, 64, device="cuda", generator=gen)
    for init in (None, h0):
        leaves = [t.clone().requires_grad_() for t in (log_a, b)]
        outs = []
        for fn in (gated_scan_fla, gated_scan_torch):
            h = fn(*leaves, init)
            outs.append((h, torch.autograd.grad(h.square().sum(), leaves)))
        torch.testing.assert_close(outs[0][0], outs[1][0], rtol=1e-4, atol=1e-4)
        for a, b_ in zip(outs[0][1], outs[1][1], strict=True):
            torch.testing.assert_close(a, b_, rtol=1e-3, atol=1e-3)


# --- the mixer contract ---------------------------------------------------------------------------


def test_layer_pattern():
    kinds = [b.mixer.kind for b in _model("griffin", n_layers=6).blocks]
    assert kinds == ["recurrent", "recurrent", "attention"] * 2
    assert {b.mixer.kind for b in _model("hawk", n_layers=4).blocks} == {"recurrent"}
    assert [b.mixer.kind for b in _model("griffin", 3, pattern="ar").blocks] == [
        "attention",
        "recurrent",
        "attention",
    ]


def _stream(model, tokens, chunk):
    state = model.init_state(tokens.shape[0])
    outs = []
    for i in range(0, tokens.shape[1], chunk):
        y, state = model.step(tokens[:, i : i + chunk], state)
        outs.append(y)
    return torch.cat(outs, dim=1)


@pytest.mark.parametrize("arch,opts", [("griffin", {"window": 4}), ("hawk", {})])
@pytest.mark.parametrize("chunk", [1, 7])
def test_step_equals_forward(arch, opts, chunk):
    model = _model(arch, **opts).double()
    tokens = torch.randint(0, VOCAB, (2, 23), generator=torch.Generator().manual_seed(chunk))
    torch.testing.assert_close(_stream(model, tokens, chunk), model(tokens), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("arch,opts", [("griffin", {"window": 4}), ("hawk", {})])
def test_causal(arch, opts):
    model = _model(arch, **opts)
    tokens = torch.randint(0, VOCAB, (2, 20), generator=torch.Generator().manual_seed(0))
    changed = tokens.clone()
    changed[:, 11] = (changed[:, 11] + 1) % VOCAB
    y, y2 = model(tokens), model(changed)
    torch.testing.assert_close(y[:, :11], y2[:, :11], rtol=0, atol=0)
    assert not torch.allclose(y[:, 11:], y2[:, 11:])


@pytest.mark.parametrize("arch,opts", [("griffin", {"window": 4}), ("hawk", {})])
def test_runs_at_four_times_the_length(arch, opts):
    """Beyond the window the attention forgets, the recurrence carries on: streaming 4x as many
    tokens as were seen at once stays finite and agrees with forward."""
    model = _model(arch, **opts)
    tokens = torch.randint(0, VOCAB, (1, 4 * 24), generator=torch.Generator().manual_seed(0))
    y = model(tokens)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(_stream(model, tokens, 24), y, rtol=1e-4, atol=1e-5)


def test_state_size_bounded_by_window():
    griffin = _model("griffin", window=4, lru_width=48)
    recurrent = 2 * 4 * 48  # two layers of conv tail (width 4 - 1) + h
    head_dim = 32 // 4
    assert griffin.state_size(1) == recurrent + 2 * head_dim
    assert griffin.state_size(2) == recurrent + 2 * 2 * head_dim
    assert griffin.state_size(10) == griffin.state_size(10_000) == recurrent + 2 * 4 * head_dim
    state = griffin.init_state(1)
    _, state = griffin.step(torch.zeros(1, 10, dtype=torch.long), state)
    assert state[2].k.shape[1] == 4  # the window: keys a query sees before itself
    hawk = _model("hawk", n_layers=2)
    assert hawk.state_size(1) == hawk.state_size(10_000) == 2 * 4 * 32


def test_kernel_names_on_cpu():
    assert _model("griffin").kernel == "ref+sdpa"
    assert _model("hawk").kernel == "ref"


def test_gradients_reach_every_parameter():
    model = _model("griffin", window=4)
    tokens = torch.randint(0, VOCAB, (2, 12), generator=torch.Generator().manual_seed(0))
    model(tokens).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "cls,opts,match",
    [
        (Griffin, {"pattern": "rrx"}, "pattern"),
        (Griffin, {"pattern": ""}, "pattern"),
        (Griffin, {"window": 0}, "window"),
        (Griffin, {"n_heads": 3}, "n_heads"),
        (Griffin, {"lru_width": 30}, "lru_width"),
        (Hawk, {"conv_width": 0}, "conv_width"),
        (Hawk, {"n_heads": 2.0}, "n_heads"),
    ],
)
def test_bad_options_are_named(cls, opts, match):
    layer = 2 if opts.get("n_heads") == 3 else 0  # n_heads=3 fails on the attention layer
    with pytest.raises(ValueError, match=match):
        cls(32, layer, **opts)


def test_hawk_has_no_window_option():
    with pytest.raises(ValueError, match="window"):
        build_model("hawk", VOCAB, CLASSES, window=8)


def test_rg_lru_gates_start_as_recurrentgemma_s():
    """Gate weights of std sqrt(1 / block width); a = exp(-softplus(Lambda)) in [0.9, 0.999]."""
    torch.manual_seed(0)
    block = RecurrentBlock(d_model=64, lru_width=256, n_heads=2, conv_width=4)
    bw = 256 // 2
    for w in (block.gate_x_weight, block.gate_a_weight):
        assert w.shape == (2, bw, bw)
        assert w.std().item() == pytest.approx((1 / bw) ** 0.5, rel=0.03)
    a = torch.exp(-torch.nn.functional.softplus(block.a_param))
    assert 0.9 <= a.min().item() and a.max().item() <= 0.999 + 1e-6

"""The fused call sites, on CPU with faked kernels: what each fused path is handed, and when a
path is refused (strides, widths, a kernel-less mamba-ssm, compute capability, a stream's first
chunk, ALiBi precision, the LSTM's label). The fakes run the torch paths, so outputs still agree."""

from __future__ import annotations

import sys
import types

import pytest
import torch
from statebench.models import build_model, mamba
from statebench.models.lstm import LSTMMixer, lstm_cuda_kernel
from statebench.models.mamba import MambaMixer
from statebench.models.ops import attention as attn
from statebench.models.ops import causal_conv, delta_rule, fused, local_attention, selective_scan
from statebench.models.ops.positional import alibi_slopes
from statebench.models.transformer import TransformerMixer
from torch.nn import functional as F


def _fake_conv(calls: list):
    """causal_conv1d_fn as the kernel sees it: record x's layout, compute with torch."""

    def fn(x, weight, bias, activation=None):
        calls.append(
            {"stride": x.stride(), "contiguous": x.is_contiguous(), "width": weight.shape[1]}
        )
        return causal_conv.causal_conv1d_torch(x, weight, bias, activation)

    return fn


def _fused_everywhere(monkeypatch, module, width_aware: bool = False):
    """Make a module's `fused_available` say yes on CPU too, so its fused branch is taken."""
    if width_aware:
        monkeypatch.setattr(module, "fused_available", lambda d, w=4: w in causal_conv.FUSED_WIDTHS)
    else:
        monkeypatch.setattr(module, "fused_available", lambda d, e="[0,1]": e == "[0,1]")


def test_mis_strided_conv_input_is_made_contiguous_before_the_kernel(monkeypatch):
    """Mamba hands the conv a transposed slice of in_proj's output (d_inner 60, not a multiple
    of 8): the kernel must get a channel-first contiguous tensor, and the result is unchanged."""
    torch.manual_seed(0)
    mixer = MambaMixer(40, d_state=8, d_conv=3, expand=1.5)
    x = torch.randn(2, 7, 40)
    want = mixer(x)
    calls: list = []
    monkeypatch.setattr(causal_conv, "_fused_causal_conv1d", _fake_conv(calls))
    _fused_everywhere(monkeypatch, causal_conv, width_aware=True)
    got = mixer(x)
    assert calls == [{"stride": (60 * 7, 7, 1), "contiguous": True, "width": 3}]
    torch.testing.assert_close(got, want)


def _kernel_layout(x: torch.Tensor) -> str:
    """How causal-conv1d reads x: channel-last when its time stride is not 1 and its channel
    stride is (the kernel's own test), else channel-first."""
    return "channel-last" if x.stride(2) != 1 and x.stride(1) == 1 else "channel-first"


@pytest.mark.parametrize(
    ("arch", "options"),
    [("deltanet", {}), ("mamba", {}), ("mamba2", {"head_dim": 8}), ("xlstm", {"cell": "slstm"})],
    ids=["deltanet", "mamba", "mamba2", "slstm"],
)
def test_a_length_one_input_reaches_the_conv_kernel_channel_first(monkeypatch, arch, options):
    """A one-token input ([B, C, 1], a transposed slice with strides (C, 1, C)) counts as
    contiguous in torch, so `x.contiguous()` leaves it channel-last for the kernel, which then
    refuses C % 8 != 0 (d_model 20 here) or runs its other path. Forward on one token and a
    stream fed one token at a time must hand the kernel channel-first tensors."""
    torch.manual_seed(0)
    model = build_model(arch, 5, 3, d_model=20, n_layers=1, **options)
    tokens = torch.randint(0, 5, (2, 3))
    want_one, want = model(tokens[:, :1]), model(tokens)
    layouts: list[str] = []

    def kernel(x, weight, bias, activation=None):
        layouts.append(_kernel_layout(x))
        return causal_conv.causal_conv1d_torch(x, weight, bias, activation)

    monkeypatch.setattr(causal_conv, "_fused_causal_conv1d", kernel)
    _fused_everywhere(monkeypatch, causal_conv, width_aware=True)
    got_one = model(tokens[:, :1])
    state, outs = model.init_state(2), []
    for t in range(3):
        out, state = model.step(tokens[:, t : t + 1], state)
        outs.append(out)
    assert len(layouts) == 4 and set(layouts) == {"channel-first"}, layouts
    torch.testing.assert_close(got_one, want_one)
    torch.testing.assert_close(torch.cat(outs, dim=1), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("width", [1, 5])
def test_conv_width_outside_2_to_4_never_reaches_the_kernel(monkeypatch, width):
    calls: list = []
    monkeypatch.setattr(causal_conv, "_fused_causal_conv1d", _fake_conv(calls))
    _fused_everywhere(monkeypatch, causal_conv, width_aware=True)
    x, w = torch.randn(1, 8, 6), torch.randn(8, width)
    out = causal_conv.causal_conv1d(x, w, None, "silu")
    assert calls == [] and out.shape == x.shape
    with pytest.raises(ValueError, match="2..4"):
        causal_conv.causal_conv1d_cuda(x, w)


def _fake_package(monkeypatch, name: str, **attrs) -> None:
    """Install a module (and its parents) into sys.modules for the length of a test."""
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        mod = types.ModuleType(".".join(parts[:i]))
        if i == len(parts):
            for k, v in attrs.items():
                setattr(mod, k, v)
        monkeypatch.setitem(sys.modules, mod.__name__, mod)


def test_importable_but_kernel_less_mamba_ssm_is_unavailable(monkeypatch):
    """mamba-ssm built without MAMBA_KEEP_CUDA_BUILD: the Python package imports, the
    `selective_scan_cuda` extension does not. That is no fused path, and doctor says why."""

    def selective_scan_fn(*args):
        raise AssertionError("never called")

    _fake_package(monkeypatch, selective_scan.MAMBA_MODULE, selective_scan_fn=selective_scan_fn)
    monkeypatch.setitem(sys.modules, "selective_scan_cuda", None)  # import raises ImportError
    monkeypatch.setattr(fused, "IMPORT_ERRORS", {})
    assert selective_scan.load_mamba_ssm() is None
    error = fused.import_error(selective_scan.MAMBA_MODULE)
    assert "selective_scan_cuda" in error and "MAMBA_KEEP_CUDA_BUILD" in error
    # with the extension present, the same package is accepted
    _fake_package(monkeypatch, "selective_scan_cuda", fwd=object(), bwd=object())
    assert selective_scan.load_mamba_ssm() is selective_scan_fn
    assert fused.import_error(selective_scan.MAMBA_MODULE) is None


@pytest.mark.parametrize(("capability", "path"), [((7, 5), "sdpa"), ((8, 0), "flash_attn")])
def test_flash_attn_needs_compute_capability_8(monkeypatch, capability, path):
    monkeypatch.setattr(attn, "flash_attn_func", lambda *a, **k: None)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    cuda = torch.device("cuda")
    assert attn.attention_kernel(cuda, torch.bfloat16, 64) == path
    assert attn.attention_kernel(cuda, torch.float32, 64) == "sdpa"  # flash-attn has no fp32
    mixer = TransformerMixer(64).to(torch.bfloat16)
    assert mixer.kernel_name(cuda) == path


def test_a_streams_first_chunk_runs_the_fused_scan(monkeypatch):
    """init_state carries no SSM state, so chunk 1 has h0=None and takes the fused kernel;
    later chunks start from a state and take the torch scan. Streamed == forward."""
    torch.manual_seed(0)
    model = build_model("mamba", 5, 3, d_model=16, n_layers=2)
    tokens = torch.randint(0, 5, (2, 12))
    want = model(tokens)
    calls: list[int] = []

    def fake_fused(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state):
        calls.append(u.shape[-1])
        return selective_scan.selective_scan_torch(
            u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state=return_last_state
        )

    monkeypatch.setattr(selective_scan, "_fused_selective_scan", fake_fused)
    _fused_everywhere(monkeypatch, selective_scan)
    _fused_everywhere(monkeypatch, mamba)
    state = model.init_state(2, tokens.device)
    outs = []
    for start in range(0, 12, 5):
        out, state = model.step(tokens[:, start : start + 5], state)
        outs.append(out)
    assert calls == [5, 5]  # two layers, first chunk only
    torch.testing.assert_close(torch.cat(outs, dim=1), want, rtol=1e-5, atol=1e-5)
    assert model.kernel == "mamba_ssm" and model.step_kernel == "mamba_ssm+ref"


def test_alibi_bias_reaches_sdpa_in_fp32(monkeypatch):
    """In bf16 the bias would be off by 0.0625 per step at distance 4096; the ALiBi path runs
    its softmax in fp32 and so takes the mask in fp32."""
    seen = []
    sdpa = F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kw):
        seen.append((q.dtype, None if attn_mask is None else attn_mask.dtype))
        return sdpa(q, k, v, attn_mask=attn_mask, **kw)

    monkeypatch.setattr(attn.F, "scaled_dot_product_attention", spy)
    q, k, v = (torch.randn(1, 6, 2, 8, dtype=torch.bfloat16) for _ in range(3))
    out = attn.attention_sdpa(q, k, v, alibi_slopes(2))
    assert seen == [(torch.float32, torch.float32)] and out.dtype == torch.bfloat16
    want = attn.attention_naive(q, k, v, alibi_slopes(2))
    torch.testing.assert_close(out, want, rtol=1e-2, atol=1e-2)


def test_lstm_label_is_read_off_the_dispatch(monkeypatch):
    """CPU never runs cuDNN: the dispatch probe says native, whatever the versions say; a CUDA
    device reports what the probe saw for its dtype."""
    assert lstm_cuda_kernel(torch.device("cpu"), torch.bfloat16) == "native"
    seen = []
    monkeypatch.setattr(
        "statebench.models.lstm.lstm_cuda_kernel",
        lambda device, dtype: seen.append(dtype) or "native",
    )
    monkeypatch.setattr(torch.backends.cudnn, "is_available", lambda: True)
    mixer = LSTMMixer(8).to(torch.bfloat16)
    assert mixer.kernel_name(torch.device("cuda")) == "native" and seen == [torch.bfloat16]
    assert mixer.kernel_name(torch.device("cpu")) == "ref"


@pytest.mark.parametrize(("tq", "tk", "window"), [(9, 9, 1), (9, 9, 4), (5, 12, 3), (1, 7, 4)])
def test_flash_window_size_matches_our_window(tq, tk, window):
    """flash-attn's documented window rule, with the window_size we pass, is our mask."""
    want = local_attention._window_mask(tq, tk, window, "cpu")
    assert torch.equal(
        local_attention.flash_mask(tq, tk, local_attention.flash_window(window)), want
    )


def _fake_flash(calls: list):
    """flash_attn_func as documented: causal, bottom-right aligned, window_size, MQA heads."""

    def fn(q, k, v, causal=False, window_size=(-1, -1), **kwargs):
        calls.append({"causal": causal, "window_size": window_size, "k": tuple(k.shape)})
        mask = local_attention.flash_mask(q.shape[1], k.shape[1], window_size)
        s = torch.einsum("bqhd,bkd->bhqk", q.float(), k[:, :, 0].float()) * q.shape[-1] ** -0.5
        p = s.masked_fill(~mask, float("-inf")).softmax(-1)
        return torch.einsum("bhqk,bkd->bqhd", p, v[:, :, 0].float()).to(q.dtype)

    return fn


def test_griffin_local_attention_goes_through_flash_with_its_window(monkeypatch):
    """On a capable card in bf16 the Griffin attention block calls flash_attn_func with
    window_size=(window, 0) and one KV head, and gets what the SDPA path computes."""
    torch.manual_seed(0)
    model = build_model("griffin", 5, 3, d_model=64, n_layers=3, window=4).to(torch.bfloat16)
    tokens = torch.randint(0, 5, (2, 19))
    want = model(tokens)
    calls: list = []
    monkeypatch.setattr(attn, "flash_attn_func", _fake_flash(calls))
    monkeypatch.setattr(attn, "flash_usable", lambda device, dtype, head_dim: True)
    got = model(tokens)
    assert calls and all(c["window_size"] == (4, 0) and c["causal"] for c in calls)
    assert all(c["k"][2] == 1 for c in calls)  # multi-query: one shared KV head
    torch.testing.assert_close(got.float(), want.float(), rtol=3e-2, atol=3e-2)
    assert "flash_attn" in model.kernel.split("+")


@pytest.fixture
def fresh_fla_imports(monkeypatch):
    """fla is imported once per process (`fused.fla_ops` caches); fake modules need a fresh one."""
    monkeypatch.setattr(fused, "IMPORT_ERRORS", {})
    fused.fla_ops.cache_clear()
    yield
    fused.fla_ops.cache_clear()


def test_fla_delta_rule_import_failure_is_kept_for_doctor(monkeypatch, fresh_fla_imports):
    """fla without its gated delta rule (an old release): no fla path, and the reason is kept."""
    _fake_package(monkeypatch, "fla.ops.delta_rule", chunk_delta_rule=object())
    monkeypatch.setitem(sys.modules, "fla.ops.gated_delta_rule", None)  # import raises
    assert delta_rule._fla() is None
    assert delta_rule.delta_rule_kernel(torch.device("cuda")) == "torch"
    assert "fla.ops.gated_delta_rule" in fused.import_error("fla")
    with pytest.raises(RuntimeError, match="gated_delta_rule"):
        delta_rule.delta_rule_fla(*(torch.zeros(1, 2, 1, 4),) * 3, torch.zeros(1, 2, 1))


def _fake_fla_delta_rule(calls: list):
    """fla's chunk_delta_rule / chunk_gated_delta_rule signatures (fla >= 0.5: [B, T, H, D],
    g before beta), computed by our chunked form."""

    def plain(q, k, v, beta, scale=None, initial_state=None, output_final_state=False):
        calls.append(("plain", initial_state is not None, output_final_state))
        return delta_rule.delta_rule_torch(q, k, v, beta, None, scale, initial_state)

    def gated(q, k, v, g, beta, scale=None, initial_state=None, output_final_state=False):
        calls.append(("gated", initial_state is not None, output_final_state))
        return delta_rule.delta_rule_torch(q, k, v, beta, g, scale, initial_state)

    return plain, gated


@pytest.mark.parametrize(
    ("dtype", "want"),
    [(torch.float32, "gated"), (torch.bfloat16, "plain")],
    ids=["float32", "bfloat16"],
)
def test_plain_deltanet_in_float32_never_reaches_the_fp32_refusing_kernel(
    monkeypatch, fresh_fla_imports, dtype, want
):
    """fla's chunk_delta_rule asserts q.dtype != float32 (every pinned release), and float32 is
    the default dtype: the plain rule then runs chunk_gated_delta_rule with g = 0, a decay of
    one, which is the same rule. The fake plain kernel refuses float32 as fla's does."""
    calls: list = []
    plain_fn, gated_fn = _fake_fla_delta_rule(calls)

    def refusing_plain(q, *args, **kwargs):
        assert q.dtype != torch.float32, "ChunkDeltaRuleFunction does not support float32"
        return plain_fn(q, *args, **kwargs)

    gs: list = []

    def recording_gated(q, k, v, g, beta, **kwargs):
        gs.append(g)
        return gated_fn(q, k, v, g, beta, **kwargs)

    _fake_package(monkeypatch, "fla.ops.delta_rule", chunk_delta_rule=refusing_plain)
    _fake_package(monkeypatch, "fla.ops.gated_delta_rule", chunk_gated_delta_rule=recording_gated)
    torch.manual_seed(0)
    model = build_model("deltanet", 5, 3, d_model=16, n_layers=2).to(dtype)
    tokens = torch.randint(0, 5, (2, 11))
    want_logits = model(tokens)
    monkeypatch.setattr(delta_rule, "delta_rule_kernel", lambda device: "fla")
    got = model(tokens)
    assert [c[0] for c in calls] == [want] * 2
    assert all(g.dtype == torch.float32 and not g.any() for g in gs)
    torch.testing.assert_close(got, want_logits)
    fn = delta_rule.fla_function(dtype, gated=False)
    assert fn == ("chunk_gated_delta_rule" if dtype == torch.float32 else "chunk_delta_rule")


@pytest.mark.parametrize("dtype_name", ["float32", "bfloat16"])
def test_doctor_names_the_delta_rule_function_that_really_runs(
    monkeypatch, fresh_fla_imports, dtype_name
):
    """Doctor's row for plain DeltaNet with fla on CUDA (faked) names the fla function the model
    then really calls: chunk_gated_delta_rule (g = 0) in float32, chunk_delta_rule otherwise."""
    import statebench.models.deltanet as deltanet
    from statebench.bench.cli import doctor

    calls: list = []
    plain_fn, gated_fn = _fake_fla_delta_rule(calls)

    def refusing_plain(q, *args, **kwargs):
        assert q.dtype != torch.float32, "ChunkDeltaRuleFunction does not support float32"
        return plain_fn(q, *args, **kwargs)

    _fake_package(monkeypatch, "fla.ops.delta_rule", chunk_delta_rule=refusing_plain)
    _fake_package(monkeypatch, "fla.ops.gated_delta_rule", chunk_gated_delta_rule=gated_fn)
    for module in (delta_rule, deltanet):
        monkeypatch.setattr(module, "delta_rule_kernel", lambda device: "fla")
    model = build_model("deltanet", 5, 3, d_model=16, n_layers=2).to(doctor.DTYPES[dtype_name])
    model(torch.randint(0, 5, (2, 7)))
    ran = {c[0] for c in calls}
    assert len(ran) == 1
    function = {"plain": "chunk_delta_rule", "gated": "chunk_gated_delta_rule"}[ran.pop()]
    rows = {r[2]: r for r in doctor._arch_rows("deltanet", {}, torch.device("cpu"))}
    forward, step = rows[dtype_name][3:5]
    assert forward.startswith(f"fla ({function}") and step.startswith(f"fla ({function}")


@pytest.mark.parametrize("gated", [False, True], ids=["plain", "gated"])
def test_deltanet_reaches_fla_with_its_layout_and_state(monkeypatch, fresh_fla_imports, gated):
    """On CUDA the delta rule goes to fla's kernel for its variant, with the stream's state
    passed in; the result is what the torch path computes, forward and streamed."""
    torch.manual_seed(0)
    model = build_model("deltanet", 5, 3, d_model=16, n_layers=2, gated=gated, eigen="[-1,1]")
    tokens = torch.randint(0, 5, (2, 11))
    want = model(tokens)
    calls: list = []
    plain_fn, gated_fn = _fake_fla_delta_rule(calls)
    _fake_package(monkeypatch, "fla.ops.delta_rule", chunk_delta_rule=plain_fn)
    _fake_package(monkeypatch, "fla.ops.gated_delta_rule", chunk_gated_delta_rule=gated_fn)
    monkeypatch.setattr(delta_rule, "delta_rule_kernel", lambda device: "fla")
    assert model.blocks[0].mixer.kernel_name(torch.device("cuda")) == "fla"
    torch.testing.assert_close(model(tokens), want)
    state, outs = model.init_state(2), []
    for start in (0, 6):
        out, state = model.step(tokens[:, start : start + 6], state)
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs, dim=1), want, rtol=1e-5, atol=1e-5)
    kind = "gated"  # in float32 the plain rule runs the gated kernel with g = 0 (fla_function)
    assert calls == [(kind, False, True)] * 2 + [(kind, True, True)] * 4

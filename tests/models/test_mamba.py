"""The mamba adapter and its kernels: the selective scan against a plain loop, the mixer against
transformers' MambaMixer with the same weights, streaming against forward, the negative-eigenvalue
variant, option validation, and (on CUDA with mamba_ssm) fused against reference."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from statebench.models import build_model
from statebench.models.mamba import MambaMixer
from statebench.models.ops import causal_conv, selective_scan
from statebench.models.ops.causal_conv import causal_conv1d, causal_conv1d_torch
from statebench.models.ops.scan import linear_scan, linear_scan_naive
from statebench.models.ops.selective_scan import (
    selective_scan_naive,
    selective_scan_torch,
    transition,
)
from torch.nn import functional as F

EIGENS = ["[0,1]", "[-1,1]"]
HAS_MAMBA_SSM = importlib.util.find_spec("mamba_ssm") is not None


def scan_inputs(batch=2, dim=3, n=4, length=9, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g, dtype=dtype)

    return dict(
        u=r(batch, dim, length),
        delta=r(batch, dim, length),
        A=-torch.rand(dim, n, generator=g, dtype=dtype) * 3,
        B=r(batch, n, length),
        C=r(batch, n, length),
        D=r(dim),
        z=r(batch, dim, length),
        delta_bias=r(dim),
        h0=r(batch, dim, n),
    )


# --- kernels --------------------------------------------------------------------------------


def segments_of(monkeypatch, steps: int | None) -> None:
    """Make the scan work through time `steps` at a time (None: its default, one segment here)."""
    if steps is not None:
        monkeypatch.setattr(selective_scan, "SEGMENT_ELEMENTS", 1)
        monkeypatch.setattr(selective_scan, "MIN_SEGMENT", steps)


@pytest.mark.parametrize("eigen", EIGENS)
@pytest.mark.parametrize("length", [1, 9, 40])
@pytest.mark.parametrize("with_h0", [False, True])
@pytest.mark.parametrize("segment", [None, 1, 4])
def test_selective_scan_torch_matches_naive(eigen, length, with_h0, segment, monkeypatch):
    segments_of(monkeypatch, segment)
    inputs = scan_inputs(length=length, seed=length)
    if not with_h0:
        inputs["h0"] = None
    leaves = {k: v.requires_grad_() for k, v in inputs.items() if v is not None}
    out, last = selective_scan_torch(
        **{k: v for k, v in inputs.items() if k != "h0"},
        delta_softplus=True,
        eigen=eigen,
        return_last_state=True,
        h0=inputs["h0"],
    )
    want_out, want_last = selective_scan_naive(
        **{k: v for k, v in inputs.items() if k != "h0"},
        delta_softplus=True,
        eigen=eigen,
        return_last_state=True,
        h0=inputs["h0"],
    )
    torch.testing.assert_close(out, want_out)
    torch.testing.assert_close(last, want_last)

    w1 = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=out.dtype)
    w2 = torch.randn(last.shape, generator=torch.Generator().manual_seed(2), dtype=out.dtype)
    grads = torch.autograd.grad((out * w1).sum() + (last * w2).sum(), list(leaves.values()))
    want = torch.autograd.grad(
        (want_out * w1).sum() + (want_last * w2).sum(), list(leaves.values())
    )
    for name, got, exp in zip(leaves, grads, want, strict=True):
        torch.testing.assert_close(got, exp, msg=lambda m, name=name: f"grad {name}: {m}")


@pytest.mark.parametrize("layout", ["time-invariant", "grouped"])
@pytest.mark.parametrize("segment", [None, 3])
def test_selective_scan_torch_other_bc_layouts(layout, segment, monkeypatch):
    """B and C as mamba_ssm also takes them: [D, N] constants, or [B, G, N, L] per group."""
    segments_of(monkeypatch, segment)
    x = scan_inputs(dim=4, length=7)
    batch, dim, length = x["u"].shape
    n = x["A"].shape[1]
    if layout == "time-invariant":
        B, C = x["B"][0, :, :dim].T, x["C"][0, :, :dim].T  # [D, N]: one row per channel
    else:  # two groups of two channels
        B = torch.stack([x["B"], -x["B"]], dim=1)
        C = torch.stack([x["C"], 2 * x["C"]], dim=1)
    leaves = [t.detach().requires_grad_() for t in (x["u"], x["delta"], x["A"], B, C)]
    u, delta, A, B, C = leaves
    if layout == "time-invariant":
        B_full = B[None, :, :, None].expand(batch, dim, n, length)
        C_full = C[None, :, :, None].expand(batch, dim, n, length)
    else:
        B_full, C_full = B.repeat_interleave(2, dim=1), C.repeat_interleave(2, dim=1)
    out = selective_scan_torch(u, delta, A, B, C, x["D"], delta_softplus=True)
    per_channel = [
        selective_scan_naive(
            u[:, d : d + 1],
            delta[:, d : d + 1],
            A[d : d + 1],
            B_full[:, d],
            C_full[:, d],
            delta_softplus=True,
        )
        for d in range(dim)
    ]
    want = torch.cat(per_channel, dim=1) + x["D"][:, None] * u
    torch.testing.assert_close(out, want)
    w = torch.randn(out.shape, generator=torch.Generator().manual_seed(3), dtype=out.dtype)
    grads = torch.autograd.grad((out * w).sum(), leaves)
    for got, exp in zip(grads, torch.autograd.grad((want * w).sum(), leaves), strict=True):
        torch.testing.assert_close(got, exp)


@pytest.mark.parametrize("length", [1, 2, 5, 16, 37])
@pytest.mark.parametrize("chunk", [None, 1, 3, 8, 64])
@pytest.mark.parametrize("signed", [False, True])
def test_chunked_scan_matches_loop_values_and_grads(length, chunk, signed):
    g = torch.Generator().manual_seed(length)
    a = torch.rand(2, length, 3, 2, generator=g, dtype=torch.float64)
    a = 2 * a - 1 if signed else a
    b = torch.randn(2, length, 3, 2, generator=g, dtype=torch.float64)
    h0 = torch.randn(2, 3, 2, generator=g, dtype=torch.float64)
    leaves = [x.requires_grad_() for x in (a, b, h0)]
    w = torch.randn(2, length, 3, 2, generator=g, dtype=torch.float64)
    h = linear_scan(a, b, h0, chunk=chunk)
    h_ref = linear_scan_naive(a, b, h0)
    torch.testing.assert_close(h, h_ref, rtol=1e-10, atol=1e-10)
    grads = torch.autograd.grad((h * w).sum(), leaves)
    for got, want in zip(grads, torch.autograd.grad((h_ref * w).sum(), leaves), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_chunked_scan_gradcheck_without_h0():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 11, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 11, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: linear_scan(a, b, chunk=4), (a, b))


def test_selective_scan_keeps_fp32_inside_low_precision_io():
    x = scan_inputs(dtype=torch.float32, length=64)
    low = {k: v.bfloat16() if k in ("u", "delta", "B", "C", "z") else v for k, v in x.items()}
    out, last = selective_scan_torch(**low, delta_softplus=True, return_last_state=True)
    assert out.dtype == torch.bfloat16 and last.dtype == torch.float32
    want = selective_scan_torch(**{k: v.float() for k, v in low.items()}, delta_softplus=True)
    torch.testing.assert_close(out.float(), want, rtol=1e-2, atol=1e-2)  # only the final cast


def test_causal_conv_ref_is_causal_depthwise_conv():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 8, generator=g, dtype=torch.float64)
    w = torch.randn(3, 4, generator=g, dtype=torch.float64)
    bias = torch.randn(3, generator=g, dtype=torch.float64)
    out = causal_conv1d_torch(x, w, bias, activation="silu")
    padded = F.pad(x, (3, 0))
    want = torch.stack(
        [bias[None, :] + (padded[:, :, t : t + 4] * w).sum(-1) for t in range(8)], dim=2
    )
    torch.testing.assert_close(out, F.silu(want))
    assert torch.equal(causal_conv1d(x, w, bias, "silu"), out)  # CPU: the reference
    with pytest.raises(ValueError, match="activation='relu' is not one of"):
        causal_conv1d_torch(x, w, bias, activation="relu")


# --- the mixer ------------------------------------------------------------------------------


def test_matches_transformers_mamba_mixer():
    """Same weights, same outputs and input gradients as transformers' own torch implementation."""
    transformers = pytest.importorskip("transformers")
    if HAS_MAMBA_SSM:
        pytest.skip("transformers would route its CPU MambaMixer through mamba_ssm's CUDA kernel")
    from transformers.models.mamba.modeling_mamba import MambaMixer as HFMambaMixer

    config = transformers.MambaConfig(
        hidden_size=32,
        state_size=8,
        expand=2,
        conv_kernel=4,
        num_hidden_layers=1,
        use_mambapy=False,
        use_associative_scan=False,
    )
    torch.manual_seed(0)
    theirs = HFMambaMixer(config, layer_idx=0).eval()
    with torch.no_grad():  # move A, D and dt away from their structured init
        theirs.A_log.add_(0.3 * torch.randn_like(theirs.A_log))
        theirs.D.add_(torch.randn_like(theirs.D))
        theirs.dt_proj.bias.add_(torch.randn_like(theirs.dt_proj.bias))
    ours = MambaMixer(32, d_state=8, expand=2, d_conv=4)
    ours.load_state_dict(theirs.state_dict())  # strict: the parameter names and shapes agree

    x = torch.randn(2, 37, 32)
    outs, grads = [], []
    for mixer in (ours, theirs):
        xi = x.clone().requires_grad_()
        y = mixer(xi)
        (grad,) = torch.autograd.grad((y * torch.cos(y)).sum(), xi)
        outs.append(y)
        grads.append(grad)
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("eigen", EIGENS)
@pytest.mark.parametrize("chunks", [[1] * 5, [3, 1, 7], [11]])
@pytest.mark.parametrize("segment", [None, 2])
def test_step_in_chunks_equals_forward(eigen, chunks, segment, monkeypatch):
    segments_of(monkeypatch, segment)
    torch.manual_seed(0)
    mixer = MambaMixer(16, d_state=4, eigen=eigen)
    x = torch.randn(2, sum(chunks), 16)
    state = mixer.init_state(2, x.device, x.dtype)
    assert state[1] is None  # no SSM state before the first chunk: it may run fused
    outs, start = [], 0
    for n in chunks:
        y, state = mixer.step(x[:, start : start + n], state)
        outs.append(y)
        start += n
    torch.testing.assert_close(torch.cat(outs, dim=1), mixer(x), rtol=1e-5, atol=1e-6)
    conv_window, ssm = state
    assert conv_window[0].numel() + ssm[0].numel() == mixer.state_size(sum(chunks))
    assert conv_window.shape == (2, mixer.d_inner, mixer.d_conv - 1)
    assert ssm.shape == (2, mixer.d_inner, mixer.d_state) and ssm.dtype == torch.float32


def test_bf16_mixer_keeps_an_fp32_state():
    torch.manual_seed(0)
    mixer = MambaMixer(16, d_state=4)
    x = torch.randn(2, 9, 16)
    want = mixer(x)
    low = mixer.to(torch.bfloat16)
    y = low(x.bfloat16())
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), want, rtol=0.05, atol=0.05)
    state = low.init_state(2, x.device, torch.bfloat16)
    y_step, (window, ssm) = low.step(x[:, :4].bfloat16(), state)
    assert window.dtype == torch.bfloat16 and ssm.dtype == torch.float32
    torch.testing.assert_close(y_step, y[:, :4])


def test_negative_eigen_transition_spans_minus_one_to_one():
    """The "[-1,1]" transition 2*exp(delta*A) - 1 goes negative; "[0,1]" never does."""
    # One channel, B = C = 1, a huge step: exp(delta*A) ~ 0, so the transition is ~0 or ~-1.
    u = torch.tensor([[[1.0, 0.0, 0.0, 0.0, 0.0]]])
    delta = torch.full_like(u, 50.0)
    A, B, C = -torch.ones(1, 1), torch.ones(1, 1, 5) / 50, torch.ones(1, 1, 5)
    flips = selective_scan_torch(u, delta, A, B, C, eigen="[-1,1]")
    decays = selective_scan_torch(u, delta, A, B, C, eigen="[0,1]")
    torch.testing.assert_close(flips, torch.tensor([[[1.0, -1.0, 1.0, -1.0, 1.0]]]))
    torch.testing.assert_close(decays, torch.tensor([[[1.0, 0.0, 0.0, 0.0, 0.0]]]))

    # With the paper's init (steps in [1e-3, 0.1], A = -1..-16) the variant already starts with
    # both signs; any step keeps it inside [-1, 1], and "[0,1]" inside [0, 1].
    mixer = MambaMixer(64, eigen="[-1,1]")
    A = -torch.exp(mixer.A_log.detach())
    a = transition(F.softplus(mixer.dt_proj.bias.detach())[:, None], A, "[-1,1]")
    assert a.min() < 0 < a.max()
    steps = torch.logspace(-4, 3, 50)[:, None, None]
    signed, plain = transition(steps, A, "[-1,1]"), transition(steps, A, "[0,1]")
    assert signed.min() == -1 and signed.max() <= 1 and signed.min() < -0.99
    assert plain.min() >= 0 and plain.max() <= 1
    torch.testing.assert_close(signed, 2 * plain - 1)


@pytest.mark.parametrize(
    "options, words",
    [
        ({"eigen": "[-2,2]"}, ["eigen='[-2,2]'", "[0,1]", "[-1,1]"]),
        ({"d_state": 0}, ["d_state=0", "integer >= 1"]),
        ({"d_conv": 2.5}, ["d_conv=2.5", "integer >= 1"]),
        ({"dt_rank": "full"}, ["dt_rank='full'", "'auto'"]),
        ({"expand": 0}, ["expand=0"]),
        ({"dt_min": 0.5, "dt_max": 0.1}, ["dt_min <= dt_max"]),
    ],
)
def test_bad_options_are_rejected_with_what_is_allowed(options, words):
    with pytest.raises(ValueError) as info:
        build_model("mamba", 5, 3, d_model=16, n_layers=1, **options)
    for word in words:
        assert word in str(info.value)


def test_block_shape_and_sizes():
    mixer = MambaMixer(40, d_state=8, d_conv=3, expand=1.5)
    assert (mixer.d_inner, mixer.dt_rank) == (60, 3)  # dt_rank "auto" = ceil(40 / 16)
    assert mixer.state_size(1) == mixer.state_size(10**6) == 60 * (2 + 8)
    model = build_model("mamba", 5, 3, d_model=16, n_layers=2)
    assert all(b.mlp is None for b in model.blocks)  # Mamba's block gates itself: no MLP
    assert model.kernel == "ref"
    # The paper's init: softplus(dt bias) in [dt_min, dt_max], A = -(1..N) per channel, D = 1.
    dt = F.softplus(mixer.dt_proj.bias)
    assert dt.min() >= 1e-3 * (1 - 1e-5) and dt.max() <= 0.1 * (1 + 1e-5)
    torch.testing.assert_close(-torch.exp(mixer.A_log[5]), -torch.arange(1.0, 9.0))
    assert torch.equal(mixer.D, torch.ones(60))


def test_kernel_name_follows_what_would_run(monkeypatch):
    """Fused only on CUDA, only with mamba_ssm, only for eigen "[0,1]"; never on CPU tensors."""
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    plain, signed = MambaMixer(16), MambaMixer(16, eigen="[-1,1]")
    monkeypatch.setattr(selective_scan, "_fused_selective_scan", None)
    assert plain.kernel_name(cuda) == "ref"
    calls = []
    monkeypatch.setattr(selective_scan, "_fused_selective_scan", lambda *a: calls.append(a))
    monkeypatch.setattr(causal_conv, "_fused_causal_conv1d", lambda *a, **k: calls.append(a))
    assert plain.kernel_name(cuda) == "mamba_ssm"
    assert signed.kernel_name(cuda) == "ref" and plain.kernel_name(cpu) == "ref"
    plain(torch.randn(1, 5, 16))
    assert calls == []  # CPU tensors: the references ran


# --- fused kernels (CUDA with mamba_ssm only) ------------------------------------------------

needs_fused = pytest.mark.skipif(
    not torch.cuda.is_available() or selective_scan._fused_selective_scan is None,
    reason="needs CUDA and mamba_ssm",
)


def _rel(x: torch.Tensor, ref: torch.Tensor) -> float:
    return ((x.float() - ref).norm() / ref.norm()).item()


@pytest.mark.gpu
@needs_fused
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_selective_scan_matches_reference(dtype):
    """Outputs, final state and gradients; in bf16, the fused error is at most ~2x the
    reference's own bf16 error, both measured against the fp32 reference."""
    x = scan_inputs(batch=2, dim=64, n=16, length=300, dtype=torch.float32)
    x = {k: v.cuda() for k, v in x.items() if k != "h0"}
    w = torch.randn(2, 64, 300, device="cuda")

    def run(fn, cast):
        leaves = {
            k: (v.to(cast) if k in ("u", "delta", "B", "C", "z") else v).detach().requires_grad_()
            for k, v in x.items()
        }
        out, last = fn(**leaves, delta_softplus=True, return_last_state=True)
        grads = torch.autograd.grad((out.float() * w).sum(), list(leaves.values()))
        return [out, last, *grads]

    ref32 = run(selective_scan_torch, torch.float32)
    fused = run(selective_scan.selective_scan, dtype)
    if dtype == torch.float32:  # outputs and state tight; gradients sum in another order
        for i, (got, want) in enumerate(zip(fused, ref32, strict=True)):
            assert _rel(got, want.float()) < (1e-4 if i < 2 else 5e-4)
    else:
        ref_low = run(selective_scan_torch, dtype)
        for got, own, want in zip(fused, ref_low, ref32, strict=True):
            assert _rel(got, want.float()) <= 2 * _rel(own, want.float()) + 1e-3


@pytest.mark.gpu
@pytest.mark.skipif(
    not torch.cuda.is_available() or causal_conv._fused_causal_conv1d is None,
    reason="needs CUDA and causal-conv1d",
)
def test_fused_causal_conv_matches_reference():
    x = torch.randn(2, 64, 100, device="cuda", requires_grad=True)
    w = torch.randn(64, 4, device="cuda", requires_grad=True)
    bias = torch.randn(64, device="cuda", requires_grad=True)
    outs = [fn(x, w, bias, "silu") for fn in (causal_conv1d, causal_conv1d_torch)]
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-4, atol=1e-4)
    g = [torch.autograd.grad(o.square().sum(), (x, w, bias)) for o in outs]
    for got, want in zip(*g, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-3)

"""The mamba2 adapter and its SSD kernels: the chunked form against the loop oracle (values and
gradients, both eigenvalue ranges, groups, ragged chunks, a starting state), the mixer against
transformers' Mamba2Mixer with the same weights, streaming against forward, option validation,
the kernel choice, and (on CUDA with mamba_ssm) fused against the chunked form."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from statebench.models import build_model
from statebench.models.mamba2 import Mamba2Mixer
from statebench.models.ops import ssd as ssd_ops
from statebench.models.ops.ssd import ssd_naive, ssd_torch

EIGENS = ["[0,1]", "[-1,1]"]
HAS_MAMBA_SSM = importlib.util.find_spec("mamba_ssm") is not None


def ssd_inputs(batch=2, length=9, heads=4, head_dim=3, groups=2, n=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g, dtype=dtype)

    return dict(
        x=r(batch, length, heads, head_dim),
        dt=r(batch, length, heads),
        A=-torch.rand(heads, generator=g, dtype=dtype) * 3,
        B=r(batch, length, groups, n),
        C=r(batch, length, groups, n),
        D=r(heads),
        dt_bias=r(heads),
        initial_states=r(batch, heads, head_dim, n),
    )


@pytest.mark.parametrize("eigen", EIGENS)
@pytest.mark.parametrize("length, chunk", [(1, 4), (9, 4), (16, 4), (37, 8), (20, 64)])
@pytest.mark.parametrize("with_h0", [False, True])
def test_chunked_ssd_matches_loop(eigen, length, chunk, with_h0):
    inputs = ssd_inputs(length=length, seed=length)
    if not with_h0:
        inputs["initial_states"] = None
    leaves = {k: v.requires_grad_() for k, v in inputs.items() if v is not None}
    x, dt, A, B, C = (inputs[k] for k in ("x", "dt", "A", "B", "C"))
    rest = {k: inputs[k] for k in ("D", "dt_bias", "initial_states")}
    kw = dict(dt_softplus=True, return_final_states=True, eigen=eigen, **rest)
    y, last = ssd_torch(x, dt, A, B, C, chunk, **kw)
    want_y, want_last = ssd_naive(x, dt, A, B, C, chunk, **kw)
    torch.testing.assert_close(y, want_y)
    torch.testing.assert_close(last, want_last)

    g = torch.Generator().manual_seed(1)
    w1 = torch.randn(y.shape, generator=g, dtype=y.dtype)
    w2 = torch.randn(last.shape, generator=g, dtype=y.dtype)
    got = torch.autograd.grad((y * w1).sum() + (last * w2).sum(), list(leaves.values()))
    want = torch.autograd.grad((want_y * w1).sum() + (want_last * w2).sum(), list(leaves.values()))
    for name, a, b in zip(leaves, got, want, strict=True):
        torch.testing.assert_close(a, b, msg=lambda m, name=name: f"grad {name}: {m}")


def test_negative_eigen_flips_the_state_sign():
    """A huge step makes exp(dt*A) ~ 0: the "[-1,1]" decay is then -1 (the state flips sign
    every step), the "[0,1]" decay 0 (the state is forgotten)."""
    x = torch.zeros(1, 6, 1, 1)
    x[0, 0] = 1.0
    dt = torch.full((1, 6, 1), 50.0)
    A, B, C = -torch.ones(1), torch.ones(1, 6, 1, 1) / 50, torch.ones(1, 6, 1, 1)
    for fn in (ssd_torch, ssd_naive):
        flips = fn(x, dt, A, B, C, 4, eigen="[-1,1]").flatten()
        decays = fn(x, dt, A, B, C, 4, eigen="[0,1]").flatten()
        torch.testing.assert_close(flips, torch.tensor([1.0, -1, 1, -1, 1, -1]))
        torch.testing.assert_close(decays, torch.tensor([1.0, 0, 0, 0, 0, 0]))


def test_matches_transformers_mamba2_mixer():
    """Same weights, same outputs and input gradients as transformers' torch Mamba2Mixer."""
    transformers = pytest.importorskip("transformers")
    if HAS_MAMBA_SSM:
        pytest.skip("transformers would route its Mamba2Mixer through mamba_ssm's kernels")
    from transformers.models.mamba2.modeling_mamba2 import Mamba2Mixer as HFMamba2Mixer

    config = transformers.Mamba2Config(
        hidden_size=32,
        state_size=8,
        expand=2,
        conv_kernel=4,
        head_dim=16,
        num_heads=4,
        n_groups=2,
        chunk_size=8,  # 37 steps: several chunks, the last one ragged
        num_hidden_layers=1,
    )
    torch.manual_seed(0)
    theirs = HFMamba2Mixer(config, layer_idx=0).eval()
    with torch.no_grad():  # move A, D, dt and the norm away from their structured init
        for p in (theirs.A_log, theirs.D, theirs.dt_bias, theirs.norm.weight):
            p.add_(0.3 * torch.randn_like(p))
    ours = Mamba2Mixer(32, d_state=8, expand=2, d_conv=4, head_dim=16, n_groups=2, chunk_size=16)
    ours.load_state_dict(theirs.state_dict())  # strict: the parameter names and shapes agree

    x = torch.randn(2, 37, 32)
    outs, grads = [], []
    for mixer in (ours, theirs):
        xi = x.clone().requires_grad_()
        y = mixer(xi)
        (grad,) = torch.autograd.grad((y * torch.cos(y)).sum(), xi)
        outs.append(y)
        grads.append(grad)
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("eigen", EIGENS)
@pytest.mark.parametrize("chunks", [[1] * 5, [3, 1, 7], [11]])
def test_step_in_chunks_equals_forward(eigen, chunks):
    torch.manual_seed(0)
    mixer = Mamba2Mixer(16, d_state=4, head_dim=8, chunk_size=4, eigen=eigen)
    x = torch.randn(2, sum(chunks), 16)
    state = mixer.init_state(2, x.device, x.dtype)
    assert sum(s[0].numel() for s in state) == mixer.state_size(sum(chunks))
    outs, start = [], 0
    for n in chunks:
        y, state = mixer.step(x[:, start : start + n], state)
        outs.append(y)
        start += n
    torch.testing.assert_close(torch.cat(outs, dim=1), mixer(x), rtol=1e-5, atol=1e-6)
    window, ssm = state
    assert window.shape == (2, mixer.conv_dim, mixer.d_conv - 1)
    assert ssm.shape == (2, mixer.n_heads, 8, 4) and ssm.dtype == torch.float32


@pytest.mark.parametrize(
    "options, words",
    [
        ({"eigen": "[-2,2]"}, ["eigen='[-2,2]'", "[0,1]", "[-1,1]"]),
        ({"d_state": 0}, ["d_state=0", "integer >= 1"]),
        ({"head_dim": 12}, ["head_dim=12", "d_inner"]),
        ({"n_groups": 3}, ["n_groups=3", "heads"]),
        ({"chunk_size": 0.5}, ["chunk_size=0.5"]),
        ({"dt_min": 0.5, "dt_max": 0.1}, ["dt_min <= dt_max"]),
    ],
)
def test_bad_options_are_rejected_with_what_is_allowed(options, words):
    with pytest.raises(ValueError) as info:
        build_model("mamba2", 5, 3, d_model=16, n_layers=1, **options)
    for word in words:
        assert word in str(info.value)


def test_block_shape_and_init():
    mixer = Mamba2Mixer(32, d_state=8, head_dim=16, n_groups=2)
    assert (mixer.d_inner, mixer.n_heads, mixer.conv_dim) == (64, 4, 64 + 2 * 2 * 8)
    assert mixer.state_size(1) == mixer.state_size(10**6) == 96 * 3 + 4 * 16 * 8
    torch.testing.assert_close(-torch.exp(mixer.A_log), -torch.arange(1.0, 5.0))
    dt = torch.nn.functional.softplus(mixer.dt_bias)
    assert dt.min() >= 1e-3 * (1 - 1e-5) and dt.max() <= 0.1 * (1 + 1e-5)
    model = build_model("mamba2", 5, 3, d_model=16, n_layers=2)
    assert all(b.mlp is None for b in model.blocks) and model.kernel == "torch"


def test_kernel_name_follows_what_would_run(monkeypatch):
    """Fused only on CUDA, only with mamba_ssm, only for eigen "[0,1]"; never on CPU tensors."""
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    plain, signed = Mamba2Mixer(16, head_dim=8), Mamba2Mixer(16, head_dim=8, eigen="[-1,1]")
    monkeypatch.setattr(ssd_ops, "_fused_ssd", None)
    assert plain.kernel_name(cuda) == "torch"
    calls = []
    monkeypatch.setattr(ssd_ops, "_fused_ssd", lambda *a, **k: calls.append(a))
    assert plain.kernel_name(cuda) == "mamba_ssm"
    assert signed.kernel_name(cuda) == "torch" and plain.kernel_name(cpu) == "torch"
    plain(torch.randn(1, 5, 16))
    assert calls == []  # CPU tensors: the chunked torch form ran


@pytest.mark.gpu
@pytest.mark.skipif(
    not torch.cuda.is_available() or ssd_ops._fused_ssd is None, reason="needs CUDA and mamba_ssm"
)
def test_fused_ssd_matches_torch():
    """Outputs, final state and gradients of mamba_ssm's kernel against the chunked form."""
    x = ssd_inputs(batch=2, length=300, heads=8, head_dim=16, groups=2, n=16, dtype=torch.float32)
    x = {k: v.cuda() for k, v in x.items()}

    def run(fn):
        leaves = {k: v.detach().requires_grad_() for k, v in x.items()}
        args = [leaves[k] for k in ("x", "dt", "A", "B", "C")]
        rest = {k: leaves[k] for k in ("D", "dt_bias", "initial_states")}
        y, last = fn(*args, 64, dt_softplus=True, return_final_states=True, **rest)
        w = torch.ones_like(y)
        return [y, last, *torch.autograd.grad((y * w).sum() + last.sum(), list(leaves.values()))]

    for got, want in zip(run(ssd_ops.ssd_mamba_ssm), run(ssd_torch), strict=True):
        rel = ((got.float() - want).norm() / want.norm()).item()
        assert rel < 1e-3, rel

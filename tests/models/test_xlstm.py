"""The xlstm adapter and its cells: the chunked mLSTM against its loop oracle and transformers'
own mLSTM kernels (values, states, gradients), the mlstm mixer against transformers' xLSTMLayer
with the same weights, the sLSTM cell against the paper's unstabilized equations (and where they
overflow), streaming against forward, and option validation."""

from __future__ import annotations

import pytest
import torch
from statebench.models import build_model
from statebench.models.ops.mlstm import mlstm_naive, mlstm_torch
from statebench.models.ops.slstm import slstm_naive, slstm_torch
from statebench.models.xlstm import XLSTMMixer
from torch.nn import functional as F

CELLS = ["slstm", "mlstm"]


def mlstm_inputs(batch=2, heads=3, length=9, dqk=4, dv=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0, shift=0.0):
        return torch.randn(*shape, generator=g, dtype=dtype) * scale + shift

    return dict(
        q=r(batch, heads, length, dqk),
        k=r(batch, heads, length, dqk),
        v=r(batch, heads, length, dv),
        igate=r(batch, heads, length, scale=3.0),
        fgate=r(batch, heads, length, scale=3.0, shift=2.0),
        c_initial=r(batch, heads, dqk, dv),
        n_initial=r(batch, heads, dqk),
        m_initial=r(batch, heads, 1),
    )


def _grads(out, last, leaves):
    g = torch.Generator().manual_seed(1)
    loss = (out * torch.randn(out.shape, generator=g, dtype=out.dtype)).sum()
    for s in last:
        loss = loss + (s * torch.randn(s.shape, generator=g, dtype=s.dtype)).sum()
    return torch.autograd.grad(loss, leaves)


@pytest.mark.parametrize("length, chunk", [(1, 4), (9, 4), (16, 4), (37, 8), (20, 64)])
@pytest.mark.parametrize("with_state", [False, True])
def test_chunked_mlstm_matches_loop(length, chunk, with_state):
    x = mlstm_inputs(length=length, seed=length)
    if not with_state:
        x.update(c_initial=None, n_initial=None, m_initial=None)
    leaves = [v.requires_grad_() for v in x.values() if v is not None]
    h, last = mlstm_torch(**x, return_last_states=True, chunk_size=chunk)
    want_h, want_last = mlstm_naive(**x, return_last_states=True)
    torch.testing.assert_close(h, want_h)
    for got, want in zip(last, want_last, strict=True):
        torch.testing.assert_close(got, want)
    for got, want in zip(_grads(h, last, leaves), _grads(want_h, want_last, leaves), strict=True):
        torch.testing.assert_close(got, want)


def test_mlstm_matches_transformers_kernels():
    """transformers' own native mLSTM kernels (recurrent and chunkwise) agree with ours."""
    xl = pytest.importorskip("transformers.models.xlstm.modeling_xlstm")
    if not hasattr(xl, "mlstm_recurrent_sequence_native"):
        pytest.skip("transformers routes xLSTM through the external xlstm package here")
    x = mlstm_inputs(length=32, seed=3)
    h, last = mlstm_torch(**x, return_last_states=True, chunk_size=8)
    named = {"query": x.pop("q"), "key": x.pop("k"), "value": x.pop("v"), **x}
    rec_h, rec_last = xl.mlstm_recurrent_sequence_native(
        **named, return_last_states=True, dtype_state=torch.float64
    )
    chunk_h, chunk_last = xl.mlstm_chunkwise_native_autograd(
        **named, return_last_states=True, chunk_size=8
    )
    for want_h, want_last in ((rec_h, rec_last), (chunk_h, chunk_last)):
        torch.testing.assert_close(h, want_h)
        for got, want in zip(last, want_last, strict=True):
            torch.testing.assert_close(got, want)


def test_mlstm_mixer_matches_transformers_xlstm_layer():
    """Same weights, same outputs and input gradients as transformers' xLSTMLayer (xLSTM 7B's
    mLSTM layer), at a length that is not a multiple of either side's chunk size."""
    transformers = pytest.importorskip("transformers")
    xl = pytest.importorskip("transformers.models.xlstm.modeling_xlstm")
    if not hasattr(xl, "xLSTMLayer"):
        pytest.skip("transformers routes xLSTM through the external xlstm package here")
    config = transformers.xLSTMConfig(
        hidden_size=32,
        num_heads=4,
        qk_dim_factor=0.5,
        v_dim_factor=1.0,
        weight_mode="single",
        use_bias=False,
        chunk_size=16,
        mode="inference",
        inference_state_dtype="float32",
    )
    torch.manual_seed(0)
    theirs = xl.xLSTMLayer(config).eval()
    with torch.no_grad():  # their module init is generic: give every gate a real input
        for p in theirs.parameters():
            p.copy_(0.3 * torch.randn_like(p))
        theirs.fgate_preact.bias.add_(3.0)
    ours = XLSTMMixer(32, cell="mlstm", n_heads=4, chunk_size=8)
    ours.load_state_dict(theirs.state_dict())  # strict: the parameter names and shapes agree

    x = torch.randn(2, 37, 32)
    outs, grads = [], []
    for mixer in (ours, lambda xi: theirs(xi)[0]):
        xi = x.clone().requires_grad_()
        y = mixer(xi)
        (grad,) = torch.autograd.grad((y * torch.cos(y)).sum(), xi)
        outs.append(y)
        grads.append(grad)
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-4)


def slstm_paper(pre, R):
    """The paper's sLSTM equations without the stabilizer, in fp64, one step at a time."""
    batch, length, heads, four_dh = pre.shape
    dh = four_dh // 4
    h = c = n = torch.zeros(batch, heads, dh, dtype=torch.float64)
    outs = []
    for t in range(length):
        gates = pre[:, t].double() + torch.einsum("bhd,hde->bhe", h, R.double())
        i, f, z, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.exp(i) * torch.tanh(z)
        n = torch.sigmoid(f) * n + torch.exp(i)
        h = torch.sigmoid(o) * c / n
        outs.append(h)
    return torch.stack(outs, dim=1)


@pytest.mark.parametrize("scale", [1.0, 60.0])
def test_slstm_matches_the_paper_equations(scale):
    """Stabilized fp32 == unstabilized fp64. At scale 60 the input gates reach exp(~200), which
    overflows fp32 without the stabilizer (checked), but not with it."""
    g = torch.Generator().manual_seed(0)
    batch, length, heads, dh = 2, 23, 3, 4
    pre = torch.randn(batch, length, heads, 4 * dh, generator=g)
    pre[..., :dh] *= scale  # the input gate pre-activations
    R = torch.randn(heads, dh, 4 * dh, generator=g) * 0.3
    h, (h_last, c, n, m) = slstm_torch(pre, R)
    want = slstm_paper(pre, R)
    torch.testing.assert_close(h.double(), want, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(h_last, h[:, -1])
    assert torch.isfinite(c).all() and torch.isfinite(n).all() and (n > 0).all()
    if scale > 1:
        assert not torch.isfinite(torch.exp(pre[..., :dh])).all()


def test_slstm_gradients_match_the_paper_equations():
    g = torch.Generator().manual_seed(1)
    pre = torch.randn(2, 9, 2, 12, generator=g, dtype=torch.float64, requires_grad=True)
    R = (torch.randn(2, 3, 12, generator=g, dtype=torch.float64) * 0.3).requires_grad_()
    w = torch.randn(2, 9, 2, 3, generator=g, dtype=torch.float64)
    got = torch.autograd.grad((slstm_torch(pre, R)[0] * w).sum(), (pre, R))
    want = torch.autograd.grad((slstm_paper(pre, R) * w).sum(), (pre, R))
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)


def test_slstm_backward_matches_autograd_from_a_state():
    """The hand-written backward against autograd through the same loop: gradients of the
    outputs and of the last c, n, for the inputs, R and the starting h, c, n."""
    g = torch.Generator().manual_seed(2)
    pre = torch.randn(2, 11, 3, 16, generator=g, dtype=torch.float64, requires_grad=True)
    R = (torch.randn(3, 4, 16, generator=g, dtype=torch.float64) * 0.3).requires_grad_()
    h, c, n, m = (torch.randn(2, 3, 4, generator=g, dtype=torch.float64) for _ in range(4))
    n = n.abs() + 0.5
    state = [h.requires_grad_(), c.requires_grad_(), n.requires_grad_(), m]
    leaves = [pre, R, *state[:3]]
    w = [torch.randn(2, 11, 3, 4, generator=g, dtype=torch.float64)]
    w += [torch.randn(2, 3, 4, generator=g, dtype=torch.float64) for _ in range(2)]
    grads = []
    for fn in (slstm_torch, slstm_naive):
        out, (_, c_last, n_last, _) = fn(pre, R, state)
        loss = (out * w[0]).sum() + (c_last * w[1]).sum() + (n_last * w[2]).sum()
        grads.append(torch.autograd.grad(loss, leaves))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("chunks", [[1] * 5, [3, 1, 7], [11]])
def test_step_in_chunks_equals_forward(cell, chunks):
    torch.manual_seed(0)
    mixer = XLSTMMixer(16, cell=cell, n_heads=2, chunk_size=4)
    with torch.no_grad():  # open the gates so that the state matters
        for p in mixer.parameters():
            p.add_(0.2 * torch.randn_like(p))
    x = torch.randn(2, sum(chunks), 16)
    state = mixer.init_state(2, x.device, x.dtype)
    assert sum(s[0].numel() for s in state) == mixer.state_size(sum(chunks))
    outs, start = [], 0
    for n in chunks:
        y, state = mixer.step(x[:, start : start + n], state)
        outs.append(y)
        start += n
    torch.testing.assert_close(torch.cat(outs, dim=1), mixer(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "options, words",
    [
        ({"cell": "gru"}, ["cell='gru'", "slstm", "mlstm"]),
        ({"n_heads": 3}, ["n_heads=3", "must divide"]),
        ({"n_heads": 0}, ["n_heads=0", "integer >= 1"]),
        ({"chunk_size": 0}, ["chunk_size=0"]),
        ({"gate_soft_cap": -1.0}, ["gate_soft_cap=-1.0", "> 0"]),
    ],
)
def test_bad_options_are_rejected_with_what_is_allowed(options, words):
    with pytest.raises(ValueError) as info:
        build_model("xlstm", 5, 3, d_model=16, n_layers=1, **options)
    for word in words:
        assert word in str(info.value)


def test_block_shapes_and_init():
    m = XLSTMMixer(32, cell="mlstm", n_heads=4)
    assert m.state_size(1) == m.state_size(10**6) == 4 * (4 * (8 + 1) + 1)
    assert torch.all(m.igate_preact.bias == -10) and m.fgate_preact.bias.min() == 3
    s = XLSTMMixer(32, cell="slstm", n_heads=4)
    assert s.state_size(1) == s.state_size(10**6) == 32 * 3 + 4 * 32
    assert s.recurrent.shape == (4, 8, 32)
    assert F.logsigmoid(s.if_proj.bias[32:]).min() > -0.05  # forget gates start open
    model = build_model("xlstm", 5, 3, d_model=16, n_layers=2, cell="slstm")
    assert all(b.mlp is not None for b in model.blocks) and model.kernel == "torch"

"""The blocked linear scan and its hand-written backward against the plain loop."""

import pytest
import torch
from statebench.models.ops.scan import linear_scan, linear_scan_naive


@pytest.mark.parametrize("t", [1, 2, 7, 64, 129])
@pytest.mark.parametrize("with_h0", [False, True])
@pytest.mark.parametrize("signed", [False, True])
def test_scan_matches_loop_values_and_grads(t, with_h0, signed):
    g = torch.Generator().manual_seed(t)
    shape = (3, t, 4, 2)
    a = torch.rand(shape, generator=g, dtype=torch.float64)
    if signed:  # negative eigenvalues (Grazzi et al.): a in [-1, 1]
        a = 2 * a - 1
    b = torch.randn(shape, generator=g, dtype=torch.float64)
    h0 = torch.randn(3, 4, 2, generator=g, dtype=torch.float64) if with_h0 else None
    leaves = [x.requires_grad_() for x in (a, b) + ((h0,) if with_h0 else ())]

    def run(fn):
        h = fn(a, b, h0)
        w = torch.randn(h.shape, generator=torch.Generator().manual_seed(0), dtype=h.dtype)
        grads = torch.autograd.grad((h * w).sum(), leaves)
        return h, grads

    h, grads = run(linear_scan)
    h_ref, grads_ref = run(linear_scan_naive)
    torch.testing.assert_close(h, h_ref, rtol=1e-10, atol=1e-10)
    for got, want in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_scan_gradcheck():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 9, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 9, 3, generator=g, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(linear_scan, (a, b, h0))


def test_scan_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="differ"):
        linear_scan(torch.ones(1, 3, 2), torch.ones(1, 3, 3))


def test_the_scan_under_vmap_is_each_member_alone_bit_for_bit():
    """Several cells trained as one model (bench.run.batched) vmap the scan over the members:
    the vmapped dimension joins the batch, so every member's states and gradients are what the
    member alone computes; a shared (unbatched) h0 is broadcast to every member."""
    from torch.func import vmap

    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 2, 17, 5, generator=g).requires_grad_()
    b = torch.randn(3, 2, 17, 5, generator=g).requires_grad_()
    h0 = torch.randn(2, 5, generator=g)
    h = vmap(linear_scan, in_dims=(0, 0, None))(a, b, h0)
    h.square().sum().backward()
    for i in range(3):
        ai, bi = a[i].detach().requires_grad_(), b[i].detach().requires_grad_()
        alone = linear_scan(ai, bi, h0)
        alone.square().sum().backward()
        assert torch.equal(alone, h[i])
        assert torch.equal(ai.grad, a.grad[i]) and torch.equal(bi.grad, b.grad[i])

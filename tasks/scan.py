"""Prefix products in a finite monoid given by its Cayley table, in log depth (no loop over time).

Group and monoid tasks (permutation, modular_arithmetic) reduce to: given elements x_0..x_{T-1},
return s_t = x_t * x_{t-1} * ... * x_0 for every t (later elements on the left, i.e. applied
after). Elements are integer ids and `table[a, b]` is the id of a * b. A Hillis-Steele scan does
it in ceil(log2 T) table lookups over the whole batch at once, on any device.
"""

from __future__ import annotations

import torch


def prefix_products(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Inclusive prefix products along dim 1 of int64 ids x [B, T]: s_t = x_t * ... * x_0."""
    n = table.shape[0]
    if n * n >= 2**31:
        raise ValueError(f"a Cayley table of {n} elements is too large for int32 lookups")
    b, t = x.shape
    flat = table.reshape(-1).to(device=x.device, dtype=torch.int32)
    # Work on the flattened batch in int32 with preallocated buffers: fresh large tensors (page
    # faults) cost more than the arithmetic. Shifting the flat array by d mixes rows at each
    # row's first d positions; those are restored from the previous step right after.
    s = x.to(torch.int32).reshape(-1)
    new, idx = torch.empty_like(s), torch.empty_like(s)
    d = 1
    while d < t:
        # s[i] holds the product over (i-d, i]; combine with s[i-d], the product over [0, i-d].
        k = s.numel() - d
        torch.mul(s[d:], n, out=idx[:k])
        idx[:k].add_(s[:k])
        torch.index_select(flat, 0, idx[:k], out=new[d:])
        new.view(b, t)[:, :d] = s.view(b, t)[:, :d]
        s, new = new, s
        d *= 2
    return s.view(b, t).to(torch.int64)

"""The log-depth monoid scan and the group tables it runs on."""

from __future__ import annotations

import itertools

import pytest
import torch
from statebench.tasks.groups import GROUPS, cayley_table, group_order, is_even, permutation_elements
from statebench.tasks.modular_arithmetic import _monoid
from statebench.tasks.scan import prefix_products


def sequential_products(x, table):
    out = x.clone()
    for t in range(1, x.shape[1]):
        out[:, t] = table[x[:, t], out[:, t - 1]]
    return out


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("length", [1, 2, 3, 7, 8, 9, 100])
def test_scan_matches_a_sequential_fold(group, length):
    table = cayley_table(group)
    x = torch.randint(
        0, table.shape[0], (5, length), generator=torch.Generator().manual_seed(length)
    )
    assert torch.equal(prefix_products(x, table), sequential_products(x, table))


def test_scan_on_the_non_commutative_arithmetic_monoid():
    _, table, _ = _monoid()
    assert not torch.equal(table, table.t())  # order matters: a real test of the left/right order
    x = torch.randint(0, table.shape[0], (3, 77), generator=torch.Generator().manual_seed(0))
    assert torch.equal(prefix_products(x, table), sequential_products(x, table))


@pytest.mark.parametrize("group,order", [("S5", 120), ("A5", 60), ("S3", 6), ("Z60", 60)])
def test_group_tables_are_groups(group, order):
    table = cayley_table(group)
    assert group_order(group) == order and table.shape == (order, order)
    ids = torch.arange(order)
    assert torch.equal(table[0], ids) and torch.equal(table[:, 0], ids)  # id 0 is the identity
    for row in table:  # Latin square: every product is an element, each once per row
        assert torch.equal(row.sort().values, ids)
    a, b, c = (
        torch.randint(0, order, (500,), generator=torch.Generator().manual_seed(s))
        for s in (1, 2, 3)
    )
    assert torch.equal(table[table[a, b], c], table[a, table[b, c]])  # associative


def test_enumeration_is_the_documented_one():
    assert permutation_elements("S5") == tuple(itertools.permutations(range(5)))
    assert permutation_elements("A5") == tuple(
        p for p in itertools.permutations(range(5)) if is_even(p)
    )
    assert all(is_even(p) for p in permutation_elements("A5"))
    # (a . b)(i) = a[b[i]]: S3 ids 1 = (0,2,1), 2 = (1,0,2); 2 . 1 = (1,2,0) = id 3.
    assert cayley_table("S3")[2, 1] == 3 and cayley_table("S3")[1, 2] == 4
    assert cayley_table("Z60")[59, 2] == 1

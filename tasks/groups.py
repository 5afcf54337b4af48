"""The finite groups of the permutation task: a fixed enumeration of elements and a Cayley table.

Element ids (documented, stable):
- S_n: index of the permutation tuple in `itertools.permutations(range(n))` (lexicographic);
  id 0 is the identity. A tuple p maps i -> p[i].
- A5: the even permutations of S5, in that same order (id 0 is the identity).
- Z60: the integers 0..59 under addition mod 60 (id 0 is the identity).

Composition: `table[a, b]` is the id of a . b, "apply b, then a": (a . b)(i) = a[b[i]].
"""

from __future__ import annotations

import itertools
from functools import cache

import torch

GROUPS = ("S5", "A5", "S3", "Z60")


def is_even(p: tuple[int, ...]) -> bool:
    inversions = sum(p[i] > p[j] for i in range(len(p)) for j in range(i + 1, len(p)))
    return inversions % 2 == 0


def compose(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """a . b: apply b first, then a."""
    return tuple(a[b[i]] for i in range(len(b)))


@cache
def permutation_elements(group: str) -> tuple[tuple[int, ...], ...]:
    """The elements of a permutation group, in id order."""
    if group == "S3":
        return tuple(itertools.permutations(range(3)))
    if group == "S5":
        return tuple(itertools.permutations(range(5)))
    if group == "A5":
        return tuple(p for p in itertools.permutations(range(5)) if is_even(p))
    raise ValueError(f"{group!r} is not a permutation group here; choose one of S5, A5, S3")


def group_order(group: str) -> int:
    return 60 if group == "Z60" else len(permutation_elements(group))


@cache
def cayley_table(group: str) -> torch.Tensor:
    """int64 [G, G]: table[a, b] = id(a . b). Built once per process and group."""
    if group == "Z60":
        ids = torch.arange(60)
        return (ids[:, None] + ids[None, :]) % 60
    elements = permutation_elements(group)
    index = {p: i for i, p in enumerate(elements)}
    return torch.tensor([[index[compose(a, b)] for b in elements] for a in elements])

"""Permutation composition (word problems of groups): the running product of group elements."""

from __future__ import annotations

import torch
from statebench.tasks.base import Batch, Task
from statebench.tasks.groups import GROUPS, cayley_table, compose, group_order, permutation_elements
from statebench.tasks.registry import register_task
from statebench.tasks.scan import prefix_products


@register_task("permutation")
class Permutation(Task):
    """Element ids of a group in, the prefix product out (option group: S5, A5, S3 or Z60).

    The word problem of S5 and A5 (non-solvable) is NC1-complete: unless TC0 = NC1, no
    fixed-depth Transformer or diagonal linear SSM (both in TC0) tracks it at every length.
    S3 (solvable, non-abelian) and Z60 (abelian, the order of A5) are the controls. Element ids
    and the Cayley table follow `tasks.groups` (lexicographic permutation tuples; A5 = the even
    ones in that order; Z60 = integers).

    Composition order: state_t = x_t . state_{t-1}, i.e. x_t is applied after the state so far
    ((a . b)(i) = a[b[i]]), with state_{-1} the identity. Inputs are uniform over the group, so
    every prefix product is uniform: chance is exactly 1/|G|.
    """

    description = "group element ids; target is the running product (S5/A5: NC1-complete)"
    family = "group"
    display_order = 40

    def __init__(self, group: str = "S5", readout: str | None = None) -> None:
        super().__init__(readout)
        if group not in GROUPS:
            raise self._error(f"group={group!r} is not allowed; choose one of {', '.join(GROUPS)}")
        self.group = group
        self.vocab_size = group_order(group)
        self.num_classes = self.vocab_size
        self._table = cayley_table(group)

    def _sample(self, batch_size, length, generator, device) -> Batch:
        n = self.num_classes  # the group order (vocab_size grows by the query token)
        x = torch.randint(0, n, (batch_size, length), generator=generator, device=device)
        y = prefix_products(x, self._table)
        return Batch(x, y, torch.ones_like(x, dtype=torch.bool))

    def continue_targets(self, prefix, carry):
        """p_t . c, read from the Cayley table (table[a, b] = a . b)."""
        size = self._table.shape[0]
        flat = self._table.reshape(-1).to(prefix.device)
        return flat[prefix * size + carry[:, None]]

    def _reference(self, tokens):
        if self.group == "Z60":
            out, total = [], 0
            for t in tokens:
                total = (total + t) % 60
                out.append(total)
            return out
        elements = permutation_elements(self.group)
        index = {p: i for i, p in enumerate(elements)}
        state = tuple(range(len(elements[0])))
        out = []
        for t in tokens:
            state = compose(elements[t], state)
            out.append(index[state])
        return out

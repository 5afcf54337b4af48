"""Multi-query associative recall (Arora et al. 2023, Zoology): recall values bound to keys."""

from __future__ import annotations

import torch
from statebench.tasks.base import Batch, Task
from statebench.tasks.registry import register_task


@register_task("mqar")
class MQAR(Task):
    """Key/value pairs, then queries: at each query, the value bound to its key.

    Token layout (disjoint ranges): keys are tokens 0..n_keys-1, values are tokens
    n_keys..n_keys+n_values-1. A sequence opens with n_pairs pairs `k v` (2 * n_pairs tokens;
    keys distinct, drawn from the n_keys keys; values uniform, repeats allowed); every later
    position is a query: a key drawn uniformly, with replacement, from the n_pairs keys of the
    prefix. Its target is the bound value as a class 0..n_values-1 (value token - n_keys),
    scored at the query position itself (its output predicts the value, as in Zoology's
    next-token labels); no value token follows a query. min_length is 2 * n_pairs + 1 (at
    least one query). Readout "all" scores every query, "last" the final one.

    A fixed-size state must hold n_pairs bindings: this probes memory capacity and recall over
    distance rather than aggregation. Values are uniform and independent of the query: chance
    is exactly 1/n_values. Defaults: n_keys=16, n_pairs=8, n_values=16.
    """

    description = "key/value pairs then queries; target is the queried key's value (recall)"
    family = "recall"
    display_order = 60

    def __init__(
        self, n_keys: int = 16, n_pairs: int = 8, n_values: int = 16, readout: str | None = None
    ) -> None:
        super().__init__(readout)
        self.n_keys = self._int_option("n_keys", n_keys, 1)
        self.n_pairs = self._int_option("n_pairs", n_pairs, 1, self.n_keys)
        self.n_values = self._int_option("n_values", n_values, 2)
        self.vocab_size = self.n_keys + self.n_values
        self.num_classes = self.n_values
        self.min_length = 2 * self.n_pairs + 1

    def _sample(self, batch_size, length, generator, device) -> Batch:
        p, n_query = self.n_pairs, length - 2 * self.n_pairs
        scores = torch.rand(batch_size, self.n_keys, generator=generator, device=device)
        keys = scores.argsort(dim=1)[:, :p]  # p distinct keys per row
        values = torch.randint(
            0, self.n_values, (batch_size, p), generator=generator, device=device
        )
        which = torch.randint(0, p, (batch_size, n_query), generator=generator, device=device)
        prefix = torch.stack([keys, values + self.n_keys], dim=2).reshape(batch_size, 2 * p)
        inputs = torch.cat([prefix, torch.gather(keys, 1, which)], dim=1)
        targets = torch.cat([torch.zeros_like(prefix), torch.gather(values, 1, which)], dim=1)
        mask = torch.zeros_like(inputs, dtype=torch.bool)
        mask[:, 2 * p :] = True
        return Batch(inputs, targets, mask)

    def _reference(self, tokens):
        p = self.n_pairs
        bound = {tokens[2 * i]: tokens[2 * i + 1] - self.n_keys for i in range(p)}
        return [None] * (2 * p) + [bound[k] for k in tokens[2 * p :]]

    def _score_probability(self, length):
        s = torch.zeros(length, dtype=torch.float64)
        s[2 * self.n_pairs :] = 1.0
        return s

"""Exact blind-guess accuracy for tasks whose target is read off a finite Markov chain.

When inputs are i.i.d., the task's state after t steps is a Markov chain, so the distribution of
the target at every position is computable exactly; the best blind guess at a position is its
most likely target. This is how cycle_navigation, count_mod and modular_arithmetic, whose
targets start far from uniform, get a chance that is right at every length.
"""

from __future__ import annotations

import torch


def markov_mode_probability(
    init: torch.Tensor, trans: torch.Tensor, target_of: torch.Tensor, steps: int
) -> torch.Tensor:
    """max_y P(target = y) after each of `steps` transitions (float64 [steps]).

    init: [S] distribution of the state before the first step; trans: [S, S] row-stochastic;
    target_of: [S] int64, the target read off each state. Stops iterating once the distribution
    is stationary (then every later position has the same value).
    """
    dist = init.to(torch.float64)
    trans = trans.to(torch.float64)
    n_targets = int(target_of.max()) + 1
    out = torch.empty(steps, dtype=torch.float64)
    for t in range(steps):
        new = dist @ trans
        out[t] = torch.zeros(n_targets, dtype=torch.float64).index_add_(0, target_of, new).max()
        converged = torch.allclose(new, dist, rtol=0.0, atol=1e-16)
        dist = new
        if converged:
            out[t:] = out[t]
            break
    return out

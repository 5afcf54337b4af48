"""Run a finite automaton over a batch of token sequences without a Python loop over time.

Tasks whose hidden state is a small finite set (the skip count of `jumps`, the agent's cell in
`maze`) are deterministic automata: s_t = table[s_{t-1}, x_t]. Their update maps need not be
invertible or commute, so there is no group to take prefix products in (`tasks.scan` needs a
Cayley table of the monoid the maps generate, which can be huge). Instead every token is its
map as a lookup row over the S states, and a Hillis-Steele scan composes the rows (a gather per
doubling), in blocks of `block` tokens so memory stays B x block x S whatever the length.
"""

from __future__ import annotations

import torch


def run_automaton(
    table: torch.Tensor, tokens: torch.Tensor, init: torch.Tensor, block: int = 256
) -> torch.Tensor:
    """States [B, T] after each token: s_t = table[s_{t-1}, x_t], with s_{-1} = init [B].

    table: int64 [S, V] (state, token) -> next state; tokens: int64 [B, T] in [0, V).
    """
    batch, length = tokens.shape
    maps_by_token = table.to(tokens.device).t().contiguous()  # [V, S]: each token's map
    states = torch.empty_like(tokens)
    state = init.to(device=tokens.device, dtype=torch.int64)
    for start in range(0, length, block):
        maps = maps_by_token[tokens[:, start : start + block]]  # [B, L, S]
        span = maps.shape[1]
        d = 1
        while d < span:
            # maps[t] := maps[t] o maps[t-d]: the composition over (t - 2d, t].
            later = torch.gather(maps[:, d:], 2, maps[:, :-d])
            maps = torch.cat((maps[:, :d], later), dim=1)
            d *= 2
        index = state[:, None, None].expand(batch, span, 1)
        states[:, start : start + span] = torch.gather(maps, 2, index).squeeze(2)
        state = states[:, start + span - 1]
    return states


def synchronizing_lengths(table: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Per stream [B], how many tokens it takes until the state no longer depends on the state
    before them (every start state has merged into one); -1 where the stream never gets there.

    A task whose streams synchronise within W tokens can be answered from the last W tokens
    alone, so its critical-time probe cannot tell a model with a W-token window from a
    recurrent one: every model that learns it holds it to any length.
    """
    n_states = table.shape[0]
    table = table.to(tokens.device)
    states = torch.arange(n_states, device=tokens.device).expand(tokens.shape[0], n_states)
    lengths = torch.full((tokens.shape[0],), -1, dtype=torch.int64, device=tokens.device)
    for t in range(tokens.shape[1]):
        states = table[states, tokens[:, t : t + 1]]  # every start state, one token on
        merged = (states == states[:, :1]).all(dim=1) & (lengths < 0)
        lengths[merged] = t + 1
    return lengths

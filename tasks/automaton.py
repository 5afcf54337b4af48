"""Run a finite automaton over a batch of token sequences without a Python loop over time.

Tasks whose hidden state is a small finite set (the skip count of `jumps`, the agent's cell in
`maze`) are deterministic automata: s_t = table[s_{t-1}, x_t]. Their update maps need not be
invertible or commute, so there is no group to take prefix products in (`tasks.scan` needs a
Cayley table of the monoid the maps generate, which can be huge). Instead every token is its
map as a lookup row over the S states, and a Hillis-Steele scan composes the rows (a gather per
doubling), in blocks of `block` tokens so memory stays B x block x S whatever the length.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class StateMachine(NamedTuple):
    """A task's hidden state as a finite automaton: s_t = table[s_{t-1}, x_t] from one of
    `starts`, the target at each position read off the state after the token (`target_of`,
    int64 [S]; None where the target is not a function of that state alone)."""

    table: torch.Tensor  # int64 [S, V]
    starts: torch.Tensor  # int64 [k]
    target_of: torch.Tensor | None = None


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

    Runs every start state on, one gather over [B, S] per token, checked in blocks of 256
    tokens and stopped once every stream has merged.
    """
    n_states = table.shape[0]
    by_token = table.to(tokens.device).t().contiguous()  # [V, S]: each token's map
    batch, length = tokens.shape
    states = torch.arange(n_states, device=tokens.device).repeat(batch, 1)
    lengths = torch.full((batch,), -1, dtype=torch.int64, device=tokens.device)
    for start in range(0, length, 256):
        seen = []
        for t in range(start, min(start + 256, length)):
            states = torch.gather(by_token[tokens[:, t]], 1, states)  # every start, one on
            seen.append(states)
        block = torch.stack(seen, dim=1)  # [B, L, S]
        merged = (block == block[:, :, :1]).all(dim=2)
        first = torch.where(merged.any(dim=1), merged.int().argmax(dim=1) + start + 1, -1)
        lengths = torch.where(lengths < 0, first, lengths)
        if bool((lengths >= 0).all()):
            break
    return lengths


def _compose(by_token: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Each stream's whole map [B, S]: state before the stream -> state after it."""
    maps = torch.arange(by_token.shape[1], device=tokens.device).repeat(tokens.shape[0], 1)
    for t in range(tokens.shape[1]):
        maps = torch.gather(by_token[tokens[:, t]], 1, maps)
    return maps


def reachable_states(table: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    """Bool [S]: the states some input sequence leads to from one of `starts` (int64 [k]),
    the starts included. Entries of `table` below 0 (a token that cannot occur there) lead
    nowhere."""
    table = table.cpu()
    reached = torch.zeros(table.shape[0], dtype=torch.bool)
    reached[starts.cpu()] = True
    while True:
        nxt = table[reached].flatten()
        grown = reached.clone()
        grown[nxt[nxt >= 0]] = True
        if torch.equal(grown, reached):
            return reached
        reached = grown


def identifying_windows(
    table: torch.Tensor,
    tokens: torch.Tensor,
    states: torch.Tensor | None = None,
    target_of: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per stream [B], the fewest last tokens that alone determine the state at its end: the
    smallest w such that every state the task may be in before them, from which the last w
    tokens can occur, ends in one and the same state (with `target_of` [S], in states with one
    and the same target: the answer is then known even where the state is not). -1 where the
    whole stream does not. The states the task may be in are `states` (bool [S]; default all)
    and every state reachable from them (a state reachable from a possible one is possible).

    This is the second way a window answers a probe, beside re-synchronisation: the stream
    need not forget its start, it is enough that its recent inputs give the state away (a
    walker that only takes moves open from its cell tells where it is). `table` may mark a
    token that cannot occur in a state with -1; such a state is not consistent with a window
    holding it. For a table with no -1 the window is the suffix that synchronises all
    `states`. Pass a task's start states to ask about the states it can be in. That set is
    closed (no token leads out of it), so a longer window never leaves more candidates.

    Exact. The whole stream's map is composed first (a stream it does not identify gets -1,
    as no shorter window can); for the others the suffix's maps are composed backwards,
    g_{w+1} = g_w o f(x_{T-w-1}), one gather over [B, S] per token until all are identified.
    """
    n_states = table.shape[0]
    dead = n_states  # where an impossible token leads; it stays there
    full = torch.cat((table, torch.full((1, table.shape[1]), dead, dtype=table.dtype)))
    full = torch.where(full < 0, torch.full_like(full, dead), full).to(tokens.device)
    if states is None:
        states = torch.ones(n_states, dtype=torch.bool)
    states = reachable_states(table, torch.nonzero(states.cpu()).flatten())
    candidates = torch.cat((states, torch.tensor([False])))
    candidates = candidates.to(tokens.device)
    read = torch.arange(n_states + 1) if target_of is None else target_of.cpu()
    read = torch.cat((read[:n_states], torch.tensor([-1]))).to(tokens.device)

    def identified(maps: torch.Tensor) -> torch.Tensor:
        """Per row of maps [B, S + 1] (state -> state after the window): at most one target
        left (none only for a window no possible state can produce)."""
        ends = read[maps]
        alive = candidates & (maps != dead)
        big = int(read.max()) + 1
        lo = torch.where(alive, ends, torch.full_like(ends, big)).min(dim=1).values
        hi = torch.where(alive, ends, torch.full_like(ends, -1)).max(dim=1).values
        return lo >= hi

    batch, length = tokens.shape
    by_token = full.t().contiguous()  # [V, S + 1]
    never = ~identified(_compose(by_token, tokens))
    maps = torch.arange(n_states + 1, device=tokens.device).repeat(batch, 1)  # g_0: identity
    windows = torch.full((batch,), -1, dtype=torch.int64, device=tokens.device)
    for w in range(1, length + 1):
        if bool((never | (windows >= 0)).all()):
            break
        step = by_token[tokens[:, length - w]]  # [B, S + 1]: the map of token T - w
        maps = torch.gather(maps, 1, step)  # g_w = g_{w-1} o f
        windows[identified(maps) & (windows < 0) & ~never] = w
    return windows

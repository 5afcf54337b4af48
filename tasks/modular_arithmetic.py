"""Modular arithmetic with precedence (Deletang et al. 2023): evaluate `3+2*4-1` mod 5."""

from __future__ import annotations

from functools import cache

import torch
from statebench.tasks.base import Batch, Task
from statebench.tasks.chance import markov_mode_probability
from statebench.tasks.registry import register_task
from statebench.tasks.scan import prefix_products

MOD = 5
PLUS, MINUS, TIMES = 5, 6, 7  # operator tokens; digits are tokens 0..4
OPS = {PLUS: "+", MINUS: "-", TIMES: "*"}

# The evaluator's state is (S, P): S the sum of the finished terms, P the signed current term;
# the value of the expression so far is S + P. Each (operator, digit) step is an affine map
#   (S, P) -> (S + a*P + b, c*P + e)  (mod 5)
#   "+d": (1, 0, 0, d)    "-d": (1, 0, 0, -d)    "*d": (0, 0, d, 0)
# and affine maps compose, so the prefix maps are a monoid scan; the first digit acts as "+d".


def _compose(g: tuple, f: tuple) -> tuple:
    """g . f: apply f, then g."""
    af, bf, cf, ef = f
    ag, bg, cg, eg = g
    return (
        (af + ag * cf) % MOD,
        (bf + ag * ef + bg) % MOD,
        (cg * cf) % MOD,
        (cg * ef + eg) % MOD,
    )


def _step_map(op: int, digit: int) -> tuple:
    if op == TIMES:
        return (0, 0, digit, 0)
    return (1, 0, 0, digit if op == PLUS else -digit % MOD)


@cache
def _monoid() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(step id of [op - 5, digit] [3, 5], Cayley table [M, M], value at (0, 0) of each map [M]).

    The monoid is the closure of the 15 step maps under composition (not all 625 affine maps).
    """
    gens = [_step_map(op, d) for op in (PLUS, MINUS, TIMES) for d in range(MOD)]
    elements, frontier = list(dict.fromkeys(gens)), list(dict.fromkeys(gens))
    index = {e: i for i, e in enumerate(elements)}
    while frontier:
        new = []
        for f in frontier:
            for g in gens:
                h = _compose(g, f)
                if h not in index:
                    index[h] = len(elements)
                    elements.append(h)
                    new.append(h)
        frontier = new
    table = torch.tensor([[index[_compose(a, b)] for b in elements] for a in elements])
    value = torch.tensor([(b + e) % MOD for (_, b, _, e) in elements])
    step_id = torch.tensor([[index[_step_map(op, d)] for d in range(MOD)] for op in OPS])
    return step_id, table, value


@register_task("modular_arithmetic")
class ModularArithmetic(Task):
    """Digit, operator, digit, ... (odd length): the value mod 5 of the expression so far.

    Tokens: digits 0..4 at even positions, operators + - * as tokens 5, 6, 7 at odd positions,
    all uniform. `*` binds tighter than `+` and `-`, which associate left, as in Python:
    `3+2*4-1` is 10, target 0. Precedence makes the evaluator hold a pending product term as well
    as the running sum: a non-commutative monoid, not a group.

    Lengths must be odd (the expression ends with a digit); an even length is refused with a
    ValueError rather than rounded, since results are keyed by length.

    Readouts: "last" (default) scores the whole expression at the final digit; "all" scores, at
    every digit position, the value of the complete expression ending there (operator positions
    are never scored).

    Chance: products pile up zeros (3 * 2 * 0 ...), so values are not uniform; the best blind
    guess at each digit is the most likely value, computed exactly by `chance_at` from a Markov
    chain over (S, P). It is 1/5 at length 1, 19/75 at length 3, and tends to 1/5.
    `chance` quotes it at length 65.
    """

    description = "digits and + - * ; target is the expression's value mod 5 with precedence"
    family = "regular"
    display_order = 45
    vocab_size = 8
    num_classes = MOD
    default_readout = "last"
    length_rule = "odd"
    chance_length = 65

    def _length_ok(self, length: int) -> bool:
        return length % 2 == 1

    def _sample(self, batch_size, length, generator, device) -> Batch:
        n = (length + 1) // 2
        # One draw per (operator, digit) step: 5 * op + digit, op 0, 1, 2 for + - *.
        step = torch.randint(0, 3 * MOD, (batch_size, n), generator=generator, device=device)
        step[:, 0].remainder_(MOD)  # the first digit starts the first term: "+d"
        step_id, table, value = (t.to(device) for t in _monoid())
        prefix = prefix_products(step_id.reshape(-1)[step], table)
        inputs = torch.empty(batch_size, length, dtype=torch.int64, device=device)
        torch.remainder(step, MOD, out=inputs[:, 0::2])
        torch.div(step[:, 1:], MOD, rounding_mode="floor", out=inputs[:, 1::2]).add_(PLUS)
        targets = torch.zeros_like(inputs)
        targets[:, 0::2] = value[prefix]
        mask = torch.zeros_like(inputs, dtype=torch.bool)
        mask[:, 0::2] = True
        return Batch(inputs, targets, mask)

    def _reference(self, tokens):
        out: list[int | None] = []
        done, term = 0, 0  # sum of finished terms, current signed term (plain integers)
        op = PLUS
        for i, t in enumerate(tokens):
            if i % 2 == 1:
                op = t
                out.append(None)
                continue
            if op == TIMES:
                term *= t
            else:
                done += term
                term = t if op == PLUS else -t
            out.append((done + term) % MOD)
        return out

    def _position_accuracy(self, length):
        # States (S, P) as 5*S + P; one step is a uniform operator then a uniform digit.
        trans = torch.zeros(MOD * MOD, MOD * MOD, dtype=torch.float64)
        for s in range(MOD):
            for p in range(MOD):
                for op in OPS:
                    for d in range(MOD):
                        a, b, c, e = _step_map(op, d)
                        s2, p2 = (s + a * p + b) % MOD, (c * p + e) % MOD
                        trans[MOD * s + p, MOD * s2 + p2] += 1 / (3 * MOD)
        init = torch.zeros(MOD * MOD, dtype=torch.float64)
        init[0:MOD] = 1 / MOD  # after the first digit: S = 0, P uniform
        value = torch.tensor([(s + p) % MOD for s in range(MOD) for p in range(MOD)])
        n = (length + 1) // 2
        first = torch.tensor([1 / MOD], dtype=torch.float64)
        later = markov_mode_probability(init, trans, value, n - 1)
        acc = torch.full((length,), 1 / MOD, dtype=torch.float64)
        acc[0::2] = torch.cat([first, later])
        return acc

    def _score_probability(self, length):
        p = torch.zeros(length, dtype=torch.float64)
        p[0::2] = 1.0
        return p

"""`chance` is the accuracy of the best blind guess (knows the position, sees no token).

Checked three ways: exactly, by enumerating every input sequence of short lengths with the
reference as labeller; statistically, against the accuracy of a per-position guess fitted on one
half of a large sample and scored on the other; and analytically where a closed form exists.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest
import statebench.tasks as tasks
import torch
from task_cases import valid_lengths


def alphabets(task, length):
    """Per-position input alphabets of tasks whose inputs are i.i.d. uniform per position."""
    if task.name == "modular_arithmetic":
        return [range(5) if i % 2 == 0 else (5, 6, 7) for i in range(length)]
    return [range(task.vocab_size)] * length


def enumerated_chance(task, length) -> Fraction:
    """Exact best blind-guess accuracy over all inputs of this length (all equally likely)."""
    counts = [dict() for _ in range(length)]
    for seq in itertools.product(*alphabets(task, length)):
        for pos, y in enumerate(task.reference(list(seq))):
            if y is not None:
                counts[pos][y] = counts[pos].get(y, 0) + 1
    right = sum(max(c.values()) for c in counts if c)
    scored = sum(sum(c.values()) for c in counts if c)
    return Fraction(right, scored)


ENUMERABLE = [
    ("parity", {}, range(1, 9)),
    ("even_pairs", {}, range(2, 9)),
    ("cycle_navigation", {}, range(1, 7)),
    ("count_mod", {"k": 3}, range(1, 9)),
    ("count_mod", {"k": 4}, range(1, 9)),
    ("majority", {"m": 2}, range(1, 11)),
    ("modular_sum", {"m": 3}, range(1, 6)),
    ("permutation", {"group": "S3"}, range(1, 4)),
    ("modular_arithmetic", {}, (1, 3, 5, 7)),
]


@pytest.mark.parametrize("readout", ["all", "last"])
@pytest.mark.parametrize("name,options,lengths", ENUMERABLE, ids=[c[0] for c in ENUMERABLE])
def test_chance_is_exact_on_enumerated_inputs(name, options, lengths, readout):
    task = tasks.get_task(name, readout=readout, **options)
    for length in lengths:
        assert task.chance_at(length) == pytest.approx(
            float(enumerated_chance(task, length)), abs=1e-12
        )


@pytest.mark.parametrize("readout", ["all", "last"])
def test_majority_monte_carlo_chance_is_close_to_exact(readout):
    task = tasks.get_task("majority", m=3, readout=readout)
    for length in (1, 2, 3, 6, 7):
        exact = float(enumerated_chance(task, length))
        assert abs(task.chance_at(length) - exact) < 0.01


def heldout_guess_accuracy(task, length, rows, seed=0):
    """(accuracy, standard error) of per-position modes fitted on half a sample, scored on the
    other half: an unbiased estimate of a blind guess's accuracy, near the best one's."""
    batch = task.sample(rows, length, torch.Generator().manual_seed(seed))
    half = rows // 2
    pos = torch.arange(length).expand(half, length)
    fit_mask = batch.mask[:half]
    cell = (pos * task.num_classes + batch.targets[:half])[fit_mask]
    counts = torch.bincount(cell, minlength=length * task.num_classes)
    guess = counts.view(length, task.num_classes).argmax(
        -1
    )  # the most frequent target per position
    mask = batch.mask[half:]
    right = ((batch.targets[half:] == guess) & mask).sum(1).double()
    scored = mask.sum(1).double()
    acc = right.sum() / scored.sum()
    resid = right - acc * scored
    se = resid.std() / scored.mean() / math.sqrt(resid.numel())
    return float(acc), float(se)


def test_chance_matches_the_best_guess_on_a_large_sample(task):
    length = valid_lengths(task, range(max(12, task.min_length), max(12, task.min_length) + 2))[0]
    rows = 40_000 if task.readout == "last" else 4_000
    acc, se = heldout_guess_accuracy(task, length, rows)
    assert abs(acc - task.chance_at(length)) < 4 * se + 0.003


def test_chance_property_is_chance_at_its_length(task):
    assert task.chance == task.chance_at(task.chance_length)
    assert 0 < task.chance < 1


def test_chance_property_when_chance_length_is_too_short():
    task = tasks.get_task("mqar", n_keys=64, n_pairs=40, n_values=3)
    assert task.min_length == 81 > task.chance_length
    assert task.chance == pytest.approx(1 / 3)


def test_position_chance_is_nan_exactly_where_nothing_is_scored(task):
    length = valid_lengths(task, [24, 25])[0]
    pc = task.position_chance(length)
    batch = task.sample(2000, length, torch.Generator().manual_seed(0))
    assert torch.equal(~torch.isnan(pc), batch.mask.any(0))
    scored = pc[~torch.isnan(pc)]
    assert (scored >= 1 / task.num_classes - 1e-12).all() and (scored < 1).all()


UNIFORM = [
    ("parity", {}, 1 / 2),
    ("even_pairs", {}, 1 / 2),
    ("modular_sum", {"m": 7}, 1 / 7),
    ("permutation", {"group": "S5"}, 1 / 120),
    ("permutation", {"group": "A5"}, 1 / 60),
    ("permutation", {"group": "S3"}, 1 / 6),
    ("permutation", {"group": "Z60"}, 1 / 60),
    ("flipflop", {"p_ignore": 0.3}, 1 / 2),
    ("mqar", {"n_values": 10}, 1 / 10),
]


@pytest.mark.parametrize("name,options,value", UNIFORM, ids=[u[0] for u in UNIFORM])
def test_uniform_targets_have_chance_one_over_classes_at_every_length(name, options, value):
    for readout in ("all", "last"):
        task = tasks.get_task(name, readout=readout, **options)
        for length in valid_lengths(task, [1, 2, 4, 5, 17, 18, 100, 101]):
            assert task.chance_at(length) == pytest.approx(value, abs=1e-12)


def test_majority_chance_is_not_one_over_m():
    """'Always 0' wins ties, so it beats 1/m; the excess shrinks like 1/sqrt(length)."""
    last = tasks.get_task("majority", readout="last")
    for n in (2, 10, 64, 400):
        assert last.chance_at(n) == pytest.approx(0.5 + math.comb(n, n // 2) / 2 ** (n + 1))
    assert last.chance_at(63) == pytest.approx(0.5)
    every = tasks.get_task("majority")
    values = [every.chance_at(n) for n in (4, 16, 64, 256, 1024)]
    assert all(a > b > 0.5 for a, b in zip(values, values[1:], strict=False))
    assert every.chance > 0.54  # quoted at length 64, far from 1/2
    assert tasks.get_task("majority", m=4).chance > 0.25 + 0.02


def test_non_uniform_tasks_start_high_and_tend_to_one_over_classes():
    cases = [("cycle_navigation", {}, 1 / 5), ("count_mod", {"k": 3}, 1 / 3)]
    cases.append(("modular_arithmetic", {}, 1 / 5))
    for name, options, limit in cases:
        last = tasks.get_task(name, readout="last", **options)
        short = valid_lengths(last, [3, 4])[0]
        assert last.chance_at(short) > limit + 0.02
        assert last.chance_at(valid_lengths(last, [201, 202])[0]) == pytest.approx(limit, abs=1e-6)
    assert tasks.get_task("modular_arithmetic").chance_at(3) == pytest.approx(19 / 75)

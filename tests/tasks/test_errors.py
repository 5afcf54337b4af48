"""Bad input fails early with a ValueError that names what is allowed."""

from __future__ import annotations

import pytest
import statebench.tasks as tasks
import torch


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown task 'partiy'") as e:
        tasks.get_task("partiy")
    assert "did you mean parity" in str(e.value)
    for name in tasks.list_tasks():
        assert name in str(e.value)


def test_unknown_option_lists_the_allowed_ones():
    with pytest.raises(ValueError, match=r"unknown option\(s\) 'n'; allowed: m, readout"):
        tasks.get_task("majority", n=3)
    with pytest.raises(ValueError, match="allowed: n_keys, n_pairs, n_values, readout"):
        tasks.get_task("mqar", keys=3)


def test_bad_readout():
    with pytest.raises(
        ValueError,
        match=r"readout='first' is not allowed; choose one of \('all', 'last', 'query'\)",
    ):
        tasks.get_task("parity", readout="first")


BAD_OPTIONS = [
    ("count_mod", {"k": 1}, "k must be an integer >= 2"),
    ("count_mod", {"k": 2.5}, "k must be an integer >= 2"),
    ("count_mod", {"k": True}, "k must be an integer >= 2"),
    ("majority", {"m": 1}, "m must be an integer >= 2"),
    ("modular_sum", {"m": 0}, "m must be an integer >= 2"),
    ("modular_sum", {"m": "5"}, "m must be an integer >= 2"),
    ("permutation", {"group": "S4"}, "group='S4' is not allowed; choose one of S5, A5, S3, Z60"),
    ("flipflop", {"p_ignore": 1.0}, r"p_ignore must be a number in \[0, 1\)"),
    ("flipflop", {"p_ignore": -0.1}, r"p_ignore must be a number in \[0, 1\)"),
    ("flipflop", {"p_ignore": float("nan")}, r"p_ignore must be a number in \[0, 1\)"),
    (
        "mqar",
        {"n_keys": 4, "n_pairs": 5},
        r"n_pairs=5 is not allowed; n_pairs must be an integer in \[1, 4\]",
    ),
    ("mqar", {"n_pairs": 0}, r"n_pairs must be an integer in \[1, 16\]"),
    ("mqar", {"n_keys": 0}, "n_keys must be an integer >= 1"),
    ("mqar", {"n_values": 1}, "n_values must be an integer >= 2"),
    ("jumps", {"max_jump": 0}, "max_jump must be an integer >= 1"),
    ("jumps", {"n_instructions": 0}, "n_instructions must be an integer >= 1"),
    ("jumps", {"p_jump": 0.0}, r"p_jump must be a number in \(0, 1\)"),
    ("jumps", {"p_jump": 1}, r"p_jump must be a number in \(0, 1\)"),
    ("jumps", {"target": "count"}, "target='count' is not allowed; choose one of executed, sum"),
    ("jumps", {"m": 1}, "m must be an integer >= 2"),
    ("maze", {"size": 1}, r"size must be an integer in \[2, 16\]"),
    ("maze", {"maze_seed": -1}, "maze_seed must be an integer >= 0"),
    ("maze", {"extra_openings": 10}, r"extra_openings must be an integer in \[0, 9\]"),
    ("maze", {"start": "random"}, "start='random' is not allowed; choose one of fixed, shown"),
    ("maze", {"torus": "yes"}, "torus='yes' is not allowed; torus must be true or false"),
    ("maze", {"torus": True, "extra_openings": 2}, "extra_openings=2 is not allowed with torus"),
]


@pytest.mark.parametrize("name,options,message", BAD_OPTIONS)
def test_bad_option_values_name_the_allowed_ones(name, options, message):
    with pytest.raises(ValueError, match=message) as e:
        tasks.get_task(name, **options)
    assert str(e.value).startswith(f"task {name!r}: ")


BAD_LENGTHS = [
    ("parity", 0, "lengths are integers >= 1"),
    ("parity", 3.0, "lengths are integers >= 1"),
    ("even_pairs", 1, "lengths are integers >= 2"),
    ("modular_arithmetic", 8, "lengths are odd integers >= 1"),
    ("modular_arithmetic", 0, "lengths are odd integers >= 1"),
    ("flipflop", 9, "lengths are even integers >= 4"),
    ("flipflop", 2, "lengths are even integers >= 4"),
    ("mqar", 16, "lengths are integers >= 17"),
]


@pytest.mark.parametrize("name,length,message", BAD_LENGTHS)
def test_lengths_the_task_cannot_make_are_refused(name, length, message):
    task = tasks.get_task(name)
    with pytest.raises(ValueError, match=f"length={length!r} is not allowed; {message}"):
        task.sample(2, length, torch.Generator())
    with pytest.raises(ValueError, match=message):
        task.chance_at(length)


def test_mqar_min_length_follows_n_pairs():
    task = tasks.get_task("mqar", n_pairs=2)
    with pytest.raises(ValueError, match="lengths are integers >= 5"):
        task.check_length(4)
    assert task.check_length(5) == 5


@pytest.mark.parametrize("batch_size", [0, -1, 2.0])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size=.* must be an integer >= 1"):
        tasks.get_task("parity").sample(batch_size, 4, torch.Generator())

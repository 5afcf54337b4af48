"""Property tests against independent oracles (not the tasks' own reference functions)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import statebench.tasks as tasks
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from statebench.tasks.groups import permutation_elements

SYMBOL = {5: "+", 6: "-", 7: "*"}


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_digits=st.integers(1, 30))
def test_modular_arithmetic_against_python_eval(seed, n_digits):
    """Python's own parser applies the precedence: the oracle for the last and every prefix."""
    length = 2 * n_digits - 1
    task = tasks.get_task("modular_arithmetic", readout="all")
    batch = task.sample(4, length, torch.Generator().manual_seed(seed))
    for row in range(4):
        tokens = batch.inputs[row].tolist()
        text = "".join(SYMBOL.get(t, str(t)) for t in tokens)
        for end in range(0, length, 2):
            assert batch.targets[row, end] == eval(text[: end + 1]) % 5, text[: end + 1]


@settings(max_examples=40, deadline=None)
@given(
    group=st.sampled_from(["S5", "A5", "S3"]),
    seed=st.integers(0, 2**31 - 1),
    length=st.integers(1, 40),
)
def test_permutation_against_numpy_composition(group, seed, length):
    """state_t = x_t . state_{t-1}: numpy fancy indexing p[state] applies p after state."""
    task = tasks.get_task("permutation", group=group)
    batch = task.sample(3, length, torch.Generator().manual_seed(seed))
    elements = np.array(permutation_elements(group))
    for row in range(3):
        state = np.arange(elements.shape[1])
        for t, x in enumerate(batch.inputs[row].tolist()):
            state = elements[x][state]
            assert tuple(elements[batch.targets[row, t]]) == tuple(state)


@settings(max_examples=40, deadline=None)
@given(m=st.integers(2, 6), seed=st.integers(0, 2**31 - 1), length=st.integers(1, 40))
def test_majority_against_counter(m, seed, length):
    task = tasks.get_task("majority", m=m)
    batch = task.sample(3, length, torch.Generator().manual_seed(seed))
    for row in range(3):
        tokens = batch.inputs[row].tolist()
        for t in range(length):
            counts = Counter(tokens[: t + 1])
            top = max(counts.values())
            assert batch.targets[row, t] == min(s for s, c in counts.items() if c == top)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), pairs=st.integers(2, 40), p_ignore=st.floats(0, 0.99))
def test_flipflop_against_string_search(seed, pairs, p_ignore):
    """At each read, the answer is the bit after the last 'w' before it in the string form."""
    task = tasks.get_task("flipflop", p_ignore=p_ignore)
    batch = task.sample(3, 2 * pairs, torch.Generator().manual_seed(seed))
    for row in range(3):
        text = "".join("wri01"[t] for t in batch.inputs[row].tolist())
        for pos in range(0, len(text), 2):
            if text[pos] == "r":
                assert batch.mask[row, pos]
                assert batch.targets[row, pos] == int(text[text.rindex("w", 0, pos) + 1])
                assert text[pos + 1] == str(int(batch.targets[row, pos]))  # teacher-forced


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(tasks.list_tasks()),
    readout=st.sampled_from(["all", "last"]),
    seed=st.integers(0, 2**31 - 1),
    batch=st.integers(1, 5),
    extra=st.integers(0, 60),
)
def test_sample_agrees_with_reference_for_any_seed_and_length(name, readout, seed, batch, extra):
    task = tasks.get_task(name, readout=readout)
    length = task.min_length + extra
    if name == "modular_arithmetic" and length % 2 == 0:
        length += 1
    if name == "flipflop" and length % 2 == 1:
        length += 1
    out = task.sample(batch, length, torch.Generator().manual_seed(seed))
    for row in range(batch):
        labels = task.reference(out.inputs[row].tolist())
        assert out.mask[row].tolist() == [y is not None for y in labels]
        assert out.targets[row][out.mask[row]].tolist() == [y for y in labels if y is not None]

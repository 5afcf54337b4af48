"""`identifying_windows`: the fewest recent inputs that give a task's state away, checked by hand,
against a brute-force reading of its definition, and on the tasks' own state machines."""

from __future__ import annotations

import pytest
import torch
from statebench.tasks import get_task
from statebench.tasks.automaton import (
    identifying_windows,
    reachable_states,
    run_automaton,
    synchronizing_lengths,
)


def test_identifying_windows_by_hand():
    # a counter that saturates at 2 on token 1 and resets on token 0
    table = torch.tensor([[0, 1], [0, 2], [0, 2]])
    tokens = torch.tensor([[1, 1, 1], [1, 0, 1], [1, 1, 0], [0, 1, 1]])
    assert identifying_windows(table, tokens).tolist() == [2, 2, 1, 2]
    # parity: no window tells the bit
    assert identifying_windows(torch.tensor([[0, 1], [1, 0]]), tokens).tolist() == [-1] * 4


def test_a_walker_taking_only_open_moves_gives_its_cell_away():
    # cells 0-1-2 on a line, token 0 = left, 1 = right; -1: that move is never taken there, so
    # a state from which the window could not occur is ruled out: "right, right" can only
    # have started in cell 0, "left, left" only in cell 2.
    line = torch.tensor([[-1, 1], [0, 2], [1, -1]])
    tokens = torch.tensor([[1, 1], [1, 0], [0, 1], [0, 0]])
    assert identifying_windows(line, tokens).tolist() == [2, -1, -1, 2]
    assert identifying_windows(line, torch.tensor([[1, 1, 0, 0]])).tolist() == [2]


def test_a_target_read_off_the_state_can_be_known_before_the_state():
    # states 0..3, target = state // 2; token 0 swaps inside a pair, token 1 moves to the pair
    # of target 1 keeping the parity: after a 1 the target is known, the state is not
    table = torch.tensor([[1, 2], [0, 3], [3, 2], [2, 3]])
    target_of = torch.tensor([0, 0, 1, 1])
    tokens = torch.tensor([[0, 1], [1, 0], [0, 0]])
    assert identifying_windows(table, tokens).tolist() == [-1, -1, -1]
    assert identifying_windows(table, tokens, target_of=target_of).tolist() == [1, 2, -1]


def _brute_force(table, tokens, states, target_of):
    """The definition, read literally: the shortest suffix after which every state it can run
    from (in `states` or reachable from them) ends with the same target."""
    possible = set(torch.nonzero(states).flatten().tolist())
    while True:
        more = {int(table[s, t]) for s in possible for t in range(table.shape[1])} - {-1}
        if more <= possible:
            break
        possible |= more
    out = []
    for row in tokens.tolist():
        found = -1
        for w in range(1, len(row) + 1):
            ends = set()
            for s in possible:
                for t in row[len(row) - w :]:
                    s = int(table[s, t])
                    if s < 0:
                        break
                else:
                    ends.add(int(target_of[s]))
            if len(ends) <= 1:
                found = w
                break
        out.append(found)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_identifying_windows_match_the_brute_force_definition(seed):
    gen = torch.Generator().manual_seed(seed)
    n_states, vocab = 5, 3
    table = torch.randint(0, n_states, (n_states, vocab), generator=gen)
    if seed % 2:  # some tokens impossible in some states
        table[torch.rand(n_states, vocab, generator=gen) < 0.2] = -1
    tokens = torch.randint(0, vocab, (64, 12), generator=gen)
    states = torch.rand(n_states, generator=gen) < 0.8
    states[0] = True
    target_of = torch.randint(0, 3, (n_states,), generator=gen)
    got = identifying_windows(table, tokens, states, target_of).tolist()
    assert got == _brute_force(table, tokens, states, target_of)
    assert identifying_windows(table, tokens, states).tolist() == _brute_force(
        table, tokens, states, torch.arange(n_states)
    )


MACHINES = [
    ("parity", {}),
    ("jumps", {}),
    ("jumps", {"target": "sum", "m": 3}),
    ("maze", {"size": 3, "extra_openings": 2}),
    ("maze", {"size": 3, "torus": True}),
    ("maze", {"size": 2, "start": "shown"}),
]


@pytest.mark.parametrize(("name", "options"), MACHINES)
def test_a_task_state_machine_gives_its_targets(name, options):
    task = get_task(name, **options)
    machine = task.state_machine()
    batch = task.sample(64, 50, torch.Generator().manual_seed(1))
    starts = machine.starts[torch.zeros(64, dtype=torch.int64)]
    states = run_automaton(machine.table, batch.inputs, starts)
    if machine.target_of is not None:
        assert torch.equal(machine.target_of[states], batch.targets)
    else:  # jumps "executed": the token executes when the skip count before it is 0
        before = torch.cat((starts[:, None], states[:, :-1]), dim=1)
        assert torch.equal((before == 0).long()[batch.mask], batch.targets[batch.mask])


def test_the_resynchronising_probes_are_identified_by_short_windows():
    """The quick-probe's jumps and 3x3 maze: a few dozen recent inputs answer them."""
    gen = torch.Generator().manual_seed(0)
    for name, options, median_at_most in (
        ("jumps", {}, 5),
        ("maze", {"size": 3, "extra_openings": 2}, 25),
    ):
        task = get_task(name, **options)
        machine = task.state_machine()
        tokens = task.sample(200, 500, gen).inputs
        reach = reachable_states(machine.table, machine.starts)
        windows = identifying_windows(machine.table, tokens, reach, machine.target_of)
        assert (windows > 0).all()
        assert float(windows.double().median()) <= median_at_most
        assert (synchronizing_lengths(machine.table, tokens) > 0).all()

"""The two probes of the recurrence-complete frame paper: their specs, mazes and exact chance."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
import statebench.tasks as tasks
import torch
from statebench.tasks import get_task
from statebench.tasks.automaton import run_automaton, synchronizing_lengths
from statebench.tasks.maze import interior_walls


def weighted_chance(task, length, weight) -> float:
    """Best blind-guess accuracy over every input of this length, each with its probability."""
    counts = [{} for _ in range(length)]
    for seq in itertools.product(range(task.vocab_size), repeat=length):
        w = 1.0
        for t in seq:
            w *= weight(t)
        if w == 0:
            continue
        for pos, y in enumerate(task.reference(list(seq))):
            if y is not None:
                counts[pos][y] = counts[pos].get(y, 0.0) + w
    scored = [c for c in counts if c]
    return sum(max(c.values()) for c in scored) / sum(sum(c.values()) for c in scored)


@pytest.mark.parametrize("readout", ["all", "last"])
@pytest.mark.parametrize("target", ["executed", "sum"])
def test_jumps_chance_is_exact_on_enumerated_inputs(target, readout):
    task = tasks.get_task(
        "jumps", n_instructions=2, max_jump=2, p_jump=0.4, target=target, m=3, readout=readout
    )

    def weight(t):
        return 0.6 / 2 if t < 2 else 0.4 / 2

    for length in range(task.min_length, 7):
        assert task.chance_at(length) == pytest.approx(weighted_chance(task, length, weight))


@pytest.mark.parametrize("readout", ["all", "last"])
def test_maze_chance_is_exact_on_enumerated_inputs(readout):
    task = tasks.get_task("maze", size=3, maze_seed=1, readout=readout)
    for length in range(1, 7):
        exact = weighted_chance(task, length, lambda t: 0.25)
        assert task.chance_at(length) == pytest.approx(exact)
    torus = tasks.get_task("maze", size=3, torus=True, readout=readout)
    for length in range(1, 6):
        exact = weighted_chance(torus, length, lambda t: 0.25)
        assert torus.chance_at(length) == pytest.approx(exact)
    shown = tasks.get_task("maze", size=2, start="shown", readout=readout)
    for length in range(1, 5):
        # Start tokens are drawn only first (uniformly), moves after: weight by position.
        counts = [{} for _ in range(length)]
        for start in range(4):
            for moves in itertools.product(range(4), repeat=length - 1):
                labels = shown.reference([4 + start, *moves])
                for pos, y in enumerate(labels):
                    if y is not None:
                        counts[pos][y] = counts[pos].get(y, 0) + 1
        scored = [c for c in counts if c]
        exact = Fraction(sum(max(c.values()) for c in scored), sum(sum(c.values()) for c in scored))
        assert shown.chance_at(length) == pytest.approx(float(exact))


def test_jumps_spec_by_hand():
    task = tasks.get_task("jumps", n_instructions=4, max_jump=3)
    # 5 = skip 2: skips 1 and the jump 6 (which does nothing); 2 executes; 4 = skip 1 skips 3.
    tokens = [0, 5, 1, 6, 2, 4, 3, 1]
    assert task.reference(tokens) == [None, 1, 0, 0, 1, 1, 0, 1]  # the first always executes
    sums = tasks.get_task("jumps", n_instructions=4, max_jump=3, target="sum", m=5)
    assert sums.reference(tokens) == [0, 0, 0, 0, 2, 2, 2, 3]


def test_maze_is_a_perfect_maze_plus_the_extra_openings():
    for size, seed in [(2, 0), (4, 0), (6, 7)]:
        task = tasks.get_task("maze", size=size, maze_seed=seed)
        assert len(task.passages) == size * size - 1  # a spanning tree of the grid
        reached, frontier = {0}, [0]
        while frontier:
            cell = frontier.pop()
            for move in range(4):
                other = task.neighbour(cell, move)
                if other not in reached:
                    reached.add(other)
                    frontier.append(other)
        assert reached == set(range(size * size))
    base = tasks.get_task("maze", size=5, maze_seed=2)
    opened = tasks.get_task("maze", size=5, maze_seed=2, extra_openings=3)
    assert base.passages < opened.passages and len(opened.passages) == len(base.passages) + 3
    assert len(interior_walls(5, set(opened.passages))) == 2 * 5 * 4 - len(opened.passages)
    assert tasks.get_task("maze", maze_seed=1).passages != base.passages


def test_torus_moves_wrap_around_every_edge():
    task = tasks.get_task("maze", size=3, torus=True)
    # N from the top row, W from the left column, S and E back: every move is taken.
    assert task.reference([0, 3, 2, 1]) == [6, 8, 2, 0]
    assert all(task.neighbour(c, m) != c for c in range(9) for m in range(4))
    assert not interior_walls(3, set(task.passages))


def test_maze_walls_block_and_the_border_holds():
    task = tasks.get_task("maze", size=4, maze_seed=0)
    assert task.reference([0, 3]) == [0, 0]  # north and west of the top-left cell: the border
    for cell in range(16):
        for move in range(4):
            other = task.neighbour(cell, move)
            assert other == cell or (min(cell, other), max(cell, other)) in task.passages


def test_automaton_matches_a_loop_across_blocks():
    table = torch.tensor([[1, 0], [2, 2], [0, 1]])  # non-invertible maps on three states
    x = torch.randint(0, 2, (3, 41), generator=torch.Generator().manual_seed(0))
    init = torch.tensor([0, 1, 2])
    got = run_automaton(table, x, init, block=8)
    for row in range(3):
        state, want = int(init[row]), []
        for t in x[row].tolist():
            state = int(table[state, t])
            want.append(state)
        assert got[row].tolist() == want


def test_synchronizing_lengths_by_hand():
    # two states; token 0 swaps them (never merges), token 1 sends both to state 0
    table = torch.tensor([[1, 0], [0, 0]])
    tokens = torch.tensor([[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    assert synchronizing_lengths(table, tokens).tolist() == [3, 1, -1]


def _quantiles(lengths: torch.Tensor) -> tuple[float, float]:
    assert (lengths > 0).all()  # every stream got there
    q = torch.quantile(lengths.double(), torch.tensor([0.5, 0.99], dtype=torch.float64))
    return float(q[0]), float(q[1])


def test_default_jumps_and_the_quick_probe_maze_resynchronise():
    """What docs/tasks.md says of the two probes at these settings: the skip count forgets
    itself within a few tokens, the 3x3 maze's walls pin the agent within a few dozen moves."""
    gen = torch.Generator().manual_seed(0)
    jumps = get_task("jumps")
    median, p99 = _quantiles(
        synchronizing_lengths(jumps._table, jumps._tokens(4000, 64, gen, "cpu"))
    )
    assert median <= 5 and p99 <= 14
    maze = get_task("maze", size=3, extra_openings=2)
    median, p99 = _quantiles(synchronizing_lengths(maze._table, maze._moves(4000, 400, gen, "cpu")))
    assert 10 <= median <= 25 and p99 <= 100
    maze = get_task("maze")  # the default 4x4 perfect maze takes longer, but gets there
    median, p99 = _quantiles(
        synchronizing_lengths(maze._table, maze._moves(4000, 2000, gen, "cpu"))
    )
    assert 80 <= median <= 140 and p99 <= 500

"""Withheld maze position tracking: follow an agent's moves through a maze it never shows.

One of the two probes of "Recurrence-Complete Frame-based Action Models" (Keiblinger, 2025).
The paper's exact definition is not public; this is our operational version.
"""

from __future__ import annotations

import random

import torch
from statebench.tasks.automaton import StateMachine, run_automaton
from statebench.tasks.base import Batch, Task, _last_true
from statebench.tasks.chance import markov_mode_probability
from statebench.tasks.registry import register_task

MOVES = ("N", "E", "S", "W")
STEPS = ((-1, 0), (0, 1), (1, 0), (0, -1))  # (row, column) change of each move
STARTS = ("fixed", "shown")


def perfect_maze(size: int, seed: int) -> set[tuple[int, int]]:
    """Open passages (a, b), a < b cell ids, of a perfect maze: a random spanning tree of the
    grid drawn by a depth-first walk (every cell reachable, exactly one path between two)."""
    rng = random.Random(seed)
    seen, stack, passages = {0}, [0], set()
    while stack:
        cell = stack[-1]
        row, col = divmod(cell, size)
        fresh = [
            (row + dr) * size + col + dc
            for dr, dc in STEPS
            if 0 <= row + dr < size
            and 0 <= col + dc < size
            and (row + dr) * size + col + dc not in seen
        ]
        if not fresh:
            stack.pop()
            continue
        nxt = rng.choice(fresh)
        seen.add(nxt)
        stack.append(nxt)
        passages.add((min(cell, nxt), max(cell, nxt)))
    return passages


def interior_walls(size: int, passages: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """Pairs of adjacent cells (a, b), a < b, with a wall between them, in a fixed order."""
    pairs = [(c, c + 1) for c in range(size * size) if c % size < size - 1]
    pairs += [(c, c + size) for c in range(size * (size - 1))]
    return sorted(p for p in pairs if p not in passages)


@register_task("maze")
class Maze(Task):
    """An agent walks a fixed size x size maze by moves N/E/S/W (tokens 0..3); the target at
    each position is its cell (row * size + column). A move into a wall leaves it in place.

    The maze is a perfect maze drawn with `maze_seed`, plus `extra_openings` walls removed at
    random (loops: more than one route between cells). With torus=True there are no walls and
    moves wrap around the edges: every move is valid from every cell, so the agent is never
    pinned and its moves never give its cell away; its cell is the start plus the sum of the
    moves in Z_size x Z_size (a group, not only an automaton). It is the maze probe that a
    window of recent moves cannot answer (see `tasks.automaton.identifying_windows`).

    With start="fixed" the agent starts in the top-left cell; with start="shown" the first
    token (4 + cell) places it at a uniform cell. The position is never shown again. Moves are
    uniform.

    With walls, bumps make the update maps non-invertible and non-commuting, so the state is no
    group element: it is a finite automaton's state (run without a loop over time by
    `tasks.automaton`). Chance is exact by a Markov chain over the agent's cell.
    """

    description = "moves N/E/S/W in a maze (walls block) or on a torus; target: the agent's cell"
    family = "regular"
    display_order = 80

    def __init__(
        self,
        size: int = 4,
        maze_seed: int = 0,
        extra_openings: int = 0,
        start: str = "fixed",
        torus: bool = False,
        readout: str | None = None,
    ) -> None:
        super().__init__(readout)
        self.size = self._int_option("size", size, 2, 16)
        self.maze_seed = self._int_option("maze_seed", maze_seed, 0)
        if not isinstance(torus, bool):
            raise self._error(f"torus={torus!r} is not allowed; torus must be true or false")
        self.torus = torus
        passages = perfect_maze(self.size, self.maze_seed)
        walls = interior_walls(self.size, passages)
        if torus and extra_openings:
            raise self._error(
                f"extra_openings={extra_openings!r} is not allowed with torus=true; a torus has "
                "no walls to open (leave extra_openings at 0)"
            )
        self.extra_openings = self._int_option("extra_openings", extra_openings, 0, len(walls))
        passages |= set(random.Random(self.maze_seed).sample(walls, self.extra_openings))
        if start not in STARTS:
            raise self._error(f"start={start!r} is not allowed; choose one of {', '.join(STARTS)}")
        self.start = start
        if torus:  # no interior walls (the edges wrap: see `neighbour`)
            passages |= set(walls)
        self.passages = frozenset(passages)
        self.n_cells = self.size * self.size
        self.start_cell = 0 if start == "fixed" else None
        self.num_classes = self.n_cells
        self.vocab_size = len(MOVES) + (self.n_cells if start == "shown" else 0)
        self._table = self._transition_table()

    def _transition_table(self) -> torch.Tensor:
        """[cells, vocab]: the cell after each token; a start token places the agent."""
        table = torch.empty(self.n_cells, self.vocab_size, dtype=torch.int64)
        for cell in range(self.n_cells):
            for move in range(len(MOVES)):
                table[cell, move] = self.neighbour(cell, move)
        if self.start == "shown":
            table[:, len(MOVES) :] = torch.arange(self.n_cells)
        return table

    def state_machine(self) -> StateMachine:
        """The agent's cell; it starts top-left, or anywhere when the start is shown."""
        starts = torch.arange(self.n_cells if self.start == "shown" else 1)
        return StateMachine(self._table, starts, torch.arange(self.n_cells))

    def neighbour(self, cell: int, move: int) -> int:
        """The cell a move leads to from `cell` (itself when a wall or the border is in the way;
        on a torus, the next cell around)."""
        row, col = divmod(cell, self.size)
        dr, dc = STEPS[move]
        if self.torus:
            return (row + dr) % self.size * self.size + (col + dc) % self.size
        if not (0 <= row + dr < self.size and 0 <= col + dc < self.size):
            return cell
        other = (row + dr) * self.size + col + dc
        return other if (min(cell, other), max(cell, other)) in self.passages else cell

    def _moves(self, batch_size, length, generator, device) -> torch.Tensor:
        return torch.randint(
            0, len(MOVES), (batch_size, length), generator=generator, device=device
        )

    def _sample(self, batch_size, length, generator, device) -> Batch:
        start = torch.zeros(batch_size, dtype=torch.int64, device=device)
        if self.start == "shown":
            start = torch.randint(
                0, self.n_cells, (batch_size,), generator=generator, device=device
            )
        x = self._moves(batch_size, length, generator, device)
        if self.start == "shown":
            x[:, 0] = start + len(MOVES)
        y = run_automaton(self._table, x, start)
        return Batch(x, y, torch.ones_like(x, dtype=torch.bool))

    def stream_chunk(self, batch_size, length, generator, carry=None):
        """Carry: the agent's cell. The first chunk is a fresh sample; later ones are moves."""
        if carry is None:
            batch = self.sample(batch_size, length, generator)
            return batch, batch.targets[:, -1]
        x = self._moves(batch_size, self.check_length(length), generator, generator.device)
        y = run_automaton(self._table, x, carry)
        mask = torch.ones_like(x, dtype=torch.bool)
        return Batch(x, y, _last_true(mask) if self.readout == "last" else mask), y[:, -1]

    def _reference(self, tokens):
        row = col = 0
        out = []
        for t in tokens:
            if t >= len(MOVES):  # a start token: the agent is placed there
                row, col = divmod(t - len(MOVES), self.size)
            elif self.torus:  # no walls: the walk wraps around the edges
                dr, dc = STEPS[t]
                row, col = (row + dr) % self.size, (col + dc) % self.size
            else:
                dr, dc = STEPS[t]
                r, c = row + dr, col + dc
                inside = 0 <= r < self.size and 0 <= c < self.size
                a, b = sorted((row * self.size + col, r * self.size + c))
                if inside and (a, b) in self.passages:
                    row, col = r, c
            out.append(row * self.size + col)
        return out

    def _position_accuracy(self, length):
        trans = torch.zeros(self.n_cells, self.n_cells, dtype=torch.float64)
        for cell in range(self.n_cells):
            for move in range(len(MOVES)):
                trans[cell, self.neighbour(cell, move)] += 1 / len(MOVES)
        target_of = torch.arange(self.n_cells)
        if self.start == "fixed":
            init = torch.zeros(self.n_cells, dtype=torch.float64)
            init[self.start_cell] = 1.0
            # The chain's first step is the first move (from the start, before any token).
            return markov_mode_probability(init, trans, target_of, length)
        # Position 0 shows a uniform start cell; later positions walk on from it.
        uniform = torch.full((self.n_cells,), 1 / self.n_cells, dtype=torch.float64)
        rest = markov_mode_probability(uniform, trans, target_of, length - 1)
        return torch.cat((torch.tensor([1 / self.n_cells], dtype=torch.float64), rest))

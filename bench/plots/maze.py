"""The maze of each `maze` task in a run: walls, start and one example walk, so a reader sees
what the model must track (the moves are all it sees; the cell is withheld)."""

from __future__ import annotations

import json

import pandas as pd
import torch
from matplotlib.figure import Figure
from statebench.bench.config.labels import with_options
from statebench.bench.plots.style import (
    FULL_WIDTH,
    NEUTRAL_COLOR,
    message_figure,
    new_figure,
    style,
)
from statebench.tasks import get_task
from statebench.tasks.maze import MOVES, STEPS, Maze, interior_walls

WALK_MOVES = 16  # long enough to bump into a wall or two, short enough to follow by eye
WALK_SEEDS = 32  # the example walk is the one of these seeds that visits the most cells
WALK_COLOR = "#0072b2"
BUMP_COLOR = "#d55e00"
START_COLOR = "#009e73"


def maze_tasks(results: pd.DataFrame) -> list[Maze]:
    """The distinct `maze` tasks of a results table (by their recorded options), in label order."""
    if results.empty or "task" not in results.columns:
        return []
    rows = results[results["task"] == "maze"]
    if "task_options" in rows.columns:
        options = rows["task_options"]
    else:
        options = pd.Series(["{}"] * len(rows), dtype=object)
    found = {}
    for raw in options.fillna("{}").astype(str):
        opts = json.loads(raw) if raw.strip() else {}
        opts.pop("readout", None)
        found.setdefault(with_options("maze", opts), opts)
    return [get_task("maze", **found[label]) for label in sorted(found)]


def example_walk(task: Maze) -> tuple[list[int], list[int]]:
    """(moves, cells before and after each move) of a sampled walk that shows the maze well."""
    best = None
    for seed in range(WALK_SEEDS):
        batch = task.sample(1, WALK_MOVES + 1, torch.Generator().manual_seed(seed))
        tokens, cells = batch.inputs[0].tolist(), batch.targets[0].tolist()
        if task.start == "shown":
            moves, path = tokens[1:], cells
        else:
            moves, path = tokens[:WALK_MOVES], [task.start_cell, *cells[:WALK_MOVES]]
        if best is None or len(set(path)) > len(set(best[1])):
            best = (moves, path)
    return best


def draw_maze(ax, task: Maze) -> None:
    """Walls as thick lines (row 0 at the top), the start cell, and an example walk whose
    wall bumps are marked where the agent hit the wall."""
    n = task.size

    def centre(cell: int) -> tuple[float, float]:
        row, col = divmod(cell, n)
        return col + 0.5, n - row - 0.5

    for a, b in interior_walls(n, set(task.passages)):
        row, col = divmod(a, n)
        if b == a + 1:  # a wall to the east of a
            ax.plot([col + 1, col + 1], [n - row - 1, n - row], color="black", lw=2.2)
        else:  # a wall to the south of a
            ax.plot([col, col + 1], [n - row - 1, n - row - 1], color="black", lw=2.2)
    ax.plot([0, n, n, 0, 0], [0, 0, n, n, 0], color="black", lw=2.2)
    for cell in range(task.n_cells):
        x, y = centre(cell)
        ax.text(x - 0.42, y + 0.42, str(cell), fontsize=6, color=NEUTRAL_COLOR, va="top")

    moves, path = example_walk(task)
    sx, sy = centre(path[0])
    ax.add_patch(_square(sx, sy, START_COLOR))
    ax.text(sx, sy, "S", ha="center", va="center", fontsize=8, color="white", weight="bold")
    xs, ys = zip(*(centre(c) for c in path), strict=True)
    ax.plot(xs, ys, color=WALK_COLOR, lw=1.4, alpha=0.7, zorder=2)
    ax.plot(xs[-1], ys[-1], "o", color=WALK_COLOR, ms=6, zorder=3)
    for move, before, after in zip(moves, path[:-1], path[1:], strict=True):
        if before == after:  # a bump: a short bar on the side of the wall it hit
            x, y = centre(before)
            dr, dc = STEPS[move]
            bx, by = x + 0.44 * dc, y - 0.44 * dr
            along = (0.0, 0.15) if dc else (0.15, 0.0)
            ax.plot(
                [bx - along[0], bx + along[0]],
                [by - along[1], by + along[1]],
                color=BUMP_COLOR,
                lw=2.0,
                zorder=3,
            )
    ax.set_xlabel(f"moves: {' '.join(MOVES[m] for m in moves)}", fontsize=7)
    ax.set_xlim(-0.1, n + 0.1)
    ax.set_ylim(-0.1, n + 0.1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _square(x: float, y: float, color: str):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.22, y - 0.22), 0.44, 0.44, color=color, zorder=1)


def plot_maze(results: pd.DataFrame) -> Figure:
    """One panel per distinct `maze` task of the run."""
    mazes = maze_tasks(results)
    if not mazes:
        return message_figure("Maze", "No maze task in this run.")
    with style():
        width = min(FULL_WIDTH, max(3.2, 2.6 * len(mazes)))
        fig = new_figure(width, 2.9)
        for i, task in enumerate(mazes):
            ax = fig.add_subplot(1, len(mazes), i + 1)
            draw_maze(ax, task)
            default = get_task("maze").options()
            opts = {k: v for k, v in task.options().items() if v != default[k]}
            opts.pop("readout", None)
            ax.set_title(with_options("maze", opts), fontsize=8)
        fig.suptitle(
            "Maze: walls black, S the start, blue an example walk (orange: a move into a wall); "
            "the model sees only the moves",
            fontsize=8,
        )
    return fig

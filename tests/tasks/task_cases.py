"""Task configurations shared by the task tests: every registered task, defaults and variants."""

from __future__ import annotations

import statebench.tasks as tasks

# (name, options): the defaults of every task, plus options that change the code path.
CONFIGS: list[tuple[str, dict]] = [(name, {}) for name in tasks.list_tasks()] + [
    ("count_mod", {"k": 2}),
    ("count_mod", {"k": 5}),
    ("majority", {"m": 3}),
    ("modular_sum", {"m": 7}),
    ("permutation", {"group": "A5"}),
    ("permutation", {"group": "S3"}),
    ("permutation", {"group": "Z60"}),
    ("flipflop", {"p_ignore": 0.0}),
    ("flipflop", {"p_ignore": 0.5}),
    ("mqar", {"n_keys": 8, "n_pairs": 8, "n_values": 4}),
    ("mqar", {"n_keys": 32, "n_pairs": 2, "n_values": 8}),
    ("jumps", {"target": "sum", "m": 3}),
    ("jumps", {"n_instructions": 1, "max_jump": 5, "p_jump": 0.6}),
    ("maze", {"size": 5, "maze_seed": 3, "extra_openings": 4}),
    ("maze", {"start": "shown"}),
    ("maze", {"size": 3, "torus": True}),
    ("maze", {"size": 2, "torus": True, "start": "shown"}),
    ("jumps", {"target": "sum", "m": 2, "max_jump": 1, "n_instructions": 2}),
]
READOUTS = ("all", "last")


def config_id(name: str, options: dict) -> str:
    return name + "".join(f"-{k}={v}" for k, v in options.items())


def build(name: str, options: dict, readout: str) -> tasks.Task:
    return tasks.get_task(name, readout=readout, **options)


def valid_lengths(task: tasks.Task, candidates) -> list[int]:
    """The candidates the task can make (each task refuses the others with a ValueError)."""
    out = []
    for n in candidates:
        try:
            out.append(task.check_length(n))
        except ValueError:
            pass
    return out


def short_lengths(task: tasks.Task) -> list[int]:
    """The shortest lengths the task allows, plus a few longer ones, odd and even."""
    lo = task.min_length
    return valid_lengths(task, sorted({1, 2, 3, lo, lo + 1, lo + 2, lo + 3, 8, 33, 34}))

"""Which lengths a cell trains and evaluates on, given what its task can make.

Tasks refuse some lengths (flipflop wants even ones, modular_arithmetic odd ones, mqar at least
2 * n_pairs + 1 tokens). The rules here never step outside what was asked: a length a task
cannot make becomes the nearest one it can make *below* it (so training never goes past
`len_max` and an eval length never claims more than it measured), lengths under a task's
minimum are not drawn at all, and a request with nothing valid at or below it is refused when
the config is validated, never skipped at run time.
"""

from __future__ import annotations

from statebench.tasks import Task


def valid_length_at_most(task: Task, length: int) -> int | None:
    """The longest length <= `length` the task can make; None when there is none."""
    for candidate in range(length, task.min_length - 1, -1):
        try:
            return task.check_length(candidate)
        except ValueError:
            continue
    return None


def nearest_valid_length(task: Task, length: int) -> int:
    """The length a draw of `length` trains on: raised to the task's minimum, else not above it."""
    found = valid_length_at_most(task, max(length, task.min_length))
    if found is None:  # a task whose minimum it cannot make itself
        return task.check_length(task.min_length)  # raises with the task's own message
    return found


def training_range(task: Task, len_min: int, len_max: int) -> tuple[int, int]:
    """The raw range training draws from: [max(len_min, task minimum), len_max]."""
    low = max(len_min, task.min_length)
    if valid_length_at_most(task, len_max) is None or low > len_max:
        raise ValueError(
            f"task {task.name!r}: no length it can make lies in the training range "
            f"[{len_min}, {len_max}] (its lengths are >= {task.min_length}"
            + (f", {task.length_rule}" if task.length_rule else "")
            + "); raise train.len_max"
        )
    return low, len_max


def eval_lengths(task: Task, lengths: list[int]) -> list[int]:
    """The distinct lengths evaluated for requested `lengths`, each mapped down (sorted)."""
    out = set()
    for length in lengths:
        real = valid_length_at_most(task, length)
        if real is None:
            raise ValueError(
                f"task {task.name!r}: eval length {length} is below its shortest length "
                f"{task.min_length}; drop it or raise it"
            )
        out.add(real)
    return sorted(out)

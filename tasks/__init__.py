"""The task library: synthetic state-tracking tasks, each a small class with a plain-Python spec."""

from statebench.tasks.base import Batch, Task
from statebench.tasks.registry import (
    get_task,
    list_tasks,
    register_task,
    task_class,
    task_option_names,
)

# Importing the task modules registers them.
from statebench.tasks import (  # noqa: E402,F401  isort: skip
    count_mod,
    cycle_navigation,
    even_pairs,
    flipflop,
    jumps,
    majority,
    maze,
    modular_arithmetic,
    modular_sum,
    mqar,
    parity,
    permutation,
)

__all__ = [
    "Batch",
    "Task",
    "get_task",
    "list_tasks",
    "register_task",
    "task_class",
    "task_option_names",
]

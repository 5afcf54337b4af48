"""The task library: synthetic state-tracking tasks, each a small class with a plain-Python spec."""

from tasks.base import Batch, Task
from tasks.registry import get_task, list_tasks, register_task, task_class, task_option_names

# Importing the task modules registers them.
from tasks import parity  # noqa: E402,F401  isort: skip

__all__ = [
    "Batch",
    "Task",
    "get_task",
    "list_tasks",
    "register_task",
    "task_class",
    "task_option_names",
]

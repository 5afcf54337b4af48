"""Name -> task class registry, with errors that name what is allowed."""

from __future__ import annotations

import difflib
import inspect

from statebench.tasks.base import Task

_TASKS: dict[str, type[Task]] = {}


def register_task(name: str):
    """Class decorator: make a Task subclass buildable as `get_task(name, **options)`."""

    def deco(cls: type[Task]) -> type[Task]:
        if name in _TASKS and _TASKS[name] is not cls:
            raise ValueError(f"task name {name!r} is already registered by {_TASKS[name]!r}")
        cls.name = name
        _TASKS[name] = cls
        return cls

    return deco


def list_tasks() -> list[str]:
    return sorted(_TASKS)


def task_class(name: str) -> type[Task]:
    if name not in _TASKS:
        close = difflib.get_close_matches(name, list(_TASKS), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(f"unknown task {name!r}{hint}; known tasks: {', '.join(list_tasks())}")
    return _TASKS[name]


def task_option_names(name: str) -> list[str]:
    sig = inspect.signature(task_class(name).__init__)
    return [p for p in sig.parameters if p != "self"]


def get_task(name: str, **options) -> Task:
    """Build a task by name; unknown options are a ValueError listing the allowed ones."""
    cls = task_class(name)
    allowed = task_option_names(name)
    bad = [k for k in options if k not in allowed]
    if bad:
        raise ValueError(
            f"task {name!r}: unknown option(s) {', '.join(map(repr, bad))}; "
            f"allowed: {', '.join(allowed)}"
        )
    return cls(**options)

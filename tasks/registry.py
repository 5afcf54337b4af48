"""Name -> task class registry, with errors that name what is allowed."""

from __future__ import annotations

import difflib
from importlib.metadata import entry_points

from statebench.dotted import import_module
from statebench.tasks.base import Task

ENTRY_POINT_GROUP = "statebench.tasks"
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


def _entry_points() -> dict:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def list_tasks() -> list[str]:
    """Built-in and entry-point tasks (dotted paths are accepted too, but not listed)."""
    return sorted(set(_TASKS) | set(_entry_points()))


def registered_task_class(name: str) -> type[Task] | None:
    """A task registered in this process, or None: never imports anything (for labels and
    plots of stored runs, which must not execute code named in a run directory)."""
    return _TASKS.get(name)


def _import_dotted(name: str) -> object:
    module, _, attr = name.partition(":")
    try:
        obj = import_module(module)  # installed first; from the cwd only the module named
    except ImportError as e:
        raise ValueError(f"task {name!r}: cannot import it ({e})") from e
    except Exception as e:  # the module itself is broken: say so, without a traceback
        raise ValueError(
            f"task {name!r}: importing module {module!r} raised {type(e).__name__}: {e}"
        ) from e
    try:
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as e:
        raise ValueError(f"task {name!r}: cannot import it ({e})") from e
    return obj


def task_class(name: str | type) -> type[Task]:
    """Resolve a registered name, an entry point (group `statebench.tasks`), a dotted path
    `package.module:Class`, or a Task subclass itself."""
    if isinstance(name, type):
        cls: object = name
    elif name in _TASKS:
        return _TASKS[name]
    elif name in (eps := _entry_points()):
        try:
            cls = eps[name].load()
        except Exception as e:  # a broken plugin must say which one it is
            raise ValueError(
                f"task {name!r}: entry point {eps[name].value!r} (group {ENTRY_POINT_GROUP!r}) "
                f"failed to load ({type(e).__name__}: {e})"
            ) from e
    elif ":" in name:
        cls = _import_dotted(name)
    else:
        close = difflib.get_close_matches(name, list_tasks(), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(
            f"unknown task {name!r}{hint}; known tasks: {', '.join(list_tasks())}, "
            "or a dotted path 'package.module:Class'"
        )
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise ValueError(
            f"task {name!r} resolves to {cls!r}, which is not a subclass of statebench.tasks.Task"
        )
    return cls


def task_option_names(name: str) -> list[str]:
    """The options `get_task(name, ...)` accepts (`Task.option_names`: `**kwargs` passed on
    to the base class count as the base's named options, `readout` among them)."""
    return task_class(name).option_names()


def get_task(name: str, **options) -> Task:
    """Build a task by name; unknown options are a ValueError listing the allowed ones."""
    cls = task_class(name)
    allowed = task_option_names(name)
    bad = [k for k in options if k not in allowed]
    if bad:
        raise ValueError(
            f"task {name!r}: unknown option(s) {', '.join(map(repr, bad))}; "
            f"allowed: {', '.join(allowed)} (options are the constructor's named parameters; "
            "**kwargs passes the base class's on)"
        )
    return cls(**options)

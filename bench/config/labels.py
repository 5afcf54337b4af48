"""Display names and order: an arch or task with its options (so variants never merge in tables
or plots), and the canonical order in which tables and figures list them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from statebench.tasks.registry import registered_task_class


def printable(text: object) -> str:
    """`text` with every control and invisible formatting character written as its escape
    (`\\x1b`, `\\u202e`): a label read from a run directory cannot retitle or clear the
    terminal, fake colours, move the cursor or reorder what is shown."""
    value = str(text)
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in value)


def with_options(name: str, options: dict[str, Any] | str | None) -> str:
    """`mamba` + {"eigen": "[-1,1]"} -> `mamba(eigen=[-1,1])`; options may be a JSON string
    (one that is not a JSON object, from a damaged row, is shown as it is)."""
    if isinstance(options, str):
        try:
            options = json.loads(options) if options.strip() else {}
        except ValueError:
            return f"{name}({options})"
    if not isinstance(options, dict):
        return f"{name}({options})" if options else str(name)
    if not options:
        return str(name)
    return f"{name}(" + ",".join(f"{k}={v}" for k, v in sorted(options.items())) + ")"


def task_label(name: str, options: dict[str, Any] | str | None) -> str:
    """A task with its options as tables show it: `dyck(k=2)`. The readout is left out (most
    presets give every task the same one, and the task name implies it)."""
    if isinstance(options, str):
        options = json.loads(options) if options.strip() else {}
    return with_options(name, {k: v for k, v in (options or {}).items() if k != "readout"})


# Attention first, then the recurrent families, then the recurrence-complete frame model.
KNOWN_ARCHS: tuple[str, ...] = (
    "transformer",
    "mamba",
    "mamba2",
    "retnet",
    "deltanet",
    "griffin",
    "hawk",
    "lstm",
    "xlstm",
    "rc_frame",
)
UNREGISTERED_TASK_RANK = 1 << 30  # after every registered task, whatever order it declares


def _unique(names: Iterable) -> set[str]:
    return {str(n) for n in names if n is not None and str(n) not in ("", "nan", "<NA>")}


def arch_order(names: Iterable) -> list[str]:
    """Known archs in their canonical order (attention first, then recurrent), then the rest A-Z."""
    rank = {name: i for i, name in enumerate(KNOWN_ARCHS)}
    return sorted(_unique(names), key=lambda n: (rank.get(n.lower(), len(KNOWN_ARCHS)), n))


def task_order(names: Iterable) -> list[str]:
    """Registered tasks by their declared `display_order` (roughly easy to hard), then the rest
    (unregistered names, labels with options) A-Z."""

    def rank(name: str) -> tuple[int, str]:
        cls = registered_task_class(name.lower())  # never imports: names come from stored runs
        return (cls.display_order, name) if cls else (UNREGISTERED_TASK_RANK, name)

    return sorted(_unique(names), key=rank)

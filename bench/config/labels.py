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


def markup_safe(text: object) -> str:
    """`text` as rich markup shows it literally: `printable`, then markup-escaped."""
    from rich.markup import escape

    return escape(printable(text))


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
# What a baseline's arch labels end with when its cells are shown beside a run's own
# (`statebench report RUN --baseline quick`): `lstm [baseline]`, never merged with `lstm`.
BASELINE_MARK = " [baseline]"


def marked(label: str) -> str:
    """`lstm` -> `lstm [baseline]` (once: marking a marked label changes nothing)."""
    label = str(label)
    return label if is_marked(label) else label + BASELINE_MARK


def is_marked(label: str) -> bool:
    return str(label).endswith(BASELINE_MARK)


def unmarked(label: str) -> str:
    """The arch label without the baseline mark: its colour, family and place in the order."""
    label = str(label)
    return label[: -len(BASELINE_MARK)] if is_marked(label) else label


def _unique(names: Iterable) -> set[str]:
    return {str(n) for n in names if n is not None and str(n) not in ("", "nan", "<NA>")}


def arch_order(names: Iterable) -> list[str]:
    """Known archs in their canonical order (attention first, then recurrent), then the rest A-Z;
    a baseline's archs (`lstm [baseline]`) after all of this run's, in the same order, so the
    archs a run was made to compare lead every table and figure."""
    rank = {name: i for i, name in enumerate(KNOWN_ARCHS)}

    def key(name: str) -> tuple[bool, int, str]:
        base = unmarked(name)
        return (is_marked(name), rank.get(base.lower(), len(KNOWN_ARCHS)), base)

    return sorted(_unique(names), key=key)


def task_order(names: Iterable) -> list[str]:
    """Registered tasks by their declared `display_order` (roughly easy to hard), then the rest
    (unregistered names, labels with options) A-Z."""

    def rank(name: str) -> tuple[int, str]:
        cls = registered_task_class(name.lower())  # never imports: names come from stored runs
        return (cls.display_order, name) if cls else (UNREGISTERED_TASK_RANK, name)

    return sorted(_unique(names), key=rank)

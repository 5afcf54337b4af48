"""Source hashes of outside code (a dotted-path or entry-point adapter or task).

Built-in archs and tasks are covered by the statebench version and git commit stored on every
row; code from outside the package is not, so its source hash joins its cells' key: editing
the adapter gives its cells new keys and they run again instead of silently reusing old rows.
"""

from __future__ import annotations

import hashlib
import inspect


def outside_source_hash(obj: type) -> str | None:
    """A hash of the source of the module defining `obj`; None for statebench's own code."""
    module = inspect.getmodule(obj)
    if module is None or module.__name__.split(".")[0] == "statebench":
        return None
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):  # no source (a compiled or interactive module): name only
        source = f"{module.__name__}:{getattr(obj, '__qualname__', obj)}"
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def cell_code(arch: str, task: str) -> dict[str, str]:
    """{"arch": hash, "task": hash} of whichever of the two comes from outside statebench."""
    from statebench.models.registry import arch_class
    from statebench.tasks.registry import task_class

    hashes = {"arch": outside_source_hash(arch_class(arch)), "task": outside_source_hash(
        task_class(task))}  # fmt: skip
    return {k: v for k, v in hashes.items() if v}

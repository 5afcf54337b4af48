"""The conjecture's two groups of architectures, read off each arch class's declaration.

An arch is time-parallel when its class says so (`Mixer.time_parallel`, or
`is_time_parallel(options)`); recurrence-complete when it declares a serial update. Rows record
the declaration when their cell runs (the `time_parallel` column), so an outside arch is
grouped like a built-in one; for rows from before that column, registered built-in names are
looked up. Nothing is imported: names come from stored rows.
"""

from __future__ import annotations

import json

from statebench.bench.store.schema import as_flag

TIME_PARALLEL = "time-parallel"
RECURRENCE_COMPLETE = "recurrence-complete"
UNDECLARED = "undeclared"


def arch_group(arch: str, options: dict | str | None = None, declared: object = None) -> str:
    """TIME_PARALLEL, RECURRENCE_COMPLETE or UNDECLARED for a stored arch name and options;
    `declared` is the row's `time_parallel` (None or NA: not recorded)."""
    declared = as_flag(declared)
    if declared == declared:  # recorded on the row: the class said so when the cell ran
        return TIME_PARALLEL if declared else RECURRENCE_COMPLETE
    import statebench.models  # noqa: F401  registers the built-in archs
    from statebench.models.registry import _ARCHS  # built-ins only: never imports a name

    if isinstance(options, str):
        options = json.loads(options) if options.strip() else {}
    cls = _ARCHS.get(str(arch))
    declared = cls.is_time_parallel(options or {}) if cls is not None else None
    if declared is None:
        return UNDECLARED
    return TIME_PARALLEL if declared else RECURRENCE_COMPLETE

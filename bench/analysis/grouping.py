"""The conjecture's two groups of architectures, read off each arch class's declaration.

An arch is time-parallel when its class says so (`Mixer.time_parallel`, or
`is_time_parallel(options)`); recurrence-complete when it declares a serial update. Names come
from stored rows: only registered built-in names are looked up, nothing is imported.
"""

from __future__ import annotations

import json

TIME_PARALLEL = "time-parallel"
RECURRENCE_COMPLETE = "recurrence-complete"
UNDECLARED = "undeclared"


def arch_group(arch: str, options: dict | str | None = None) -> str:
    """TIME_PARALLEL, RECURRENCE_COMPLETE or UNDECLARED for a stored arch name and options."""
    import statebench.models  # noqa: F401  registers the built-in archs
    from statebench.models.registry import _ARCHS  # built-ins only: never imports a name

    if isinstance(options, str):
        options = json.loads(options) if options.strip() else {}
    cls = _ARCHS.get(str(arch))
    declared = cls.is_time_parallel(options or {}) if cls is not None else None
    if declared is None:
        return UNDECLARED
    return TIME_PARALLEL if declared else RECURRENCE_COMPLETE

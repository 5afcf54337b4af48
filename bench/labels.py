"""Display names: an arch or task with its options, so variants never merge in tables or plots."""

from __future__ import annotations

import json
from typing import Any


def with_options(name: str, options: dict[str, Any] | str | None) -> str:
    """`mamba` + {"eigen": "[-1,1]"} -> `mamba(eigen=[-1,1])`; options may be a JSON string."""
    if isinstance(options, str):
        options = json.loads(options) if options.strip() else {}
    if not options:
        return str(name)
    return f"{name}(" + ",".join(f"{k}={v}" for k, v in sorted(options.items())) + ")"

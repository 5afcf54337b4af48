"""Which eval lengths a run measured, which its config asked for, and which `statebench eval`
added later (when, and how many rows): a report read after `eval` must say that its averages
now cover more lengths than the configured ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from statebench.bench.analysis.scores import prepare


@dataclass(frozen=True)
class LengthHistory:
    configured: list[int]  # the run config's eval.lengths
    measured: list[int]  # every eval length with a stored row
    added: list[int]  # measured, not configured, named by a `statebench eval`
    remeasured: list[int]  # configured lengths a `statebench eval` measured again
    nearest: list[int]  # measured in place of a length some task cannot make
    evaluations: list[dict[str, Any]] = field(default_factory=list)  # the manifest's entries

    @property
    def changed(self) -> bool:
        """Whether the measured lengths differ from the config's, or eval measured any again."""
        return bool(self.added or self.remeasured or self.nearest)

    def evaluations_text(self) -> str:
        """`statebench eval` runs as a sentence: lengths, when, how many rows."""
        parts = []
        for entry in self.evaluations:
            lengths = _join(entry.get("lengths") or [])
            rows = entry.get("rows")
            samples = entry.get("samples")
            detail = ", ".join(
                x
                for x in (
                    f"{rows} rows" if rows is not None else "",
                    f"{samples} samples per length" if samples else "",
                )
                if x
            )
            when = str(entry.get("at", "")).replace("T", " ")
            parts.append(f"{lengths} on {when}" + (f" ({detail})" if detail else ""))
        return "; ".join(parts)

    def note(self) -> str:
        """What the configuration section says about lengths (empty when nothing changed)."""
        if not self.changed:
            return ""
        text = (
            f"Eval lengths measured: {_join(self.measured)}. The run's config asked for "
            f"{_join(self.configured)}."
        )
        if self.added:
            text += f" Added after training by `statebench eval`: {_join(self.added)}."
        if self.remeasured:
            text += f" Measured again by `statebench eval`: {_join(self.remeasured)}."
        if self.evaluations:
            text += f" `statebench eval` ran: {self.evaluations_text()}."
        if self.nearest:
            text += (
                f" {_join(self.nearest)}: the nearest length a task can make, measured in "
                "place of a configured one it cannot."
            )
        return text + " The `[eval]` table below lists the lengths measured."


def length_history(results: pd.DataFrame, manifest: dict) -> LengthHistory:
    """The run's eval lengths: configured (manifest config), measured (rows), added by eval."""
    config = manifest.get("config") or {}
    configured = sorted({int(x) for x in (config.get("eval") or {}).get("lengths") or []})
    rows = prepare(results) if len(results) else pd.DataFrame({"eval_len": []})
    lengths = rows["eval_len"].to_numpy(dtype=float)
    measured = sorted({int(x) for x in lengths[np.isfinite(lengths) & (lengths > 0)]})
    evaluations = [e for e in manifest.get("evaluations") or [] if isinstance(e, dict)]
    asked = {int(x) for e in evaluations for x in e.get("lengths") or []}
    extra = [n for n in measured if n not in configured]
    return LengthHistory(
        configured=configured,
        measured=measured,
        added=[n for n in extra if n in asked],
        remeasured=sorted(n for n in asked if n in configured),
        nearest=[n for n in extra if n not in asked],
        evaluations=evaluations,
    )


def _join(lengths) -> str:
    values = [str(int(n)) for n in lengths]
    if len(values) <= 1:
        return "".join(values) or "none"
    return ", ".join(values[:-1]) + " and " + values[-1]

"""A baseline beside a run: another run's stored cells (a shipped reference such as `quick`, or
any run directory) in the same tables and figures, marked, and what else differs between them.

The baseline's rows are never rerun. Each of its arch labels ends in `[baseline]`
(bench.config.labels.BASELINE_MARK) and each cell key starts with `baseline:`, so an arch or a
cell present in both runs is shown twice, distinctly: `lstm` (this run) and `lstm [baseline]`,
never averaged together; this run's archs come first (labels.arch_order). Any difference of the
two configs other than the archs (budget, lengths, seeds, tasks and their options, model size,
threads, version) is listed, so a reader knows the two were not measured alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from statebench.bench.analysis.coverage import coverage, with_absent_cells
from statebench.bench.analysis.grouping import RECURRENCE_COMPLETE, TIME_PARALLEL, arch_group
from statebench.bench.config.labels import BASELINE_MARK, marked, with_options

BASELINE_CELL = "baseline:"  # prefix of the baseline's cell keys in a joined table
# Config fields that may differ without a warning: the archs are what is compared; the name,
# description and output folder change no number.
SAME_ANYWAY = ("archs", "name", "description", "out_dir")
# Environment fields (manifest) that change numbers: CPU float sums depend on the thread count.
ENVIRONMENT = ("cpu_threads", "statebench_version")


@dataclass(frozen=True)
class Difference:
    """One setting that differs: its dotted name, this run's value and the baseline's."""

    field: str
    here: str
    baseline: str

    def text(self) -> str:
        return f"{self.field}: {self.here} here, {self.baseline} in the baseline"


@dataclass
class Baseline:
    """A baseline's rows ready to join a run's: marked, its absent cells as placeholders."""

    name: str  # as the user named it: `quick`, or a directory
    where: str  # its folder
    run_id: str
    results: pd.DataFrame
    probes: pd.DataFrame = field(default_factory=pd.DataFrame)
    logs: pd.DataFrame = field(default_factory=pd.DataFrame)
    differences: list[Difference] = field(default_factory=list)

    def join(
        self, results: pd.DataFrame, probes: pd.DataFrame | None, logs: pd.DataFrame | None
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """This run's results, probes and logs with the baseline's rows after them."""
        return (
            _concat(results, self.results),
            _concat(probes, self.probes),
            _concat(logs, self.logs),
        )

    def figure_note(self) -> str:
        """One line under every figure: which cells are the baseline's, and what differs."""
        text = f"{BASELINE_MARK.strip()}: cells of the baseline {self.name} (not rerun)"
        if self.differences:
            text += "; it differs in " + ", ".join(d.field for d in self.differences)
        return text

    def warning(self) -> str:
        """The warning for stderr and the report, '' when only the archs differ."""
        if not self.differences:
            return ""
        lines = [d.text() for d in self.differences]
        return (
            f"this run and the baseline {self.name} differ in more than the arch, so their "
            "cells were not measured alike:\n  " + "\n  ".join(lines)
        )


def make_baseline(
    name: str,
    where: str,
    results: pd.DataFrame,
    probes: pd.DataFrame | None,
    logs: pd.DataFrame | None,
    manifest: dict,
    this_manifest: dict,
    unreadable: tuple[str, ...] = (),
) -> Baseline:
    """The baseline run's tables (as `bench.report.load_run` reads them), marked for joining a
    run whose manifest is `this_manifest`."""
    cells = coverage(results, manifest, unreadable)  # its absent cells count as failed, as ever
    run_id = str(manifest.get("run_id") or name)
    return Baseline(
        name=name,
        where=where,
        run_id=run_id,
        results=mark_rows(with_absent_cells(results, cells)),
        probes=mark_rows(probes),
        logs=mark_rows(logs),
        differences=config_differences(this_manifest, manifest),
    )


def mark_rows(rows: pd.DataFrame | None) -> pd.DataFrame:
    """A copy of a baseline's rows with `[baseline]` labels and `baseline:` cell keys.

    The arch's options fold into its label first (`mamba(eigen=[-1,1]) [baseline]`), and the
    arch's conjecture group, read off its name before the mark hides it, stays on the rows
    (`time_parallel`)."""
    if rows is None or rows.empty:
        return pd.DataFrame() if rows is None else rows.copy()
    out = rows.copy()
    if "arch" in out:
        names = [_text(a) for a in out["arch"]]
        options = (
            [_text(o) for o in out["arch_options"]] if "arch_options" in out else [""] * len(out)
        )
        declared = list(out["time_parallel"]) if "time_parallel" in out else [None] * len(out)
        out["time_parallel"] = pd.array(
            [_flag(arch_group(n, o, d)) for n, o, d in zip(names, options, declared, strict=True)],
            dtype="boolean",
        )
        out["arch"] = [marked(with_options(n, o)) for n, o in zip(names, options, strict=True)]
        out["arch_options"] = ""
    if "label" in out:
        out["label"] = [marked(_text(v)) if _text(v) else v for v in out["label"]]
    if "cell" in out:
        out["cell"] = [BASELINE_CELL + _text(c) for c in out["cell"]]
    return out


def config_differences(this: dict, baseline: dict) -> list[Difference]:
    """Every setting of two manifests that differs, the archs aside: each config field
    (dotted, e.g. `train.steps`; tasks and seeds as sets), then the environment's thread count
    and statebench version."""
    here, there = _settings(this), _settings(baseline)
    found = []
    for key in sorted(set(here) | set(there), key=_field_order):
        a, b = here.get(key, "(unset)"), there.get(key, "(unset)")
        if a != b:
            found.append(Difference(key, a, b))
    return found


def _settings(manifest: dict) -> dict[str, str]:
    """A manifest's settings that a comparison cares about, as display strings by dotted name."""
    config = dict(manifest.get("config") or {})
    for key in SAME_ANYWAY:
        config.pop(key, None)
    if "tasks" in config:
        labels = {with_options(t.get("name", ""), t.get("options") or {}) for t in config["tasks"]}
        config["tasks"] = sorted(labels)
    if "seeds" in config:
        config["seeds"] = sorted(config["seeds"])
    flat = _flatten(config)
    environment = manifest.get("environment") or {}
    for key in ENVIRONMENT:
        if environment.get(key) not in (None, ""):
            flat[f"environment.{key}"] = str(environment[key])
    return flat


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif value is not None:
            flat[name] = _show(value)
    return flat


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _field_order(name: str) -> tuple[int, str]:
    """Tasks, seeds and lengths first (what a reader checks first), then A-Z."""
    first = ("tasks", "seeds", "train.steps", "train.len_min", "train.len_max", "eval.lengths")
    return (first.index(name) if name in first else len(first), name)


def _flag(group: str) -> bool | None:
    return {TIME_PARALLEL: True, RECURRENCE_COMPLETE: False}.get(group)


def _text(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def _concat(first: pd.DataFrame | None, second: pd.DataFrame) -> pd.DataFrame:
    frames = [f for f in (first, second) if f is not None and not f.empty]
    if not frames:
        return first if first is not None else pd.DataFrame()
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True)

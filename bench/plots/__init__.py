"""Figures of a statebench run: each takes a DataFrame and returns a matplotlib Figure.

Plot functions never load files or touch pyplot's global state; `bench.report` loads a run and
calls them, and `save_figure` writes PNG + SVG. `FIGURES` maps the CLI's `--kind` names to the
plot functions; `FIGURE_TABLES` says which table each one reads ("results" rows from
`bench.store.load`, or "probes" from `bench.store.load_probes`).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from matplotlib.figure import Figure
from statebench.bench.analysis.learning import label_training_log
from statebench.bench.analysis.scores import headline_score, select_best_config
from statebench.bench.analysis.summary import several_train_lengths, summarize_headline
from statebench.bench.plots.accuracy import plot_accuracy_vs_length
from statebench.bench.plots.critical_time import plot_critical_time
from statebench.bench.plots.heatmap import plot_heatmap
from statebench.bench.plots.learning import plot_learning
from statebench.bench.plots.maze import maze_tasks, plot_maze
from statebench.bench.plots.output import figure_bytes, save_figure
from statebench.bench.plots.seqlen import plot_seqlen_scaling, plot_seqlen_time
from statebench.bench.plots.size import plot_size
from statebench.bench.plots.style import (
    arch_color,
    arch_colors,
    arch_marker,
    arch_markers,
    nothing_to_draw,
)
from statebench.bench.plots.wallclock import plot_wallclock

FIGURES: dict[str, Callable[..., Figure]] = {
    "accuracy": plot_accuracy_vs_length,
    "heatmap": plot_heatmap,
    "critical_time": plot_critical_time,
    "wallclock": plot_wallclock,
    "size": plot_size,
    "maze": plot_maze,
    "learning": plot_learning,
    "seqlen_scaling": plot_seqlen_scaling,
    "seqlen_time": plot_seqlen_time,
}
# The table each figure reads: "probes", "logs" (training logs labelled by their cells'
# result rows), else "results".
FIGURE_TABLES: dict[str, str] = {
    "critical_time": "probes",
    "learning": "logs",
    "seqlen_scaling": "logs",
    "seqlen_time": "logs",
}
# Figures that only some runs have something for (cheap checks on the result rows; a figure
# that finds nothing to draw once built says so too: `nothing_to_draw`).
FIGURE_APPLIES: dict[str, Callable[[pd.DataFrame], bool]] = {
    "maze": lambda results: bool(maze_tasks(results)),
    "seqlen_scaling": lambda results: several_train_lengths(results),
    "seqlen_time": lambda results: several_train_lengths(results),
}
FIGURE_CAPTIONS: dict[str, str] = {
    "accuracy": "Out-of-distribution token accuracy vs eval length per task: beyond the "
    "training range, accuracy on the positions past it only (inside it, on every position); "
    "mean over seeds with a 95% t-interval band (no band with one seed); grey: training "
    "lengths; dashed: chance. Cells that did not learn in-distribution draw no line and are "
    "named 'not learned'.",
    "heatmap": "Headline score (mean out-of-distribution scaled accuracy over eval lengths "
    "beyond the training range) per arch x task: left/top mean over seeds ± 95% CI, "
    "right/bottom best of N seeds. Hatched: failed, not learned or missing cells, with their "
    "status.",
    "critical_time": "Critical time t* per arch x task (log scale), one point per seed with a "
    "bootstrap 95% interval; open markers with an arrow: censored (no drop up to the reached "
    "length, so t* is a lower bound); dotted: max training length.",
    "wallclock": "Training throughput per arch, and eval time vs eval length (log-log) with the "
    "power-law exponent fitted by least squares in log space.",
    "size": "Parameter count and state size (floats per sequence at the longest eval length).",
    "maze": "The maze of each maze task: walls, start (S) and one example walk; the model sees "
    "only the moves and must output the cell.",
    "seqlen_scaling": "Training-length study: final loss on the shared held-out set (median "
    "of the last five checks) vs the trained length (log-log), one marker per cell; dashed: "
    "the least-squares power law loss ~ a * L^b, with b and its 95% interval in the legend.",
    "seqlen_time": "Training-length study: held-out loss vs wall time, a panel per arch x task "
    "and a line per trained length; equal wall clock per cell.",
    "learning": "Training loss (log scale) vs step and vs wall time, one line per cell, from "
    "the per-cell training logs; dashed: loss on the fixed validation set. A training batch's "
    "loss swings with the length drawn for it (a batch of very short sequences is easy), so "
    "read progress off the validation line.",
}


def figure_applies(
    kind: str,
    results: pd.DataFrame,
    probes: pd.DataFrame | None = None,
    logs: pd.DataFrame | None = None,
) -> bool:
    """Whether the run has anything for figure `kind` (else the report and `--kind all` skip
    it): its own check on the result rows, and rows in the table it reads (probe rows for the
    critical-time figure, training-log rows for the learning curves)."""
    table = {"probes": probes, "logs": logs}.get(FIGURE_TABLES.get(kind, "results"), results)
    if table is None or table.empty:
        return False
    applies = FIGURE_APPLIES.get(kind)
    return applies is None or applies(results)


def make_figure(
    kind: str,
    results: pd.DataFrame,
    probes: pd.DataFrame | None = None,
    logs: pd.DataFrame | None = None,
    **options,
) -> Figure:
    """Build figure `kind` from whichever table it reads; ValueError names the known kinds."""
    if kind not in FIGURES:
        raise ValueError(f"unknown figure kind {kind!r}; choose one of: {', '.join(FIGURES)}")
    source = FIGURE_TABLES.get(kind)
    if source == "logs":
        table = label_training_log(logs, results)
    else:
        table = probes if source == "probes" else results
    if table is None:
        table = pd.DataFrame()
    return FIGURES[kind](table, **options)


__all__ = [
    "FIGURES",
    "FIGURE_CAPTIONS",
    "FIGURE_APPLIES",
    "FIGURE_TABLES",
    "arch_color",
    "arch_colors",
    "arch_marker",
    "arch_markers",
    "figure_applies",
    "figure_bytes",
    "headline_score",
    "make_figure",
    "nothing_to_draw",
    "plot_accuracy_vs_length",
    "plot_critical_time",
    "plot_heatmap",
    "plot_learning",
    "plot_maze",
    "plot_seqlen_scaling",
    "plot_seqlen_time",
    "plot_size",
    "plot_wallclock",
    "save_figure",
    "select_best_config",
    "summarize_headline",
]

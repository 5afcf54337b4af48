"""Critical time t*: the length where each architecture stops aggregating correctly.

The signature measurement. Each seed's t* is a point with its bootstrap 95% interval; a
censored probe (no drop up to the longest length measured) is the arch's marker, open, at the
reached length with an arrow up and a "> L" label, since its t* is only a lower bound. A seed
with no t* (not learned, or a failed probe) is a small cross (or "!") in the arch's colour at
the foot of its slot, named in the legend: a word there would run across the training-length
line. The training length is marked per task so t* reads as "how far past training".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory
from statebench.bench.analysis.probes import prepare_probes, probe_outcomes
from statebench.bench.plots.style import (
    FULL_WIDTH,
    GRID_COLOR,
    NEUTRAL_COLOR,
    arch_colors,
    arch_markers,
    arch_order,
    figure_legend,
    format_length,
    log2_length_axis,
    message_figure,
    new_figure,
    style,
    task_order,
    wrap_label,
)


def _title(rows: pd.DataFrame) -> str:
    name = rows.attrs.get("threshold_name")
    if name == "half":
        return "critical time t* (halfway between chance and in-distribution accuracy)"
    return f"critical time t* (threshold {name})" if name else "critical time t*"


def _slot_offsets(n: int, width: float = 0.8) -> np.ndarray:
    """x offsets that spread n archs across one task's slot."""
    return np.linspace(-width / 2, width / 2, n + 2)[1:-1] if n > 1 else np.zeros(1)


NOT_LEARNED_MARK = "x"  # a seed that never learned its task in distribution: no t*
FAILED_MARK = "$!$"  # a probe that failed (diverged, oom, error): no t*


def _draw_measured(ax, xs: np.ndarray, rows: pd.DataFrame, arch: str, look) -> list[float]:
    """Measured seeds: t* with its interval; returns the y range drawn."""
    t = rows["t_star"].to_numpy()
    lo = np.fmin(rows["t_star_lo"].to_numpy(), t)  # fmin: a NaN bound -> t
    # hi NaN: the interval is unbounded within what was measured, so it reaches reached_len
    hi = rows["t_star_hi"].to_numpy()
    hi = np.fmax(np.where(np.isfinite(hi), hi, rows["reached_len"].to_numpy()), t)
    ax.errorbar(
        xs,
        t,
        yerr=np.vstack([t - lo, hi - t]),
        fmt=look[1][arch],
        color=look[0][arch],
        markersize=4.5,
        capsize=1.5,
        elinewidth=0.9,
        label=arch,
        gid=f"tstar:{arch}",
    )
    return [float(lo.min()), float(hi.max())]


def _draw_censored(ax, x: float, xs: np.ndarray, rows: pd.DataFrame, arch: str, look):
    """Censored seeds, a lower bound: the arch's marker, open, at the reached length, with an
    arrow up; returns the y range drawn and the "> L" label (with why a budget stopped it),
    which the task slot writes once for every arch that shares it."""
    color = look[0][arch]
    reached = rows["reached_len"].to_numpy()
    reached = np.where(reached > 0, reached, rows["max_len"].to_numpy())
    ax.plot(
        xs,
        reached,
        linestyle="none",
        marker=look[1][arch],
        markersize=4.5,
        markerfacecolor="white",
        markeredgecolor=color,
        markeredgewidth=1.2,
        label=f"_censored:{arch}",
        gid=f"censored:{arch}",
    )
    top = float(np.nanmax(reached))
    ax.annotate(
        "",
        xy=(x, top * 2.0),
        xytext=(x, top * 1.15),
        arrowprops={"arrowstyle": "-|>", "color": color, "linewidth": 1.2, "mutation_scale": 7},
    )
    stopped = rows["stopped_by"].to_numpy() if "stopped_by" in rows else []
    why = "/".join(sorted({str(s).replace("_budget", "") for s in stopped if s}))
    label = f">{format_length(top)}" + (f"\n{why}" if why else "")
    return [float(np.nanmin(reached)), top * 3.0], (label, top, x, color)


def _write_bounds(ax, bounds: list[tuple[str, float, float, str]]) -> None:
    """One "> L" label per distinct bound in a task slot, centred over the archs that share
    it (in their colour when only one does): side by side, per-arch labels overlap."""
    for label in dict.fromkeys(b[0] for b in bounds):
        same = [b for b in bounds if b[0] == label]
        colors = {b[3] for b in same}
        ax.annotate(
            label,
            (float(np.mean([b[2] for b in same])), max(b[1] for b in same) * 2.0),
            xytext=(0, 1),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=6.5,
            color=colors.pop() if len(colors) == 1 else NEUTRAL_COLOR,
            linespacing=1.0,
        )


def _draw_failed(ax, x: float, rows: pd.DataFrame, arch: str, look) -> set[str]:
    """Seeds with no t*: a cross (not learned) or "!" (failed) at the foot of the slot, in the
    arch's colour; returns the marks drawn (for the legend)."""
    statuses = {str(s) for s in rows["status"].to_numpy()}
    mark = NOT_LEARNED_MARK if statuses == {"not_learned"} else FAILED_MARK
    ax.plot(
        [x],
        [0.04],
        transform=blended_transform_factory(ax.transData, ax.transAxes),
        linestyle="none",
        marker=mark,
        markersize=4.5,
        color=look[0][arch],
        gid=f"status:{arch}:{'/'.join(sorted(statuses))}",
    )
    return {mark}


def _draw_group(ax, x: float, rows: pd.DataFrame, arch: str, spread: float, bounds: list, look):
    """One arch x task: seeds side by side; returns the y values that the axis must show and
    adds its censored bound's label to `bounds` (and its no-t* marks to look[2])."""
    xs = x + (np.linspace(-spread, spread, len(rows)) if len(rows) > 1 else np.zeros(1))
    measured, censored = probe_outcomes(rows)
    shown: list[float] = []
    if measured.any():
        shown += _draw_measured(ax, xs[measured], rows[measured], arch, look)
    if censored.any():
        drawn, bound = _draw_censored(ax, x, xs[censored], rows[censored], arch, look)
        shown += drawn
        bounds.append(bound)
    failed = ~(measured | censored)
    if failed.any():
        look[2].update(_draw_failed(ax, x, rows[failed], arch, look))
    return shown


def _y_limits(values: list[float], room_below: bool) -> tuple[float, float]:
    """Log-axis limits around the values; with room at the bottom for status labels."""
    lo, hi = max(min(values), 1.0), max(values)
    if not room_below:
        return lo / 1.6, hi * 1.3
    # put the lowest value ~25% up the axis: log(lo/b) = 0.25 * log(hi/b)
    bottom = 10 ** ((np.log10(lo) - 0.25 * np.log10(hi)) / 0.75)
    return min(bottom, lo / 1.6), hi * 1.3


def _task_slot(ax, i: int, task_rows: pd.DataFrame, archs, offsets, spread, look) -> list[float]:
    """One task's slot: the max training length dotted, then each arch's seeds."""
    shown: list[float] = []
    train = task_rows["train_len_max"].max()
    if np.isfinite(train) and train > 0:
        ax.hlines(train, i - 0.45, i + 0.45, color=NEUTRAL_COLOR, ls=":", lw=1.2, zorder=1)
        shown.append(float(train))
    bounds: list[tuple[str, float, float, str]] = []
    for offset, arch in zip(offsets, archs, strict=True):
        group = task_rows[task_rows["arch"] == arch]
        if not group.empty:
            shown += _draw_group(ax, i + offset, group, arch, spread, bounds, look)
    _write_bounds(ax, bounds)
    return shown


def _legend(fig, archs: list[str], present: set[str], width: float, look) -> None:
    colors, markers, marks = look
    handles = [
        Line2D([], [], color=colors[a], marker=markers[a], linestyle="none", label=a)
        for a in archs
        if a in present
    ]
    for mark, text in ((NOT_LEARNED_MARK, "not learned: no t*"), (FAILED_MARK, "failed: no t*")):
        if mark in marks:
            handles.append(
                Line2D([], [], color=NEUTRAL_COLOR, marker=mark, linestyle="none", label=text)
            )
    censored = Line2D(
        [], [], linestyle="none", marker="$\\uparrow$", markersize=8, color=NEUTRAL_COLOR,
        label="censored: t* > reached length",
    )  # fmt: skip
    handles += [
        censored,
        Line2D([], [], color=NEUTRAL_COLOR, linestyle=":", label="max training length"),
    ]
    figure_legend(fig, handles, "outside lower center", 6 if width > 5 else 3)


def plot_critical_time(probes: pd.DataFrame, threshold_name: str | None = None) -> Figure:
    """t* per arch x task (log y) from the probe table; censored probes drawn as lower bounds."""
    if probes is None or probes.empty:
        return message_figure(
            "Critical time t*", "no probe results in this run\n(t* is measured by the probe step)"
        )
    rows = prepare_probes(probes, threshold_name)
    if rows.empty:
        return message_figure("Critical time t*", f"no probe results at threshold {threshold_name}")
    tasks, archs = task_order(rows["task"]), arch_order(rows["arch"])
    look = (arch_colors(archs), arch_markers(archs), set())  # colours, markers, no-t* marks
    offsets = _slot_offsets(len(archs))
    spread = 0.25 * (0.8 / (len(archs) + 1))  # seeds within an arch's share of the slot
    with style():
        width = min(FULL_WIDTH, 2.4 + 0.35 * len(tasks) * (len(archs) + 1))
        fig = new_figure(width, 3.4)
        ax = fig.add_subplot()
        shown: list[float] = []
        for i, task in enumerate(tasks):
            shown += _task_slot(ax, i, rows[rows["task"] == task], archs, offsets, spread, look)
        for i in range(1, len(tasks)):  # faint separators between task slots
            ax.axvline(i - 0.5, color=GRID_COLOR, linewidth=0.8)
        labels = [wrap_label(t) for t in tasks]
        ax.set_xticks(range(len(tasks)), labels, rotation=20 if len(tasks) > 4 else 0)
        ax.set_xlim(-0.5, len(tasks) - 0.5)
        ax.grid(False, axis="x")
        log2_length_axis(ax, "y")
        if shown:
            ax.set_ylim(*_y_limits(shown, room_below=bool((rows["status"] != "ok").any())))
        ax.set_ylabel("t* (tokens)")
        ax.set_title(_title(rows))
        _legend(fig, archs, set(rows["arch"]), width, look)
    return fig

"""Critical time t*: the length where each architecture stops aggregating correctly.

The signature measurement. Each seed's t* is a point with its bootstrap 95% interval; a
censored probe (no drop up to the longest length measured) is the arch's marker, open, at the
reached length with an arrow up and a "> L" label, since its t* is only a lower bound. The
training length is marked per task so t* reads as "how far past training".
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
    arch_color,
    arch_marker,
    arch_order,
    format_length,
    legend_columns,
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


def _draw_measured(ax, xs: np.ndarray, rows: pd.DataFrame, arch: str) -> list[float]:
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
        fmt=arch_marker(arch),
        color=arch_color(arch),
        markersize=4.5,
        capsize=1.5,
        elinewidth=0.9,
        label=arch,
        gid=f"tstar:{arch}",
    )
    return [float(lo.min()), float(hi.max())]


def _draw_censored(ax, x: float, xs: np.ndarray, rows: pd.DataFrame, arch: str):
    """Censored seeds, a lower bound: the arch's marker, open, at the reached length, with an
    arrow up; returns the y range drawn and the "> L" label (with why a budget stopped it),
    which the task slot writes once for every arch that shares it."""
    color = arch_color(arch)
    reached = rows["reached_len"].to_numpy()
    reached = np.where(reached > 0, reached, rows["max_len"].to_numpy())
    ax.plot(
        xs,
        reached,
        linestyle="none",
        marker=arch_marker(arch),
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


def _draw_failed(ax, x: float, rows: pd.DataFrame, arch: str) -> None:
    """Seeds with no t* (failed, not learned): their status, written up from the x axis."""
    statuses = {str(s).replace("_", " ") for s in rows["status"].to_numpy()}
    ax.text(
        x,
        0.02,
        "/".join(sorted(statuses)),  # not_learned -> "not learned"
        transform=blended_transform_factory(ax.transData, ax.transAxes),
        rotation=90,
        ha="center",
        va="bottom",
        fontsize=6.5,
        color=NEUTRAL_COLOR,
        gid=f"status:{arch}",
    )


def _draw_group(ax, x: float, rows: pd.DataFrame, arch: str, spread: float, bounds: list):
    """One arch x task: seeds side by side; returns the y values that the axis must show and
    adds its censored bound's label to `bounds`."""
    xs = x + (np.linspace(-spread, spread, len(rows)) if len(rows) > 1 else np.zeros(1))
    measured, censored = probe_outcomes(rows)
    shown: list[float] = []
    if measured.any():
        shown += _draw_measured(ax, xs[measured], rows[measured], arch)
    if censored.any():
        drawn, bound = _draw_censored(ax, x, xs[censored], rows[censored], arch)
        shown += drawn
        bounds.append(bound)
    failed = ~(measured | censored)
    if failed.any():
        _draw_failed(ax, x, rows[failed], arch)
    return shown


def _y_limits(values: list[float], room_below: bool) -> tuple[float, float]:
    """Log-axis limits around the values; with room at the bottom for status labels."""
    lo, hi = max(min(values), 1.0), max(values)
    if not room_below:
        return lo / 1.6, hi * 1.3
    # put the lowest value ~25% up the axis: log(lo/b) = 0.25 * log(hi/b)
    bottom = 10 ** ((np.log10(lo) - 0.25 * np.log10(hi)) / 0.75)
    return min(bottom, lo / 1.6), hi * 1.3


def _task_slot(ax, i: int, task_rows: pd.DataFrame, archs, offsets, spread) -> list[float]:
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
            shown += _draw_group(ax, i + offset, group, arch, spread, bounds)
    _write_bounds(ax, bounds)
    return shown


def _legend(fig, archs: list[str], present: set[str], width: float) -> None:
    handles = [
        Line2D([], [], color=arch_color(a), marker=arch_marker(a), linestyle="none", label=a)
        for a in archs
        if a in present
    ]
    censored = Line2D(
        [], [], linestyle="none", marker="$\\uparrow$", markersize=8, color=NEUTRAL_COLOR,
        label="censored: t* > reached length",
    )  # fmt: skip
    handles += [
        censored,
        Line2D([], [], color=NEUTRAL_COLOR, linestyle=":", label="max training length"),
    ]
    columns = legend_columns(len(handles), 6 if width > 5 else 3)
    fig.legend(handles=handles, loc="outside lower center", ncols=columns)


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
    offsets = _slot_offsets(len(archs))
    spread = 0.25 * (0.8 / (len(archs) + 1))  # seeds within an arch's share of the slot
    with style():
        width = min(FULL_WIDTH, 2.4 + 0.35 * len(tasks) * (len(archs) + 1))
        fig = new_figure(width, 3.4)
        ax = fig.add_subplot()
        shown: list[float] = []
        for i, task in enumerate(tasks):
            shown += _task_slot(ax, i, rows[rows["task"] == task], archs, offsets, spread)
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
        _legend(fig, archs, set(rows["arch"]), width)
    return fig

"""Wall-clock cost: training throughput per arch, and how eval time scales with length.

The eval panel is log-log with a least-squares power-law fit per arch; its exponent (1 for a
linear-time recurrence, 2 for full attention without a cache) is printed in the legend, which
makes a claimed complexity checkable from the measurements. The legend sits under the panels,
never over their points. The throughput axis turns logarithmic when the archs' throughputs span
a decade or more (a slow arch's bar would vanish on a linear one).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from statebench.bench.analysis.scores import cell_columns, ok_rows
from statebench.bench.analysis.stats import fit_power_law
from statebench.bench.plots.style import (
    FULL_WIDTH,
    arch_colors,
    arch_markers,
    arch_order,
    count_axis,
    figure_legend,
    format_count,
    log2_length_axis,
    message_figure,
    new_figure,
    style,
)


def eval_time_rows(df: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Rows with a positive eval time, and the quantity plotted: per sequence when n_eval is known.

    Dividing by n_eval keeps the exponent honest when long lengths are evaluated on fewer
    sequences to bound the budget.
    """
    rows = ok_rows(df)
    rows = rows[np.isfinite(rows["eval_seconds"]) & (rows["eval_seconds"] > 0)]
    per_sequence = bool(len(rows)) and bool((rows["n_eval"] > 0).all())
    seconds = rows["eval_seconds"] / rows["n_eval"] if per_sequence else rows["eval_seconds"]
    label = "eval time per sequence (s)" if per_sequence else "eval time (s)"
    return rows.assign(seconds=seconds), label


def eval_time_exponents(df: pd.DataFrame) -> dict[str, float]:
    """Per arch, the fitted exponent b in eval_time ~ L**b (NaN with fewer than two lengths)."""
    rows, _ = eval_time_rows(df)
    return {
        arch: fit_power_law(g["eval_len"], g["seconds"]).exponent
        for arch, g in rows.groupby("arch")
    }


LOG_SPAN = 10.0  # max / min throughput from which the axis is logarithmic


def _throughput_panel(ax, df: pd.DataFrame, archs: list[str], look) -> None:
    """Bars at the median over cells (linear axis, so ratios read directly, unless the values
    span a decade: then log), dots for each cell."""
    colors, markers = look
    rows = ok_rows(df)
    rows = rows[np.isfinite(rows["tokens_per_second"]) & (rows["tokens_per_second"] > 0)]
    per_cell = rows.drop_duplicates(cell_columns(rows))  # throughput is per cell, not per length
    shown = [a for a in archs if (per_cell["arch"] == a).any()]
    values_all = per_cell["tokens_per_second"]
    log = len(shown) > 0 and float(values_all.max()) >= LOG_SPAN * float(values_all.min())
    floor = float(values_all.min()) / 2 if log else 0.0  # where a bar starts on a log axis
    for y, arch in enumerate(shown):
        values = per_cell.loc[per_cell["arch"] == arch, "tokens_per_second"].to_numpy()
        color = colors[arch]
        median = float(np.median(values))
        ax.barh(
            y,
            median - floor,
            left=floor,
            color=color,
            alpha=0.35,
            height=0.6,
            gid=f"throughput:{arch}",
        )
        jitter = np.linspace(-0.18, 0.18, len(values)) if len(values) > 1 else np.zeros(1)
        ax.plot(
            values,
            y + jitter,
            linestyle="none",
            marker=markers[arch],
            color=color,
            markersize=3,
            alpha=0.8,
        )
        ax.annotate(
            format_count(median),
            (values.max(), y),
            xytext=(5, 0),
            textcoords="offset points",
            va="center",
            ha="left",
            fontsize=7,
        )
    ax.set_yticks(range(len(shown)), shown)
    ax.set_ylim(max(len(shown), 1) - 0.5, -0.5)  # first arch on top; no arch: an empty row
    count_axis(ax, "x", log=log)
    ax.set_xlabel("training throughput (tokens/s" + (", log scale)" if log else ")"))
    ax.set_title("training throughput\n(bar: median; dots: cells)")
    ax.grid(False, axis="y")
    if log:
        ax.set_xlim(floor, float(values_all.max()) * 3)  # room for the value labels
    elif len(shown):
        ax.set_xlim(0, per_cell["tokens_per_second"].max() * 1.25)  # room for the value labels
    else:
        ax.text(0.5, 0.5, "no throughput recorded", transform=ax.transAxes, ha="center")


def _eval_panel(ax, df: pd.DataFrame, archs: list[str], look) -> None:
    colors, markers = look
    rows, ylabel = eval_time_rows(df)
    for arch in archs:
        g = rows[rows["arch"] == arch]
        if g.empty:
            continue
        color = colors[arch]
        mean = g.groupby("eval_len")["seconds"].mean()
        fit = fit_power_law(g["eval_len"], g["seconds"])
        label = f"{arch} (slope {fit.exponent:.2f})" if np.isfinite(fit.exponent) else arch
        ax.plot(
            mean.index,
            mean.to_numpy(),
            linestyle="none",
            marker=markers[arch],
            color=color,
            markersize=4,
            zorder=3,
        )
        if np.isfinite(fit.exponent):
            xs = np.geomspace(mean.index.min(), mean.index.max(), 50)
            ax.plot(
                xs,
                fit(xs),
                color=color,
                linewidth=1.2,
                marker=markers[arch],
                markevery=[],
                label=label,
                gid=f"fit:{arch}",
            )
        else:
            ax.plot([], [], color=color, marker=markers[arch], label=label)
    log2_length_axis(ax, "x")
    ax.set_yscale("log")
    ax.set_xlabel("eval length")
    ax.set_ylabel(ylabel)
    ax.set_title("eval time vs length\n(line: power-law fit)")
    if len(rows):  # under both panels: never over a point, and the panels keep their width
        handles, _ = ax.get_legend_handles_labels()
        figure_legend(ax.figure, handles, "outside lower center", max_columns=3)
    else:
        ax.text(0.5, 0.5, "no eval times recorded", transform=ax.transAxes, ha="center")


def plot_wallclock(df: pd.DataFrame, title: str | None = None) -> Figure:
    """Training tokens/s per arch, and eval time vs length (log-log) with fitted slopes."""
    rows = ok_rows(df)
    if rows.empty:
        return message_figure("Wall-clock", "no successful results to plot")
    archs = arch_order(rows["arch"])
    look = (arch_colors(archs), arch_markers(archs))
    with style():
        legend_rows = -(-len(archs) // 3)
        fig = new_figure(FULL_WIDTH, max(2.8, 1.2 + 0.32 * len(archs)) + 0.2 * legend_rows)
        left, right = fig.subplots(1, 2, width_ratios=[1, 1.25])
        _throughput_panel(left, df, archs, look)
        _eval_panel(right, df, archs, look)
        if title:
            fig.suptitle(title)
    return fig

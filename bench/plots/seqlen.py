"""The training-length study's two figures (Keiblinger 2025's two claims, per architecture).

`plot_seqlen_scaling`: final held-out loss against the trained length on log-log axes, with the
fitted power law and its exponent (95% interval) per arch: a straight line is a power law.
`plot_seqlen_time`: held-out loss against wall time, one line per trained length: if longer
training amortizes its cost, the long-length lines end lower at equal time.
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from statebench.bench.analysis.seqlen import final_losses, is_length_study, scaling_exponents
from statebench.bench.plots.style import (
    FULL_WIDTH,
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
)

NO_STUDY = "no training-length study in this run (set train_lengths to two or more lengths)"


def _exponent_text(row: pd.Series) -> str:
    if not np.isfinite(row["exponent"]):
        return "b = n/a"
    if np.isfinite(row["lo"]):
        return f"b = {row['exponent']:.2f} [{row['lo']:.2f}, {row['hi']:.2f}]"
    return f"b = {row['exponent']:.2f}"


def plot_seqlen_scaling(logs: pd.DataFrame, title: str | None = None) -> Figure:
    """A panel per task: final validation loss vs training length (log-log), a line per arch
    with its fitted power law (dashed) and the exponent b with its 95% interval in the legend."""
    if not is_length_study(logs):
        return message_figure("Loss vs training length", NO_STUDY)
    final = final_losses(logs)
    fits = scaling_exponents(final).set_index(["arch", "task"])
    tasks = task_order(final["task"])
    colors, markers = arch_colors(final["arch"]), arch_markers(final["arch"])
    with style():
        fig = new_figure(FULL_WIDTH, 4.2)
        axes = fig.subplots(1, len(tasks), squeeze=False)[0]
        for ax, task in zip(axes, tasks, strict=True):
            rows = final[final["task"] == task]
            for arch in arch_order(rows["arch"]):
                points = rows[rows["arch"] == arch].sort_values("train_len")
                color = colors[arch]
                fit = fits.loc[(arch, task)]
                ax.plot(
                    points["train_len"],
                    points["loss"],
                    color=color,
                    marker=markers[arch],
                    linestyle="none",
                    label=f"{arch}: {_exponent_text(fit)}",
                )
                if np.isfinite(fit["exponent"]):
                    xs = np.geomspace(points["train_len"].min(), points["train_len"].max(), 20)
                    ax.plot(xs, fit["prefactor"] * xs ** fit["exponent"], color=color, ls="--")
            ax.set_yscale("log")
            log2_length_axis(ax, "x")
            ax.set_xlabel("training length (tokens)")
            ax.set_ylabel("final validation loss")
            ax.set_title(task)
            # below the panel: the points span the whole axes
            ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=1)
        fig.suptitle(title or "Loss vs training length: fitted power law loss ~ a * L^b")
    return fig


def plot_seqlen_time(logs: pd.DataFrame, title: str | None = None) -> Figure:
    """A row per task, a panel per arch: validation loss vs wall seconds, a line per length."""
    if not is_length_study(logs):
        return message_figure("Loss vs wall time per training length", NO_STUDY)
    rows = logs[np.isfinite(logs["val_loss"]) & (logs["val_loss"] > 0)]
    if rows.empty:
        return message_figure("Loss vs wall time per training length", "no validation loss logged")
    tasks, archs = task_order(rows["task"]), arch_order(rows["arch"])
    lengths = sorted(rows["train_len_max"].unique())
    colors = mpl.colormaps["viridis"](np.linspace(0, 0.9, len(lengths)))
    color_of = dict(zip(lengths, colors, strict=True))
    with style():
        fig = new_figure(FULL_WIDTH, 0.9 + 1.9 * len(tasks))
        axes = fig.subplots(len(tasks), len(archs), squeeze=False, sharey="row")
        for i, task in enumerate(tasks):
            for j, arch in enumerate(archs):
                ax = axes[i, j]
                part = rows[(rows["task"] == task) & (rows["arch"] == arch)]
                for _, curve in part.groupby("cell", sort=False):
                    length = curve["train_len_max"].iloc[0]
                    ax.plot(  # markers: a long length may get only one or two checks
                        curve["seconds"], curve["val_loss"], color=color_of[length], lw=1,
                        marker="o", markersize=2.5,
                    )  # fmt: skip
                ax.set_yscale("log")
                if i == 0:
                    ax.set_title(arch, fontsize=9)
                ax.set_xlabel("wall time (s)" if i == len(tasks) - 1 else "")
            axes[i, 0].set_ylabel(f"{task}\nvalidation loss", fontsize=7)
        handles = [
            Line2D([], [], color=color_of[n], label=f"trained on {format_length(n)}")
            for n in lengths
        ]
        figure_legend(fig, handles, "outside upper center")
        if title:
            fig.suptitle(title)
    return fig

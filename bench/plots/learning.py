"""Learning curves: training loss against step and against wall time, one line per cell.

Read from the per-cell training logs the workers write; the validation loss (a fixed held-out
set) is drawn dashed where it was measured. Loss is on a log scale: late training is where
architectures differ.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from statebench.bench.plots.style import (
    FULL_WIDTH,
    NEUTRAL_COLOR,
    arch_colors,
    arch_order,
    figure_legend,
    message_figure,
    new_figure,
    style,
    task_order,
)

AXES = (("step", "training step"), ("seconds", "wall time (s)"))


def _draw_cell(ax, cell: pd.DataFrame, x: str, color: str) -> tuple[float, float] | None:
    """The cell's training and validation lines; where its training line ends, if it has one."""
    train = cell[np.isfinite(cell["loss"]) & (cell["loss"] > 0)]
    ax.plot(train[x], train["loss"], color=color, linewidth=1, alpha=0.85)
    val = cell[np.isfinite(cell["val_loss"]) & (cell["val_loss"] > 0)]
    if not val.empty:
        ax.plot(val[x], val["val_loss"], color=color, linewidth=1, linestyle="--")
    return None if train.empty else (float(train[x].iloc[-1]), float(train["loss"].iloc[-1]))


def _short(lr: float) -> str:
    """3e-4, 1.5e-3: a learning rate as people write it."""
    mantissa, exponent = f"{lr:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _swept_lrs(task_logs: pd.DataFrame) -> dict[str, float]:
    """The configured lr of each cell of an arch trained at several learning rates (a sweep)."""
    if "cell_lr" not in task_logs:
        return {}
    cells = task_logs.drop_duplicates("cell")
    cells = cells[cells.groupby("arch")["cell_lr"].transform("nunique") > 1]
    return dict(zip(cells["cell"].astype(str), cells["cell_lr"], strict=True))


def _tag_line_ends(ax, ends: list[tuple[str, str, float, float, float]]) -> None:
    """Name the lr where each swept line ends (arch, colour, x, loss, lr). Lines of one arch
    ending at one point (within a fifth of a decade and of the x range) share one tag
    ("lr 1e-4, 3e-4"): runs that learned nothing end together, and their tags would print over
    each other."""
    frame = pd.DataFrame(ends, columns=["arch", "color", "x", "loss", "lr"])
    frame = frame.assign(level=np.log10(frame["loss"]), near_x=0.2 * frame["x"].abs().max())
    for _, arch_ends in frame.groupby("arch", sort=False):
        by_x = arch_ends.sort_values("x")
        column = (by_x["x"].diff() > by_x["near_x"]).cumsum()  # ends apart along x
        by_level = by_x.assign(column=column).sort_values(["column", "level"])
        apart = (by_level["column"].diff() != 0) | (by_level["level"].diff() > 0.2)
        for _, near in by_level.groupby(apart.cumsum()):
            text = "lr " + ", ".join(_short(lr) for lr in sorted(set(near["lr"])))
            end = (near["x"].max(), 10 ** near["level"].mean())
            ax.annotate(text, end, xytext=(2, 0), textcoords="offset points", fontsize=6,
                        color=near["color"].iloc[0], va="center")  # fmt: skip


def plot_learning(logs: pd.DataFrame, title: str | None = None) -> Figure:
    """A row per task, two panels (loss vs step, loss vs wall seconds), a line per cell; where
    an arch ran at several learning rates, each line ends with its lr (lines ending together
    share one tag).

    `logs` are labelled training-log rows (`bench.analysis.learning.label_training_log`).
    """
    if logs is None or logs.empty or not np.isfinite(logs["loss"]).any():
        return message_figure("Learning curves", "no training logs in this run")
    tasks = task_order(logs["task"])
    archs = arch_order(logs["arch"])
    colors = arch_colors(archs)
    with style():
        fig = new_figure(FULL_WIDTH, 0.8 + 2.0 * len(tasks))
        axes = fig.subplots(len(tasks), 2, squeeze=False, sharey="row")
        for row, task in enumerate(tasks):
            task_logs = logs[logs["task"] == task]
            swept = _swept_lrs(task_logs)
            for col, (x, label) in enumerate(AXES):
                ax = axes[row, col]
                ends = []
                for name, cell in task_logs.groupby("cell", sort=False):
                    arch = str(cell["arch"].iloc[0])
                    end = _draw_cell(ax, cell, x, colors[arch])
                    if end and str(name) in swept:
                        ends.append((arch, colors[arch], *end, swept[str(name)]))
                if ends:
                    _tag_line_ends(ax, ends)
                ax.set_yscale("log")
                ax.set_xlabel(label)
                if row == 0:
                    ax.set_title(f"loss vs {label.split(' (')[0]}", fontsize=9)
            axes[row, 0].set_ylabel(f"{task}\nloss", fontsize=7)
        handles = [Line2D([], [], color=colors[a], label=a) for a in archs]
        handles += [
            Line2D([], [], color=NEUTRAL_COLOR, label="training batch"),
            Line2D([], [], color=NEUTRAL_COLOR, linestyle="--", label="validation"),
        ]
        figure_legend(fig, handles, "outside upper center")
        if title:
            fig.suptitle(title)
    return fig

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


def _draw_cell(ax, cell: pd.DataFrame, x: str, color: str, tag: str | None) -> None:
    train = cell[np.isfinite(cell["loss"]) & (cell["loss"] > 0)]
    ax.plot(train[x], train["loss"], color=color, linewidth=1, alpha=0.85)
    val = cell[np.isfinite(cell["val_loss"]) & (cell["val_loss"] > 0)]
    if not val.empty:
        ax.plot(val[x], val["val_loss"], color=color, linewidth=1, linestyle="--")
    if tag and not train.empty:  # a swept cell's lr where its line ends
        end = (train[x].iloc[-1], train["loss"].iloc[-1])
        ax.annotate(tag, end, xytext=(2, 0), textcoords="offset points", fontsize=6,
                    color=color, va="center")  # fmt: skip


def _short(lr: float) -> str:
    """3e-4, 1.5e-3: a learning rate as people write it."""
    mantissa, exponent = f"{lr:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _lr_tags(task_logs: pd.DataFrame) -> dict[str, str]:
    """Per cell of an arch trained at several learning rates (a sweep), its tag: "lr 3e-4"."""
    if "cell_lr" not in task_logs:
        return {}
    cells = task_logs.drop_duplicates("cell")
    cells = cells[cells.groupby("arch")["cell_lr"].transform("nunique") > 1]
    tags = [f"lr {_short(lr)}" for lr in cells["cell_lr"]]
    return dict(zip(cells["cell"].astype(str), tags, strict=True))


def plot_learning(logs: pd.DataFrame, title: str | None = None) -> Figure:
    """A row per task, two panels (loss vs step, loss vs wall seconds), a line per cell; where
    an arch ran at several learning rates, each line ends with its lr.

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
            tags = _lr_tags(task_logs)
            for col, (x, label) in enumerate(AXES):
                ax = axes[row, col]
                for name, cell in task_logs.groupby("cell", sort=False):
                    color = colors[str(cell["arch"].iloc[0])]
                    _draw_cell(ax, cell, x, color, tags.get(str(name)))
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

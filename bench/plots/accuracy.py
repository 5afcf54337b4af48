"""Accuracy versus eval length: where each architecture stops tracking state.

One panel per task, one line per arch (mean over seeds, 95% band), the training range shaded
and chance dashed, so extrapolation beyond training is visible at a glance. Lines that coincide
(several archs at 1.00) stay apart: each arch's points sit a few hundredths of an octave off
the eval length (`DODGE`), each with its own marker. Why a panel lacks a line is written under
it, never over the data.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from statebench.bench.analysis.scores import prepare, select_best_config
from statebench.bench.analysis.stats import mean_ci
from statebench.bench.plots.style import (
    FULL_WIDTH,
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

METRIC_LABELS = {
    "ood_accuracy": "token accuracy beyond training",
    "accuracy": "token accuracy",
    "scaled_accuracy": "scaled accuracy (0 = chance)",
    "seq_accuracy": "sequence accuracy",
}
TRAIN_SHADE = "#E8E8E8"
NOTE_WIDTH = 48  # characters per line of a panel's failure note
DODGE = 0.04  # octaves between neighbouring archs' points at one eval length


def seed_curve(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per eval length: mean over seeds with a 95% interval (lo == hi when one seed)."""
    records = []
    for length, group in rows.groupby("eval_len"):
        ci = mean_ci(group[metric])
        records.append({"eval_len": length, "mean": ci.mean, "lo": ci.lo, "hi": ci.hi, "n": ci.n})
    return pd.DataFrame.from_records(records, columns=["eval_len", "mean", "lo", "hi", "n"])


def _chance_level(rows: pd.DataFrame, metric: str) -> float:
    if metric == "scaled_accuracy":
        return 0.0
    column = "ood_chance" if metric == "ood_accuracy" else "chance"
    if metric in ("accuracy", "ood_accuracy") and np.isfinite(rows[column]).any():
        return float(rows[column].median())
    return math.nan  # sequence accuracy has no length-free chance level


def _with_ood(rows: pd.DataFrame) -> pd.DataFrame:
    """`ood_accuracy` where a length reaches past training; the pooled accuracy inside the
    training range (every position is in-distribution there) and on rows from before the split."""
    if "ood_chance" not in rows:
        rows = rows.assign(ood_chance=np.nan)
    ood = (
        pd.to_numeric(rows.get("ood_accuracy"), errors="coerce") if "ood_accuracy" in rows else None
    )
    ood = ood if ood is not None else pd.Series(np.nan, index=rows.index)
    chance = pd.to_numeric(rows["ood_chance"], errors="coerce")
    return rows.assign(
        ood_accuracy=ood.where(np.isfinite(ood), rows["accuracy"]),
        ood_chance=chance.where(np.isfinite(chance), rows["chance"]),
    )


def _failure_note(all_rows: pd.DataFrame, task: str, plotted: set[str]) -> str:
    """Why a line is missing or cut short: 'hawk: diverged', 'transformer: oom at 2k', and
    one wrapped 'not learned: retnet, ...' (a model that failed in-distribution draws no
    extrapolation line); one line per arch overran the panel with nine archs."""
    notes, not_learned = [], []
    for arch in arch_order(all_rows.loc[all_rows["task"] == task, "arch"]):
        rows = all_rows[(all_rows["task"] == task) & (all_rows["arch"] == arch)]
        if arch not in plotted and (rows["learned"] == 0.0).any():
            not_learned.append(arch)
            continue
        failed = rows[rows["status"] != "ok"]
        if arch not in plotted:
            notes.append(f"{arch}: {'/'.join(sorted(set(failed['status']))) or 'no data'}")
        elif not failed.empty:
            lengths = sorted({v for v in failed["eval_len"] if v > 0})
            where = f" at {', '.join(format_length(v) for v in lengths)}" if lengths else ""
            notes.append(f"{arch}: {'/'.join(sorted(set(failed['status'])))}{where}")
    if not_learned:
        notes.append(textwrap.fill("not learned: " + ", ".join(not_learned), NOTE_WIDTH))
    return "\n".join(notes)


def _below_axis(ax):
    """The y coordinates of the x axis's drawn extent (tick labels and label), so a note sits
    under them: an Axis has no window extent of its own (it reads as the figure's foot)."""

    def extent(renderer):
        return ax.xaxis.get_tightbbox(renderer) or ax.bbox

    return extent


def dodge(archs: list[str]) -> dict[str, float]:
    """Each arch's x factor: 2**(offset in octaves), centred on the eval length."""
    middle = (len(archs) - 1) / 2
    return {a: 2.0 ** ((i - middle) * DODGE) for i, a in enumerate(archs)}


def _draw_task(ax, rows: pd.DataFrame, metric: str, archs: list[str], look) -> set[str]:
    """Draw one task's panel; returns the archs that got a line."""
    drawn = set()
    colors, markers, shift = look
    for arch in archs:
        arch_rows = rows[(rows["arch"] == arch) & np.isfinite(rows[metric])]
        if arch_rows.empty:
            continue
        curve = seed_curve(arch_rows, metric)
        color = colors[arch]
        x = curve["eval_len"] * shift[arch]
        ax.plot(
            x,
            curve["mean"],
            color=color,
            marker=markers[arch],
            label=arch,
            zorder=3,
            gid=f"line:{arch}",
        )
        if curve["n"].max() > 1:
            ax.fill_between(
                x,
                curve["lo"],
                curve["hi"],
                color=color,
                alpha=0.18,
                linewidth=0,
                zorder=2,
            )
        drawn.add(arch)
    return drawn


def _panel(ax, all_rows: pd.DataFrame, rows: pd.DataFrame, task: str, metric, archs, look) -> set:
    """One task's panel: training range shaded, chance dashed, a line per arch, failure notes
    below the panel (never over its data)."""
    task_rows = rows[rows["task"] == task]
    lo, hi = task_rows["train_len_min"].min(), task_rows["train_len_max"].max()
    if np.isfinite(lo) and np.isfinite(hi):
        ax.axvspan(max(lo, 1), hi, color=TRAIN_SHADE, linewidth=0, zorder=0)
    chance = _chance_level(task_rows, metric)
    if np.isfinite(chance):
        ax.axhline(chance, color=NEUTRAL_COLOR, ls="--", lw=1, label="chance", zorder=1)
    drawn = _draw_task(ax, task_rows, metric, archs, look)
    note = _failure_note(all_rows, task, drawn)
    if note:  # under the x axis (its tick labels and label), so it never covers a line
        ax.annotate(
            note, xy=(0, 0), xycoords=("axes fraction", _below_axis(ax)), xytext=(0, -3),
            textcoords="offset points", fontsize=7, color=NEUTRAL_COLOR, va="top", ha="left",
            gid="note",
        )  # fmt: skip
    ax.set_title(wrap_label(task))
    log2_length_axis(ax, "x")
    return drawn


def _label_axes(axes, n_tasks: int, ncols: int, metric: str) -> None:
    """y labels on the left column, x labels on the lowest panel of each column."""
    for ax in axes[:, 0]:
        ax.set_ylabel(METRIC_LABELS[metric])
    for index, ax in enumerate(axes.flat):
        if index >= n_tasks:
            ax.set_visible(False)
        elif index + ncols >= n_tasks:
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("eval length")
        ax.xaxis.set_tick_params(labelbottom=True)  # every panel: its note sits under them


def _legend(fig, archs: list[str], drawn: set[str], look) -> None:
    colors, markers, _ = look
    handles = [
        Line2D([], [], color=colors[a], marker=markers[a], label=a) for a in archs if a in drawn
    ]
    handles += [
        Line2D([], [], color=NEUTRAL_COLOR, linestyle="--", linewidth=1, label="chance"),
        Patch(color=TRAIN_SHADE, label="training lengths"),
    ]
    figure_legend(fig, handles, "outside upper center")


def plot_accuracy_vs_length(
    df: pd.DataFrame, metric: str = "ood_accuracy", ncols: int = 3, title: str | None = None
) -> Figure:
    """Accuracy vs eval length: a panel per task, a line per arch, mean over seeds with 95% band.

    `metric` is a result column: "ood_accuracy" (default: token accuracy on the positions
    beyond training; pooled inside the training range), "accuracy", "scaled_accuracy" or
    "seq_accuracy". Cells that did not learn in-distribution draw no line ("not learned").
    With a sweep, each arch x task shows the configuration chosen on validation accuracy
    (see `select_best_config`).
    """
    if metric not in METRIC_LABELS:
        raise ValueError(f"metric must be one of {sorted(METRIC_LABELS)}, got {metric!r}")
    all_rows = prepare(df)
    rows = _with_ood(select_best_config(df))
    rows = rows[(rows["status"] == "ok") & (rows["eval_len"] > 0) & (rows["learned"] != 0.0)]
    if rows.empty:
        ran = all_rows[all_rows["status"] == "ok"]
        if not ran.empty and (ran["learned"] == 0.0).all():
            why = "no cell learned its task inside the training lengths:\nnothing to extrapolate"
        else:
            why = "no successful results to plot"
        return message_figure("Accuracy vs length", why)
    tasks = task_order(all_rows["task"])
    archs = arch_order(all_rows["arch"])
    look = (arch_colors(archs), arch_markers(archs), dodge(archs))
    ncols = max(1, min(ncols, len(tasks)))
    nrows = math.ceil(len(tasks) / ncols)
    with style():
        fig = new_figure(FULL_WIDTH if ncols > 1 else FULL_WIDTH / 2, 0.6 + 2.2 * nrows)
        axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
        drawn: set[str] = set()
        for ax, task in zip(axes.flat, tasks, strict=False):
            drawn |= _panel(ax, all_rows, rows, task, metric, archs, look)
        # shared x and y: the eval grid (the train shading may start left of it) and one
        # y range for all panels, below zero only if some value is
        spread = 2.0 ** (DODGE * len(archs) / 2)
        axes[0, 0].set_xlim(
            rows["eval_len"].min() / 1.3 / spread, rows["eval_len"].max() * 1.3 * spread
        )
        axes[0, 0].set_ylim(min(-0.02, float(rows[metric].min()) - 0.02), 1.02)
        _label_axes(axes, len(tasks), ncols, metric)
        _legend(fig, archs, drawn, look)
        if title:
            fig.suptitle(title)
    return fig

"""Arch x task heatmap of the headline score: the whole benchmark on one page.

Two panels, because a mean over seeds and a best-of-N answer different questions (typical
behaviour vs. what the architecture can learn at all); failed cells are hatched with their
status, never silently blank, and arch x task pairs never run are marked as such.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from statebench.bench.analysis.summary import summarize_headline
from statebench.bench.plots.style import (
    FAILED_COLOR,
    FULL_WIDTH,
    NEUTRAL_COLOR,
    arch_colors,
    message_figure,
    new_figure,
    style,
    task_order,
    wrap_label,
)

CMAP = colormaps["viridis"]
ABSENT_COLOR = "#F4F4F4"


def headline_grids(summary: pd.DataFrame) -> tuple[list[str], list[str], dict[str, np.ndarray]]:
    """Arch rows, task columns and the grids ("mean", "lo", "best", ...) behind the heatmap.

    Rows keep the summary's order: canonical, and a training-length study's by length."""
    archs = list(dict.fromkeys(summary["arch"]))
    tasks = task_order(summary["task"])
    grids = {}
    for col in ("mean", "lo", "hi", "best", "n_seeds", "n_cells", "partial"):
        table = summary.pivot_table(
            index="arch", columns="task", values=col, aggfunc="first", dropna=False
        )
        grids[col] = table.reindex(index=archs, columns=tasks).to_numpy(dtype=float)
    status = summary.pivot(index="arch", columns="task", values="status")
    grids["status"] = status.reindex(index=archs, columns=tasks).to_numpy(dtype=object)
    return archs, tasks, grids


def _text_color(value: float) -> str:
    """White on dark cells, black on light ones (relative luminance of the cell colour)."""
    r, g, b = to_rgb(CMAP(np.clip(value, 0, 1)))
    return "white" if 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.5 else "black"


def _cell_label(panel: str, grids: dict, i: int, j: int) -> str:
    """'0.83' (best) or '0.83\n±0.05' (mean); † marks failed lengths, '(2/3 ok)' failed seeds."""
    label = f"{grids[panel][i, j]:.2f}" + ("†" if grids["partial"][i, j] > 0 else "")
    if panel == "mean" and grids["n_seeds"][i, j] > 1:
        label += f"\n±{(grids['hi'][i, j] - grids['lo'][i, j]) / 2:.2f}"
    n_ok, n_cells = int(grids["n_seeds"][i, j]), int(grids["n_cells"][i, j])
    if n_ok < n_cells:
        label += f"\n({n_ok}/{n_cells} ok)"
    return label


def _draw_missing(ax, status, i: int, j: int, gid: str) -> None:
    """A cell without a score: hatched with its status if it ran, else marked 'not run'."""
    ran = isinstance(status, str)
    ax.add_patch(
        Rectangle(
            (j - 0.5, i - 0.5),
            1,
            1,
            facecolor=ABSENT_COLOR if not ran else "white",
            edgecolor=FAILED_COLOR,
            hatch="///" if ran else None,
            linewidth=0,
            gid=gid,
        )
    )
    label = "not run" if not ran else (status.replace("_", " ") if status != "ok" else "n/a")
    ax.text(
        j,
        i,
        label,
        ha="center",
        va="center",
        fontsize=7,
        color=NEUTRAL_COLOR,
        bbox={"facecolor": "white", "edgecolor": "none", "pad": 1} if ran else None,
    )


CHAR_WIDTH = 0.058  # inches per character of a 7.5 pt tick label (DejaVu Sans, a wide average)


def _tilted(tasks) -> bool:
    """Tilt when labels would collide: many tasks, or long ones like permutation(group=S3)."""
    return len(tasks) > 3 or max((len(t) for t in tasks), default=0) > 12


def label_room(archs, tasks) -> tuple[float, float]:
    """Inches the arch labels need on the left and the task labels below, so a long label (a
    dotted path such as mypkg.mingru:MinGRU(hidden=2)) widens the figure instead of being cut."""
    left = 0.3 + CHAR_WIDTH * max((len(a) for a in archs), default=0)
    longest = CHAR_WIDTH * max((len(t) for t in tasks), default=0)
    below = 0.35 + (longest * 0.5 if _tilted(tasks) else 0.0)  # sin(30°) of a tilted label
    return max(1.6, left), below


def _label_axes(ax, panel: str, archs, tasks) -> None:
    tilt = _tilted(tasks)
    ax.set_xticks(
        range(len(tasks)),
        [wrap_label(t) for t in tasks],
        rotation=30 if tilt else 0,
        ha="right" if tilt else "center",
    )
    ax.set_yticks(range(len(archs)), archs)
    # a panel sharing y with its neighbour has no tick labels of its own
    colors = arch_colors(archs)
    for label, arch in zip(ax.get_yticklabels(), archs, strict=False):
        label.set_color(colors[arch])
    ax.tick_params(length=0)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_gid(panel)


def _draw_panel(ax, panel: str, archs, tasks, grids, vmin: float) -> object:
    values = grids[panel]
    image = ax.imshow(
        np.ma.masked_invalid(values),
        cmap=CMAP,
        vmin=vmin,
        vmax=1.0,
        aspect="auto",
        interpolation="nearest",
    )
    for i in range(len(archs)):
        for j in range(len(tasks)):
            if not np.isfinite(values[i, j]):
                _draw_missing(ax, grids["status"][i, j], i, j, f"failed:{archs[i]}:{tasks[j]}")
                continue
            ax.text(
                j,
                i,
                _cell_label(panel, grids, i, j),
                ha="center",
                va="center",
                fontsize=7,
                color=_text_color(values[i, j]),
                linespacing=1.1,
            )
    _label_axes(ax, panel, archs, tasks)
    return image


def plot_heatmap(df: pd.DataFrame, title: str | None = None) -> Figure:
    """Heatmap of the headline score (see `headline_score`): mean over seeds and best-of-N."""
    summary = summarize_headline(df)
    if summary.empty:
        return message_figure("Headline score", "no results to summarize")
    archs, tasks, grids = headline_grids(summary)
    counts = set(grids["n_cells"][np.isfinite(grids["n_cells"])].astype(int))
    n_label = f"N = {counts.pop()}" if len(counts) == 1 else f"N ≤ {max(counts, default=0)}"
    finite = np.concatenate(
        [grids["mean"][np.isfinite(grids["mean"])], grids["best"][np.isfinite(grids["best"])]]
    )
    vmin = min(0.0, float(finite.min())) if finite.size else 0.0
    side_by_side = len(tasks) <= 3
    left, below = label_room(archs, tasks)
    cell_w = min(0.95, (FULL_WIDTH - 1.6) / (len(tasks) * (2 if side_by_side else 1)))
    if side_by_side:  # a panel at least as wide as its two-line title ("mean over seeds")
        cell_w = max(cell_w, 1.5 / len(tasks))
    cell_h = 0.42 if side_by_side else 0.36
    with style():
        if side_by_side:
            fig = new_figure(
                left + 2 * cell_w * len(tasks) + 0.6, 0.75 + below + cell_h * len(archs)
            )
            axes = fig.subplots(1, 2, sharey=True)
        else:
            fig = new_figure(
                left + cell_w * len(tasks) + 0.6, 1.25 + below + 2 * cell_h * len(archs)
            )
            axes = fig.subplots(2, 1, sharex=True)
        gap = "\n" if side_by_side and len(tasks) <= 2 else " "  # narrow panels: two lines
        titles = {
            "mean": f"mean over seeds{gap}± 95% CI ({n_label})",
            "best": f"best of N seeds{gap}({n_label})",
        }
        for ax, panel in zip(axes, ("mean", "best"), strict=True):
            image = _draw_panel(ax, panel, archs, tasks, grids, vmin)
            ax.set_title(titles[panel])
        bar = fig.colorbar(
            image, ax=list(axes), shrink=0.9, pad=0.02, extend="min" if vmin < 0 else "neither"
        )
        bar.set_label("headline score\n(scaled acc. on positions past training)")
        bar.outline.set_visible(False)
        if np.nansum(grids["partial"]) > 0:
            fig.supxlabel(
                "† some eval lengths of these cells failed (e.g. oom): the score averages the "
                "lengths that ran",
                fontsize=7,
                color=NEUTRAL_COLOR,
            )
        if title:
            fig.suptitle(title)
    return fig

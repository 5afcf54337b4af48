"""Model size: parameter count and state size per architecture.

The benchmark compares at matched parameter count, so the params panel shows how well matched
the archs really are; the state panel shows what each carries per sequence at the longest eval
length (attention's KV cache grows with length, a recurrence's state does not).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from statebench.bench.analysis.scores import prepare, state_size_at_longest
from statebench.bench.plots.style import (
    FULL_WIDTH,
    NEUTRAL_COLOR,
    arch_colors,
    arch_order,
    count_axis,
    format_count,
    format_length,
    message_figure,
    new_figure,
    style,
)


def size_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per arch: params (median, min, max over cells), state size and the length it was taken at."""
    rows = prepare(df)
    params = rows[np.isfinite(rows["params"])].groupby("arch")["params"]
    table = pd.DataFrame(
        {"params": params.median(), "params_min": params.min(), "params_max": params.max()}
    )
    state = state_size_at_longest(rows, ["arch"])
    measured = rows[np.isfinite(rows["state_size"]) & (rows["eval_len"] > 0)]
    table = table.join(state.rename("state_size"), how="outer")
    table = table.join(measured.groupby("arch")["eval_len"].max().rename("state_len"), how="outer")
    return table.reindex(arch_order(table.index))


def _not_recorded(ax, archs: list[str], xlabel: str) -> None:
    """Nothing recorded: say so once instead of an empty, meaningless axis."""
    ax.text(
        0.5,
        0.5,
        "not recorded",
        transform=ax.transAxes,
        ha="center",
        va="center",
        color=NEUTRAL_COLOR,
    )
    ax.set_xticks([])
    ax.set_yticks(range(len(archs)), archs)
    ax.set_ylim(len(archs) - 0.5, -0.5)
    ax.set_xlabel(xlabel)
    ax.grid(False)


def _bar_base(ax, finite: np.ndarray, log: bool) -> float:
    """Where bars start, with the x limits set around the values."""
    if log:
        # bars on a log axis need a fixed base: the decade below the smallest value
        base = 10 ** np.floor(np.log10(finite.min()))
        ax.set_xlim(base, finite.max() * 12)
        return base
    ax.set_xlim(0, finite.max() * 1.3)
    return 0.0


def _na(ax, y: int) -> None:
    ax.text(
        0.02,
        y,
        "n/a",
        transform=ax.get_yaxis_transform(),
        va="center",
        fontsize=7,
        color=NEUTRAL_COLOR,
    )


def _bar_panel(
    ax,
    table: pd.DataFrame,
    column: str,
    xlabel: str,
    log: bool,
    note=None,
    label_at: str | None = None,
) -> None:
    """Horizontal bars, one per arch in its colour, each labelled with its value (placed at
    `label_at`'s value when given, so a whisker does not run through the label)."""
    values = table[column].to_numpy(dtype=float)
    anchors = table[label_at].to_numpy(dtype=float) if label_at else values
    archs = list(table.index)
    finite = values[np.isfinite(values) & (values > 0)]
    if not finite.size:
        _not_recorded(ax, archs, xlabel)
        return
    base = _bar_base(ax, finite, log)
    colors = arch_colors(archs)
    for y, (arch, value, anchor) in enumerate(zip(archs, values, anchors, strict=True)):
        if not np.isfinite(value) or value <= 0:
            _na(ax, y)
            continue
        ax.barh(y, value - base, left=base, color=colors[arch], height=0.6, gid=f"{column}:{arch}")
        text = format_count(value) + (note(arch) if note else "")
        ax.annotate(
            text,
            (np.fmax(anchor, value), y),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            ha="left",
            fontsize=7,
        )
    ax.set_yticks(range(len(archs)), archs)
    ax.set_ylim(len(archs) - 0.5, -0.5)
    count_axis(ax, "x", log=log)
    ax.set_xlabel(xlabel)
    ax.grid(False, axis="y")


def plot_size(df: pd.DataFrame, title: str | None = None) -> Figure:
    """Parameter count (linear: matched budgets look matched) and state size at the longest eval
    length (log: KV caches and recurrent states differ by orders of magnitude) per arch."""
    table = size_table(df)
    if table.empty:
        return message_figure("Model size", "no parameter counts recorded")
    lengths = set(table["state_len"].dropna())
    with style():
        fig = new_figure(FULL_WIDTH, max(2.2, 1.0 + 0.32 * len(table)))
        left, right = fig.subplots(1, 2, sharey=True)
        _bar_panel(left, table, "params", "parameters", log=False, label_at="params_max")
        left.set_title("parameter count (median over cells)")
        for y, arch in enumerate(table.index):
            lo, hi = table.loc[arch, ["params_min", "params_max"]]
            if np.isfinite(lo) and hi > lo:  # whisker: spread over tasks (vocab, head sizes)
                left.hlines(y, lo, hi, color="black", linewidth=0.8)

        def at_length(arch: str) -> str:
            length = table.loc[arch, "state_len"]
            return f" (L={format_length(length)})" if np.isfinite(length) else ""

        one_length = len(lengths) == 1
        _bar_panel(
            right,
            table,
            "state_size",
            "floats per sequence",
            log=True,
            note=None if one_length else at_length,
        )
        at = f"L = {format_length(lengths.pop())}" if one_length else "the longest eval length"
        right.set_title(f"state size at {at}")
        if title:
            fig.suptitle(title)
    return fig

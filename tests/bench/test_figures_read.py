"""Figures fit for a paper: no two archs of a figure share a colour (outside archs never look
like a built-in), no label runs off the figure, no legend sits over data, coinciding lines stay
apart, a throughput spread over decades gets a log axis, and no empty figure is written."""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.transforms import Bbox
from statebench.bench.config import list_presets, load_config
from statebench.bench.config.errors import UserError
from statebench.bench.plots import FIGURES, make_figure, nothing_to_draw, output
from statebench.bench.plots.accuracy import plot_accuracy_vs_length
from statebench.bench.plots.style import (
    ARCH_COLORS,
    FALLBACK_COLORS,
    _shade,
    arch_colors,
    arch_markers,
)
from statebench.bench.plots.wallclock import plot_wallclock
from statebench.bench.report import RunTables, build_report, plot_command

OUTSIDE = ("mypkg.mingru:MinGRUMixer", "mypkg.diag:DiagonalRNN(negative=True)", "ext_gru:GRUMixer")
LONG_TASK = "mypkg.dyck:DyckDepth(k=2)"


@pytest.fixture(autouse=True)
def _small_figures(monkeypatch):
    monkeypatch.setattr(output, "DPI", 40)


def _lab(color: str) -> np.ndarray:
    rgb = np.array(mcolors.to_rgb(color))
    rgb = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = m @ rgb / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_outside_arch_colours_are_far_from_every_built_in_and_its_shades():
    taken = [*ARCH_COLORS.values()] + [_shade(c, i) for c in ARCH_COLORS.values() for i in (0, 1)]
    for color in FALLBACK_COLORS:
        nearest = min(float(np.linalg.norm(_lab(color) - _lab(t))) for t in taken)
        assert nearest > 20, (color, nearest)


def _preset_labels(name: str) -> list[str]:
    return [a.label for a in load_config(preset=name).archs]


@pytest.mark.parametrize("preset", sorted(list_presets()))
def test_no_two_archs_of_a_figure_share_a_colour(preset):
    labels = [*_preset_labels(preset), *OUTSIDE, "a:B", "c:D", "e:F"]
    colors = arch_colors(labels)
    assert len(set(colors.values())) == len(set(labels)), colors
    outside = {colors[a] for a in [*OUTSIDE, "a:B", "c:D", "e:F"]}
    assert not outside & set(ARCH_COLORS.values())
    assert outside <= set(FALLBACK_COLORS)  # a variant alone takes its family's own colour
    markers = arch_markers(_preset_labels(preset))
    assert len(set(markers.values())) == len(markers)  # built-ins and their variants


def _results(factory, archs=("transformer", "lstm", *OUTSIDE), tasks=("parity", LONG_TASK)):
    return factory(archs=archs, tasks=tasks)


def _drawn(fig):
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _drawn_parts(fig, renderer):
    """(name, window extent) of every part drawn: each panel with its tick labels, titles and
    axis labels (only the ticks inside the view), each legend, each figure-level text."""
    for ax in fig.axes:
        if ax.get_visible():
            yield f"panel {ax.get_title()!r}", ax.get_tightbbox(renderer)
    for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]:
        yield "legend", legend.get_window_extent(renderer)
    for text in fig.texts:
        if text.get_visible() and text.get_text().strip():
            yield f"text {text.get_text()!r}", text.get_window_extent(renderer)


@pytest.mark.parametrize("kind", ["accuracy", "heatmap", "wallclock", "size", "critical_time"])
def test_no_label_runs_off_the_figure(kind, synthetic_results_factory, synthetic_probes_factory):
    results = _results(synthetic_results_factory)
    # two cells that never learned: the accuracy panels write a note under their x axis
    unlearned = results["task"].eq("parity") & results["arch"].isin(["transformer", OUTSIDE[0]])
    results.loc[unlearned, "learned"] = False
    probes = synthetic_probes_factory(
        archs=("transformer", "lstm", *OUTSIDE), tasks=("parity", LONG_TASK)
    )
    fig = make_figure(kind, results, probes)
    renderer = _drawn(fig)
    if kind == "accuracy":
        assert any("not learned: transformer" in t.get_text() for t in fig.axes[0].texts)
    box = fig.bbox
    parts = list(_drawn_parts(fig, renderer))
    assert parts, kind
    for name, extent in parts:
        if extent is None or extent.width == 0:
            continue
        assert extent.x0 >= box.x0 - 1 and extent.x1 <= box.x1 + 1, (kind, name, extent)
        assert extent.y0 >= box.y0 - 1 and extent.y1 <= box.y1 + 1, (kind, name, extent)
    titles = [ax.title for ax in fig.axes if ax.get_visible() and ax.get_title()]
    for a, b in itertools.combinations(titles, 2):  # side-by-side panels' titles never meet
        overlap = Bbox.intersection(a.get_window_extent(renderer), b.get_window_extent(renderer))
        assert overlap is None, (kind, a.get_text(), b.get_text())


@pytest.mark.parametrize("kind", ["accuracy", "wallclock", "critical_time"])
def test_no_legend_sits_over_a_panel(kind, synthetic_results_factory, synthetic_probes_factory):
    results = _results(synthetic_results_factory)
    fig = make_figure(kind, results, synthetic_probes_factory())
    renderer = _drawn(fig)
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert legends, kind
    panels = [ax for ax in fig.axes if ax.get_visible()]
    for legend, ax in itertools.product(legends, panels):
        overlap = Bbox.intersection(
            legend.get_window_extent(renderer), ax.get_window_extent(renderer)
        )
        assert overlap is None or overlap.width * overlap.height < 1, (kind, ax.get_title())


def test_coinciding_lines_stay_apart(synthetic_results_factory):
    results = synthetic_results_factory(archs=("lstm", "transformer", "mamba"), tasks=("parity",))
    for column in ("accuracy", "scaled_accuracy", "ood_accuracy"):
        if column in results:
            results[column] = 1.0  # every arch perfect: one line would hide the others
    ax = plot_accuracy_vs_length(results).axes[0]
    lines = {line.get_label(): line for line in ax.get_lines() if line.get_gid()}
    assert len(lines) == 3
    xs = {label: tuple(np.round(line.get_xdata(), 6)) for label, line in lines.items()}
    assert len(set(xs.values())) == 3  # each arch's points sit apart at every length
    assert len({line.get_marker() for line in lines.values()}) == 3


def test_throughput_axis_is_log_when_values_span_a_decade(synthetic_results_factory):
    results = synthetic_results_factory(archs=("lstm", "transformer"))
    assert plot_wallclock(results).axes[0].get_xscale() == "linear"
    slow = results.assign(
        tokens_per_second=np.where(results["arch"] == "lstm", 900.0, results["tokens_per_second"])
    )
    ax = plot_wallclock(slow).axes[0]
    assert ax.get_xscale() == "log"
    bars = {p.get_gid(): p for p in ax.patches}
    assert bars["throughput:lstm"].get_width() > 0  # the slow arch's bar is visible


def test_no_empty_figure_is_written(tmp_path, monkeypatch, synthetic_results, synthetic_manifest):
    tables = RunTables(synthetic_results, pd.DataFrame(), synthetic_manifest)
    import statebench.bench.report as report_module

    monkeypatch.setattr(report_module, "load_run", lambda run_dir: tables)
    for kind, why in (("maze", "no maze task"), ("critical_time", "no probe results")):
        with pytest.raises(UserError, match=rf"--kind {kind}: nothing to draw: .*{why}"):
            plot_command(tmp_path, kind, tmp_path / "figs")
    written = plot_command(tmp_path, "all", tmp_path / "figs")
    names = {Path(p).stem for p in written}
    assert "critical_time" not in names and "maze" not in names and "accuracy" in names
    path = build_report(synthetic_results, pd.DataFrame(), synthetic_manifest, tmp_path / "rep")
    figures = {p.stem for p in (path.parent / "figures").glob("*.png")}
    assert "critical_time" not in figures and "accuracy" in figures
    unlearned = synthetic_results.assign(learned=False)
    assert nothing_to_draw(make_figure("accuracy", unlearned))
    text = build_report(unlearned, None, synthetic_manifest, tmp_path / "none").read_text()
    assert "Not drawn, nothing to show: `accuracy` (no cell learned" in text
    assert not (tmp_path / "none" / "figures" / "accuracy.png").exists()
    assert set(FIGURES) >= {"accuracy", "maze", "critical_time"}

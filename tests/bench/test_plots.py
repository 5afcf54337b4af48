"""Figures are checked through the data behind them (lines, labels, scales), not pixels."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from statebench.bench.analysis.stats import fit_power_law, mean_ci, t_critical_95
from statebench.bench.plots import (
    FIGURES,
    headline_score,
    make_figure,
    plot_accuracy_vs_length,
    plot_critical_time,
    plot_heatmap,
    plot_size,
    plot_wallclock,
    save_figure,
    select_best_config,
    summarize_headline,
)
from statebench.bench.plots.style import (
    ARCH_COLORS,
    FALLBACK_COLORS,
    KNOWN_ARCHS,
    NEUTRAL_COLOR,
    arch_color,
    arch_order,
    format_length,
    task_order,
    wrap_label,
)

ARCHS = ("transformer", "mamba", "lstm", "griffin")


def _render(fig: Figure) -> None:
    """Lay out and draw the figure without rasterizing: some errors only show at draw time."""
    fig.draw_without_rendering()


def _panels(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


def _hex(color) -> str:
    return to_hex(color, keep_alpha=False)


# --- style ------------------------------------------------------------------------------------


BUILT_IN_ARCHS = (
    "transformer", "mamba", "mamba2", "retnet", "deltanet", "griffin", "hawk", "lstm", "xlstm",
    "rc_frame",
)  # fmt: skip


def test_known_archs_have_fixed_distinct_colours():
    assert arch_color("mamba") == ARCH_COLORS["mamba"] == arch_color("Mamba")
    assert len(set(ARCH_COLORS.values())) == len(ARCH_COLORS)
    assert set(BUILT_IN_ARCHS) <= set(ARCH_COLORS)  # no built-in arch falls back to the hash
    assert set(BUILT_IN_ARCHS) <= set(KNOWN_ARCHS)  # and each has its place in the order


def test_an_arch_variant_is_a_shade_of_its_arch_and_no_other_arch_colour():
    fixed = set(ARCH_COLORS.values()) | set(FALLBACK_COLORS)
    shades = {arch_color(f"{a}(eigen=[-1,1])") for a in BUILT_IN_ARCHS}
    assert len(shades) == len(BUILT_IN_ARCHS) and not shades & fixed
    assert arch_color("deltanet(eigen=[-1,1])") != arch_color("deltanet")


def test_unknown_arch_colour_is_deterministic_and_from_the_fallback_palette():
    assert arch_color("my_xlstm") == arch_color("my_xlstm")
    assert arch_color("my_xlstm") in FALLBACK_COLORS
    assert not set(FALLBACK_COLORS) & set(ARCH_COLORS.values())


def test_arch_order_puts_known_archs_first():
    assert arch_order(["zeta", "lstm", "transformer", "alpha"]) == [
        "transformer",
        "lstm",
        "alpha",
        "zeta",
    ]


def test_length_labels():
    assert [format_length(v) for v in (16, 512, 1024, 4096, 2**20)] == [
        "16",
        "512",
        "1k",
        "4k",
        "1M",
    ]


# --- statistics -------------------------------------------------------------------------------


def test_mean_ci_is_a_t_interval_and_degenerates_with_one_seed():
    ci = mean_ci([0.5, 0.7, 0.9])
    assert ci.mean == pytest.approx(0.7)
    assert ci.half_width == pytest.approx(4.303 * 0.2 / math.sqrt(3), rel=1e-3)
    one = mean_ci([0.4, math.nan])
    assert (one.mean, one.lo, one.hi, one.n) == (0.4, 0.4, 0.4, 1)
    assert mean_ci([]).n == 0


def test_t_critical_values_approach_the_normal_quantile():
    assert t_critical_95(1) == pytest.approx(12.706)
    assert t_critical_95(60) == pytest.approx(2.000, abs=2e-3)
    assert t_critical_95(10_000) == pytest.approx(1.960, abs=1e-3)


@pytest.mark.parametrize("exponent", [1.0, 2.0, 0.5])
def test_power_law_fit_recovers_the_exponent(exponent):
    x = np.array([16, 64, 256, 1024])
    assert fit_power_law(x, 3e-4 * x**exponent).exponent == pytest.approx(exponent)
    assert math.isnan(fit_power_law([8, 8], [1, 2]).exponent)


# --- headline score ---------------------------------------------------------------------------


def test_headline_score_is_mean_scaled_accuracy_beyond_training():
    rows = pd.DataFrame(
        {
            "arch": "mamba",
            "task": "parity",
            "seed": 0,
            "train_len_min": 8,
            "train_len_max": 64,
            "eval_len": [32, 64, 128, 256],
            "scaled_accuracy": [1.0, 1.0, 0.6, 0.2],
            "status": "ok",
        }
    )
    scores = headline_score(rows)
    assert len(scores) == 1
    assert scores["score"].iloc[0] == pytest.approx(0.4)  # (0.6 + 0.2) / 2
    assert scores["n_lengths"].iloc[0] == 2


def test_headline_score_of_a_failed_cell_is_nan_with_its_status():
    rows = pd.DataFrame(
        {
            "arch": "mamba",
            "task": "parity",
            "seed": 0,
            "train_len_max": 64,
            "eval_len": [-1],
            "scaled_accuracy": [np.nan],
            "status": "diverged",
            "error": "nan loss",
        }
    )
    scores = headline_score(rows)
    assert math.isnan(scores["score"].iloc[0])
    assert (scores["status"].iloc[0], scores["error"].iloc[0]) == ("diverged", "nan loss")


def test_summary_reports_mean_ci_and_best_of_n(synthetic_results):
    summary = summarize_headline(synthetic_results)
    scores = headline_score(synthetic_results)
    for _, row in summary.iterrows():
        cell = scores[(scores["arch"] == row["arch"]) & (scores["task"] == row["task"])]
        assert row["mean"] == pytest.approx(cell["score"].mean())
        assert row["best"] == pytest.approx(cell["score"].max())
        assert row["lo"] < row["mean"] < row["hi"]
        assert row["n_seeds"] == 3


def test_a_sweep_keeps_the_best_config_per_arch_and_task(synthetic_results_factory):
    results = synthetic_results_factory(lrs=(1e-3, 1e-2))
    kept = select_best_config(results)
    assert set(kept["lr"]) == {1e-3}  # the synthetic penalty makes the larger lr worse
    assert summarize_headline(results)["n_seeds"].eq(3).all()


# --- accuracy vs length -----------------------------------------------------------------------


def test_accuracy_has_one_line_per_arch_in_each_panel(synthetic_results):
    fig = plot_accuracy_vs_length(synthetic_results)
    panels = _panels(fig)
    assert [ax.get_title() for ax in panels] == ["parity", "modular_sum", "flipflop"]
    for ax in panels:
        arch_lines = [line for line in ax.get_lines() if line.get_label() in ARCHS]
        assert sorted(line.get_label() for line in arch_lines) == sorted(ARCHS)
        for line in arch_lines:
            assert _hex(line.get_color()) == arch_color(line.get_label())
        assert ax.get_xscale() == "log"
        assert ax.get_xlabel() == "eval length"
    assert panels[0].get_ylabel() == "token accuracy beyond training"  # the default: ood part


def test_accuracy_draws_chance_and_the_training_range(synthetic_results):
    fig = plot_accuracy_vs_length(synthetic_results)
    for ax in _panels(fig):
        chance = [line for line in ax.get_lines() if line.get_label() == "chance"]
        assert len(chance) == 1 and chance[0].get_linestyle() == "--"
        task = ax.get_title()
        expected = synthetic_results.loc[synthetic_results["task"] == task, "chance"].iloc[0]
        assert chance[0].get_ydata()[0] == pytest.approx(expected)
        assert ax.patches, "training range not shaded"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"chance", "training lengths", *ARCHS} <= set(legend)


def test_accuracy_band_present_with_several_seeds_absent_with_one(synthetic_results_factory):
    def bands(fig):
        return [sum(isinstance(c, PolyCollection) for c in ax.collections) for ax in _panels(fig)]

    assert bands(plot_accuracy_vs_length(synthetic_results_factory())) == [len(ARCHS)] * 3
    assert bands(plot_accuracy_vs_length(synthetic_results_factory(seeds=(0,)))) == [0] * 3


def test_accuracy_names_cells_that_did_not_learn_in_one_wrapped_note(synthetic_results):
    rows = synthetic_results.copy()
    task = rows["task"].iloc[0]
    for arch in ("transformer", "mamba", "griffin"):
        rows.loc[(rows["arch"] == arch) & (rows["task"] == task), "learned"] = False
    ax = _panels(plot_accuracy_vs_length(rows))[0]
    assert ax.get_title() == task
    note = next(t.get_text() for t in ax.texts if "not learned" in t.get_text())
    assert note.replace("\n", " ") == "not learned: transformer, mamba, griffin"
    assert max(len(line) for line in note.splitlines()) <= 40
    assert {line.get_label() for line in ax.get_lines()} >= {"lstm"}


def test_accuracy_says_when_no_cell_learned(synthetic_results):
    fig = plot_accuracy_vs_length(synthetic_results.assign(learned=False))
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("no cell learned its task" in t for t in texts)


def test_accuracy_rejects_an_unknown_metric(synthetic_results):
    with pytest.raises(ValueError, match="metric"):
        plot_accuracy_vs_length(synthetic_results, metric="f1")


# --- heatmap ----------------------------------------------------------------------------------


def test_heatmap_values_equal_the_headline_scores(synthetic_results):
    fig = plot_heatmap(synthetic_results)
    summary = summarize_headline(synthetic_results)
    panels = {ax.get_gid(): ax for ax in fig.axes if ax.get_gid()}
    assert set(panels) == {"mean", "best"}
    archs, tasks = arch_order(summary["arch"]), task_order(summary["task"])
    assert [t.get_text() for t in panels["mean"].get_yticklabels()] == archs
    for panel, ax in panels.items():
        grid = np.ma.filled(ax.images[0].get_array().astype(float), np.nan)
        expected = summary.pivot(index="arch", columns="task", values=panel)
        np.testing.assert_allclose(grid, expected.loc[archs, tasks].to_numpy())


def test_heatmap_marks_failed_cells_with_their_status(synthetic_results_factory):
    results = synthetic_results_factory(
        failures={("griffin", "parity"): "diverged"}, missing=[("lstm", "flipflop")]
    )
    fig = plot_heatmap(results)
    ax = next(ax for ax in fig.axes if ax.get_gid() == "mean")
    hatched = [p for p in ax.patches if p.get_gid() == "failed:griffin:parity"]
    assert hatched and hatched[0].get_hatch() == "///"
    texts = [t.get_text() for t in ax.texts]
    assert "diverged" in texts and "not run" in texts


def test_heatmap_keeps_a_length_study_s_training_lengths_apart(synthetic_results_factory):
    """Cells trained at different lengths are models of their own, not seeds of one."""
    study = []
    for length in (16, 64, 256):
        rows = synthetic_results_factory(archs=("lstm", "mamba"), train_len=(length, length))
        study.append(rows.assign(cell=rows["cell"] + f"-L{length}"))
    results = pd.concat(study, ignore_index=True)
    summary = summarize_headline(results)
    labels = [f"{a}(train_len={n})" for a in ("mamba", "lstm") for n in (16, 64, 256)]
    assert list(dict.fromkeys(summary["arch"])) == labels  # by arch, then by length
    assert summary["n_cells"].eq(3).all() and summary["n_seeds"].eq(3).all()  # the 3 seeds
    heat = plot_heatmap(results)
    panels = {ax.get_gid(): ax for ax in heat.axes if ax.get_gid()}
    assert [t.get_text() for t in panels["mean"].get_yticklabels()] == labels
    assert "(N = 3)" in panels["mean"].get_title() and "N = 9" not in panels["mean"].get_title()
    # a plain run keeps its plain labels
    assert set(summarize_headline(study[0])["arch"]) == {"lstm", "mamba"}


# --- critical time ----------------------------------------------------------------------------


def test_critical_time_marks_censored_probes(synthetic_probes):
    fig = plot_critical_time(synthetic_probes)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    censored = {
        line.get_gid(): line
        for line in ax.get_lines()
        if str(line.get_gid()).startswith("censored:")
    }
    assert set(censored) == {"censored:lstm"}  # only the LSTM never drops
    line = censored["censored:lstm"]
    assert line.get_markerfacecolor() == "white"
    np.testing.assert_array_equal(line.get_ydata(), 8192)
    assert any(t.get_text() == ">8k" for t in ax.texts)
    assert "censored: t* > reached length" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_critical_time_writes_a_shared_bound_once_per_task(synthetic_probes):
    probes = synthetic_probes.copy()
    task = probes["task"].iloc[0]
    both = (probes["arch"] == "mamba") & (probes["task"] == task)
    probes.loc[both, ["t_star", "t_star_hi", "censored"]] = [np.nan, np.nan, True]
    probes.loc[both, "t_star_lo"] = probes.loc[both, "max_len"]
    ax = plot_critical_time(probes).axes[0]
    bounds = [t for t in ax.texts if t.get_text() == ">8k"]
    # the LSTM is censored on every task, mamba on one more: still one label per task
    assert len(bounds) == probes["task"].nunique()
    shared = [t for t in bounds if t.get_color() == NEUTRAL_COLOR]
    assert len(shared) == 1


def test_critical_time_plots_each_seed_with_its_interval(synthetic_probes):
    fig = plot_critical_time(synthetic_probes)
    ax = fig.axes[0]
    tstar = [c for c in ax.containers if str(c.get_label()) == "transformer"]
    half = synthetic_probes[
        (synthetic_probes["arch"] == "transformer") & (synthetic_probes["threshold_name"] == "half")
    ]
    plotted = np.concatenate([c.lines[0].get_ydata() for c in tstar])
    np.testing.assert_allclose(sorted(plotted), sorted(half["t_star"]))


def test_critical_time_budget_stops_are_bounds_and_failures_are_text(synthetic_probes_factory):
    probes = synthetic_probes_factory(
        skipped=[("mamba", "flipflop")], failed=[("griffin", "parity")]
    )
    ax = plot_critical_time(probes).axes[0]
    bound = next(line for line in ax.get_lines() if line.get_gid() == "censored:mamba")
    np.testing.assert_array_equal(bound.get_ydata(), 1024)  # stopped early: t* > 1024
    texts = [t.get_text() for t in ax.texts]
    assert ">1k\ntime" in texts  # the bound and why the probe stopped
    marks = {line.get_gid() for line in ax.get_lines() if str(line.get_gid()).startswith("status")}
    assert "status:griffin:error" in marks  # a failed probe: a mark at the foot of its slot


def test_critical_time_without_probes_explains_itself():
    fig = plot_critical_time(pd.DataFrame())
    assert any("no probe results" in t.get_text() for t in fig.axes[0].texts)
    _render(fig)


# --- wall-clock and size ----------------------------------------------------------------------


@pytest.mark.parametrize("exponent", [1.0, 2.0])
def test_wallclock_legend_reports_the_fitted_slope(synthetic_results_factory, exponent):
    results = synthetic_results_factory(eval_exponent={a: exponent for a in ARCHS})
    fig = plot_wallclock(results)
    ax = fig.axes[1]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    slopes = {}
    for text in fig.legends[0].get_texts():  # under the panels
        arch, slope = re.fullmatch(r"(\w+) \(slope (-?[\d.]+)\)", text.get_text()).groups()
        slopes[arch] = float(slope)
    assert set(slopes) == set(ARCHS)
    for slope in slopes.values():
        assert slope == pytest.approx(exponent, abs=0.05)


def test_wallclock_throughput_bars_are_the_median_per_arch(synthetic_results):
    fig = plot_wallclock(synthetic_results)
    bars = {p.get_gid(): p for p in fig.axes[0].patches}
    for arch in ARCHS:
        per_cell = synthetic_results[synthetic_results["arch"] == arch].drop_duplicates("cell")
        expected = per_cell["tokens_per_second"].median()
        assert bars[f"throughput:{arch}"].get_width() == pytest.approx(expected)


def test_size_shows_params_and_state_at_the_longest_length(synthetic_results):
    fig = plot_size(synthetic_results)
    params_ax, state_ax = fig.axes
    assert state_ax.get_xscale() == "log"
    bars = {p.get_gid(): p for p in state_ax.patches}
    longest = synthetic_results[synthetic_results["eval_len"] == 2048]
    for arch in ARCHS:
        expected = longest.loc[longest["arch"] == arch, "state_size"].median()
        bar = bars[f"state_size:{arch}"]
        assert bar.get_x() + bar.get_width() == pytest.approx(expected)
    assert "2k" in state_ax.get_title()
    assert {p.get_gid() for p in params_ax.patches} == {f"params:{a}" for a in ARCHS}


def test_an_arch_has_one_colour_across_figures(synthetic_results, synthetic_probes):
    expected = arch_color("griffin")
    accuracy = plot_accuracy_vs_length(synthetic_results)
    seen = [
        line.get_color()
        for ax in accuracy.axes
        for line in ax.get_lines()
        if line.get_label() == "griffin"
    ]
    wall = plot_wallclock(synthetic_results)
    seen += [
        line.get_color() for line in wall.axes[1].get_lines() if line.get_gid() == "fit:griffin"
    ]
    seen += [p.get_facecolor() for p in wall.axes[0].patches if p.get_gid() == "throughput:griffin"]
    seen += [
        p.get_facecolor()
        for ax in plot_size(synthetic_results).axes
        for p in ax.patches
        if str(p.get_gid()).endswith(":griffin")
    ]
    seen += [
        c.lines[0].get_color()
        for c in plot_critical_time(synthetic_probes).axes[0].containers
        if c.get_label() == "griffin"
    ]
    heat = plot_heatmap(synthetic_results).axes[0]
    seen += [t.get_color() for t in heat.get_yticklabels() if t.get_text() == "griffin"]
    assert len(seen) >= 8
    assert {_hex(c) for c in seen} == {expected}


# --- registry, saving, robustness -------------------------------------------------------------


def test_registry_and_unknown_kind(synthetic_results):
    assert set(FIGURES) == {
        "accuracy",
        "heatmap",
        "critical_time",
        "wallclock",
        "size",
        "maze",
        "learning",
        "seqlen_scaling",
        "seqlen_time",
    }
    with pytest.raises(ValueError, match="accuracy, heatmap, critical_time, wallclock, size, maze"):
        make_figure("pie", synthetic_results)


def test_save_figure_writes_png_and_svg(tmp_path, synthetic_results):
    paths = save_figure(plot_size(synthetic_results), tmp_path / "sub" / "size.v2")
    assert [p.name for p in paths] == ["size.v2.png", "size.v2.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in paths[1].read_text()


@pytest.mark.parametrize("kind", list(FIGURES))
def test_every_figure_survives_every_scenario(kind, synthetic_scenario):
    name, results, probes = synthetic_scenario
    fig = make_figure(kind, results, probes)
    assert isinstance(fig, Figure)
    _render(fig)


def test_figures_read_store_dtypes(synthetic_results):
    """The store hands back float columns for ints with gaps and pandas string columns."""
    loaded = synthetic_results.astype({"eval_len": "float64", "seed": "float64"})
    loaded["arch"] = loaded["arch"].astype("string[pyarrow]")
    np.testing.assert_allclose(
        summarize_headline(loaded)["mean"], summarize_headline(synthetic_results)["mean"]
    )
    for kind in ("accuracy", "wallclock", "size"):
        _render(make_figure(kind, loaded))


def test_cells_with_failed_lengths_are_flagged_not_hidden(synthetic_results_factory):
    results = synthetic_results_factory()
    longest = (results["arch"] == "transformer") & (results["eval_len"] == 2048)
    results.loc[longest, ["accuracy", "scaled_accuracy"]] = np.nan
    results.loc[longest, ["status", "error"]] = ["oom", "CUDA out of memory"]
    summary = summarize_headline(results)
    assert set(summary.loc[summary["partial"] > 0, "arch"]) == {"transformer"}
    heat = plot_heatmap(results)
    assert any(t.get_text().startswith("0.") and "†" in t.get_text() for t in heat.axes[0].texts)
    accuracy = plot_accuracy_vs_length(results)
    assert "transformer: oom at 2k" in [t.get_text() for t in accuracy.axes[0].texts]


def test_a_long_task_label_wraps_after_its_commas_and_a_short_one_stays():
    label = "jumps(m=2,max_jump=1,n_instructions=2,target=sum)"
    lines = wrap_label(label).split("\n")
    assert "".join(lines) == label
    assert len(lines) > 1 and all(len(line) <= 26 for line in lines)
    assert all(line.endswith(",") for line in lines[:-1])
    assert wrap_label("parity") == "parity"

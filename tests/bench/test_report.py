"""The report: leaderboard, figures, config, provenance and failures, as md and as html."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from statebench.bench import report as report_module
from statebench.bench.plots import FIGURES, figure_applies, output
from statebench.bench.report import (
    RunTables,
    build_report,
    config_text,
    failures_table,
    leaderboards,
    plot_command,
    report,
    report_command,
)


@pytest.fixture(autouse=True)
def _small_figures(monkeypatch):
    """Low-resolution figures: these tests check files and links, not pixels."""
    monkeypatch.setattr(output, "DPI", 40)


@pytest.fixture
def synthetic_run(monkeypatch, synthetic_results, synthetic_probes, synthetic_manifest, tmp_path):
    """A run directory whose loading is stubbed with the synthetic tables."""
    tables = RunTables(synthetic_results, synthetic_probes, synthetic_manifest)
    monkeypatch.setattr(report_module, "load_run", lambda run_dir: tables)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    return run_dir


def test_md_report_has_the_leaderboard_and_links_existing_pngs(
    tmp_path, synthetic_results, synthetic_probes, synthetic_manifest
):
    path = build_report(synthetic_results, synthetic_probes, synthetic_manifest, tmp_path, "md")
    assert path == tmp_path / "report.md"
    text = path.read_text()
    assert "### Mean over seeds ± 95% CI" in text and "### Best of N seeds" in text
    assert "| arch | params | state size | parity | modular_sum | flipflop | average |" in text
    for arch in ("transformer", "mamba", "lstm", "griffin"):
        assert f"| {arch} |" in text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    drawn = [kind for kind in FIGURES if figure_applies(kind, synthetic_results, synthetic_probes)]
    assert "maze" not in drawn  # no maze task in the run: no maze figure
    assert "learning" not in drawn  # no training logs given: no learning curves
    assert "critical_time" in drawn
    assert sorted(links) == sorted(f"figures/{kind}.png" for kind in drawn)
    for link in links:
        assert (tmp_path / link).stat().st_size > 0
        assert (tmp_path / link).with_suffix(".svg").exists()
    assert "could not be drawn" not in text
    assert "```toml" in text and "steps = 2000" in text
    assert "git_sha" in text and "| transformer | sdpa | cpu |" in text


def test_leaderboard_is_sorted_by_average_and_says_which_summary(synthetic_results):
    mean, best = leaderboards(synthetic_results)
    assert list(mean["arch"]) == ["lstm", "mamba", "griffin", "transformer"]
    assert mean["parity"].str.fullmatch(r"-?\d\.\d\d ± \d\.\d\d").all()
    assert best["parity"].str.fullmatch(r"-?\d\.\d\d").all()


def test_html_report_is_self_contained(
    tmp_path, synthetic_results, synthetic_probes, synthetic_manifest
):
    out = tmp_path / "out" / "run.html"
    path = build_report(synthetic_results, synthetic_probes, synthetic_manifest, out, "html")
    assert path == out and sorted(p.name for p in out.parent.iterdir()) == ["run.html"]
    text = path.read_text()
    sources = re.findall(r'src="([^"]*)"', text)
    drawn = [k for k in FIGURES if figure_applies(k, synthetic_results, synthetic_probes)]
    assert len(sources) == len(drawn)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "href=" not in text and "<link" not in text and "http" not in text
    assert "Mean over seeds ± 95% CI" in text and "Best of N seeds" in text


def test_report_lists_failures_with_their_errors(
    tmp_path, synthetic_results_factory, synthetic_probes_factory
):
    results = synthetic_results_factory(
        failures={("griffin", "parity"): "diverged", ("mamba", "flipflop"): "oom"}
    )
    probes = synthetic_probes_factory(skipped=[("lstm", "parity")], failed=[("mamba", "parity")])
    table = failures_table(results, probes)
    assert set(table["status"]) == {"diverged", "oom", "skipped", "error"}
    assert "RuntimeError: diverged at step 123" in set(table["error"])  # a traceback's last line
    text = build_report(results, probes, {}, tmp_path, "md").read_text()
    assert "## Failed, diverged, not learned, missing and skipped cells" in text
    assert "time budget of 60 s reached at position 1024" in text
    assert "RuntimeError: probe failed" in text and "RuntimeError: oom at step 123" in text
    assert "| griffin |" in text and "diverged" in text


def test_report_without_probes_says_so(tmp_path, synthetic_results):
    text = build_report(synthetic_results, pd.DataFrame(), {}, tmp_path, "md").read_text()
    assert "No probe results in this run" in text
    assert "no critical-time figure is drawn" in text
    assert "figures/critical_time.png" not in text
    assert not (tmp_path / "figures" / "critical_time.png").exists()


def test_report_survives_every_scenario(tmp_path, synthetic_scenario, monkeypatch):
    monkeypatch.setattr(output, "FORMATS", ("png",))  # the figure matrix is in test_plots
    name, results, probes = synthetic_scenario
    path = build_report(results, probes, {"run_id": name}, tmp_path / name, "md")
    text = path.read_text()
    assert "could not be drawn" not in text
    assert f"statebench report: {name}" in text
    for kind in FIGURES:
        drawn = (path.parent / "figures" / f"{kind}.png").exists()
        applies = figure_applies(kind, results, probes)
        assert drawn <= applies, kind
        if applies and not drawn:  # the run has its table, but nothing in it to show
            assert re.search(rf"Not drawn, nothing to show: .*`{kind}` \(", text), kind


def test_report_of_an_empty_run(tmp_path):
    text = build_report(pd.DataFrame(), None, None, tmp_path, "md").read_text()
    assert "no result rows" in text and "could not be drawn" not in text


def test_config_is_toml_without_nulls_and_json_otherwise():
    language, text = config_text({"name": "x", "clip": None, "train": {"lr": 1e-3}})
    assert language == "toml" and "clip" not in text and "[train]" in text
    language, text = config_text({"bad": {1, 2}})  # TOML cannot hold a set
    assert language == "json" and '"bad"' in text


def test_report_from_a_run_directory(synthetic_run):
    path = report_command(synthetic_run, "html")
    assert path == synthetic_run / "report" / "report.html" and path.stat().st_size > 0


def test_report_command_rejects_an_unknown_format(synthetic_run):
    with pytest.raises(ValueError, match="md, html"):
        report_command(synthetic_run, "pdf")


def test_plot_command_writes_png_and_svg(
    synthetic_run, synthetic_results, synthetic_probes, tmp_path
):
    paths = plot_command(synthetic_run, "heatmap")
    assert paths == [
        synthetic_run / "figures" / "heatmap.png",
        synthetic_run / "figures" / "heatmap.svg",
    ]
    assert all(p.exists() for p in paths)
    assert plot_command(synthetic_run, "size", tmp_path / "a.png") == [tmp_path / "a.png"]
    drawn = [kind for kind in FIGURES if figure_applies(kind, synthetic_results, synthetic_probes)]
    assert len(plot_command(synthetic_run, "all", tmp_path / "all")) == 2 * len(drawn)


def test_plot_command_lists_the_kinds_for_an_unknown_one(synthetic_run):
    with pytest.raises(ValueError) as error:
        plot_command(synthetic_run, "pie")
    for kind in (*FIGURES, "all"):
        assert kind in str(error.value)


def test_report_reads_a_run_written_by_the_store(
    tmp_path, synthetic_results_factory, synthetic_probes, synthetic_manifest
):
    """End to end through bench.store: its dtypes (float ints, string columns) included."""
    store = pytest.importorskip("statebench.bench.store")
    results = synthetic_results_factory(failures={("griffin", "parity"): "diverged"})
    run_dir = tmp_path / "run"
    for cell, rows in results.groupby("cell"):
        records = rows.astype(object).where(rows.notna(), None).to_dict("records")
        store.write_table(run_dir, "cells", str(cell), records)
    for cell, rows in synthetic_probes.groupby("cell"):
        records = rows.astype(object).where(rows.notna(), None).to_dict("records")
        store.write_table(run_dir, "probes", str(cell), records)
    store.write_manifest(run_dir, synthetic_manifest)
    path = report(run_dir, "md")
    text = path.read_text()
    assert "| lstm |" in text and "diverged" in text and "could not be drawn" not in text
    assert "No probe results" not in text


def test_a_cell_at_the_target_that_did_not_hold_is_not_called_below_it():
    """The last check at 1.000 with the hold rule missed: the reason names the rule, the row its
    learning rate (three cells of one arch differ only there)."""
    rows = pd.DataFrame(
        [
            dict(arch="lstm", arch_options="{}", task="parity", task_options="{}", cell=f"c{i}",
                 seed=0, lr=lr, d_model=256, n_layers=1, eval_len=41, accuracy=1.0, status="ok",
                 train_len_max=40, learned=learned, val_accuracy=val, error=None)
            for i, (lr, learned, val) in enumerate([(1e-4, False, 1.0), (3e-4, True, 1.0),
                                                    (5e-4, False, 0.98958)])
        ]
    )  # fmt: skip
    table = failures_table(rows, pd.DataFrame(), {"target_accuracy": 0.99, "hold_checks": 3})
    assert list(table["lr"]) == ["0.0001", "0.0005"]
    held, low = table["error"]
    assert "1.000 at the last check" in held and "not held at 3 consecutive checks" in held
    assert "below" not in held
    assert "0.98958" in low or "0.9896" in low  # never rounded up to the target it missed

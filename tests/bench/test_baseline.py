"""A run reported against a baseline it does not rerun: the shipped rows of a reference run (or
any run directory) join every table and figure, marked `[baseline]`, with a warning wherever
the two configurations differ in more than the arch.

The run-directory tests use two tiny runs made here; the shipped-name test reads the committed
quick reference (results/reference/quick/rows: what a fresh clone has) and trains only the
docs' GRU adapter beside it, at a budget shrunk for speed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from matplotlib.text import Text
from statebench.bench.analysis.baseline import config_differences, mark_rows
from statebench.bench.analysis.summary import summarize_headline
from statebench.bench.cli import app
from statebench.bench.config import load_config
from statebench.bench.config.labels import BASELINE_MARK, arch_order, marked, with_options
from statebench.bench.plots import make_figure
from statebench.bench.plots.output import note_below
from statebench.bench.plots.style import FULL_WIDTH, arch_color, arch_marker, new_figure
from statebench.bench.report import leaderboards, load_baseline, load_run, report_blocks
from statebench.bench.run.runner import run_matrix
from statebench.bench.store import RunDir
from statebench.bench.store.references import find_baseline, shipped_references
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "extending.md"
GRU = "mypkg.gru:GRUMixer"
TINY = ["train.steps=2", "train.len_max=8", "eval.samples=4", "eval.lengths=[8,16]"]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def figure_texts(fig) -> str:
    """Every string a figure draws (legends, tick labels, notes), after a layout pass."""
    fig.draw_without_rendering()
    return "\n".join(t.get_text() for t in fig.findobj(Text))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A baseline (lstm and transformer on parity) and a run of the lstm alone with the same
    settings, so its cell has the very key of the baseline's lstm cell; one torch thread."""
    where = tmp_path_factory.mktemp("runs")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        overrides = ["archs=['lstm', 'transformer']", "tasks=['parity']", *TINY]
        base = run_matrix(load_config(preset="smoke", overrides=overrides), where / "base")
        mine = run_matrix(
            load_config(preset="smoke", overrides=[*overrides[1:], "archs=['lstm']"]),
            where / "mine",
        )
    finally:
        torch.set_num_threads(threads)
    return base, mine


def test_a_shipped_run_holds_the_rows_of_the_run_and_reads_as_one(runs, tmp_path):
    base, _ = runs
    shipped = RunDir(base).ship(tmp_path / "ref")
    files = sorted(p.relative_to(shipped.path).as_posix() for p in shipped.path.rglob("*.*"))
    assert files == ["manifest.json", "rows/cells.parquet", "rows/training_logs.parquet"]
    for load in ("load", "load_training_log"):
        got, want = (getattr(RunDir(d), load)() for d in (shipped.path, base))
        order = ["cell", "eval_len"] if load == "load" else ["cell", "step"]
        got, want = (df.sort_values(order, ignore_index=True) for df in (got, want))
        pd.testing.assert_frame_equal(got, want)
    result = invoke("plot", shipped.path, "--kind", "heatmap", "--out", tmp_path / "h.png")
    assert result.exit_code == 0 and (tmp_path / "h.png").is_file(), result.output
    tables = load_run(shipped.path)  # what `statebench report` reads
    assert len(tables.results) == 4 and not tables.unreadable and tables.probes.empty


def test_a_shipped_table_of_another_run_is_not_read(runs, tmp_path):
    base, _ = runs
    shipped = RunDir(base).ship(tmp_path / "ref")
    manifest = json.loads(shipped.manifest_file.read_text())
    shipped.write_manifest({**manifest, "config_hash": "0" * 16})  # rows of another config
    assert shipped.load().empty


def test_report_against_a_run_dir_shows_both_and_marks_the_baseline(runs, tmp_path):
    base, mine = runs
    assert set(RunDir(mine).cells()) < set(RunDir(base).cells())  # one cell key in both
    out = tmp_path / "report.md"
    result = invoke("report", mine, "--baseline", base, "--out", out)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    board = text.split("### Mean over seeds", 1)[1].split("###", 1)[0]
    rows = {
        line.split(" | ")[0].strip("| ").replace("\\", "")
        for line in board.splitlines()
        if "|" in line
    }
    assert {"lstm", "lstm [baseline]", "transformer [baseline]"} <= rows
    assert "agree in everything but the archs" in text and "**Warning:**" not in text


def test_an_arch_in_both_runs_stays_two_rows_never_one_mean(runs):
    base, mine = runs
    tables = load_run(mine)
    baseline = load_baseline(str(base), tables.manifest)
    results, _, _ = baseline.join(tables.results, tables.probes, tables.logs)
    (key,) = RunDir(mine).cells()
    assert {key, f"baseline:{key}"} <= set(results["cell"])
    summary = summarize_headline(results).set_index("arch")
    assert sorted(summary.index) == ["lstm", "lstm [baseline]", "transformer [baseline]"]
    assert (summary["n_cells"] == 1).all()  # each its own single seed, never pooled
    mean, _ = leaderboards(results)
    assert sorted(mean["arch"]) == sorted(summary.index)


def test_plot_against_a_run_dir_draws_both_with_a_note(runs, tmp_path):
    base, mine = runs
    out = tmp_path / "heatmap.png"
    result = invoke("plot", mine, "--kind", "heatmap", "--baseline", base, "--out", out)
    assert result.exit_code == 0 and out.is_file(), result.output
    tables = load_run(mine)
    blocks = report_blocks(
        tables.results,
        tables.probes,
        tables.manifest,
        tables.logs,
        baseline=load_baseline(str(base), tables.manifest),
    )
    for block in (b for b in blocks if b.kind == "figure" and b.name in ("heatmap", "size")):
        texts = figure_texts(block.figure)
        for label in ("lstm", "lstm [baseline]", "transformer [baseline]"):
            assert re.search(rf"^{re.escape(label)}$", texts, re.M), (block.name, label)
        assert "[baseline]: cells of the baseline" in texts, block.name


def test_a_config_that_differs_is_warned_on_stderr_and_in_the_report(runs, tmp_path):
    base, _ = runs
    steps = ["archs=['lstm']", "tasks=['parity']", *TINY[1:], "train.steps=3"]
    other = run_matrix(load_config(preset="smoke", overrides=steps), tmp_path / "other")
    command = ["plot", str(other), "--kind", "size", "--out", str(tmp_path / "size.png")]
    done = subprocess.run(
        [sys.executable, "-m", "statebench", *command, "--baseline", str(base)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "differ in more than the arch" in done.stderr
    assert "train.steps: 3 here, 2 in the baseline" in done.stderr
    tables = load_run(other)
    blocks = report_blocks(
        tables.results,
        tables.probes,
        tables.manifest,
        baseline=load_baseline(str(base), tables.manifest),
    )
    texts = [b.text for b in blocks if b.kind == "text"]
    assert any(t.startswith("**Warning:** the two runs differ") for t in texts)
    (table,) = [b.table for b in blocks if b.kind == "table" and "setting" in b.table]
    assert table.to_dict("records") == [
        {"setting": "train.steps", "this run": "3", "baseline": "2"}
    ]


def test_differences_name_every_setting_but_the_arch():
    config = load_config(preset="quick").model_dump(mode="json")
    here = {"config": config, "environment": {"cpu_threads": 1, "statebench_version": "0.2.0"}}
    same = json.loads(json.dumps(here))
    same["config"]["archs"] = [{"name": "mypkg.gru:GRUMixer"}]  # the arch: no difference
    same["config"]["seeds"] = list(reversed(same["config"]["seeds"]))
    same["config"]["tasks"] = list(reversed(same["config"]["tasks"]))  # order: none either
    assert config_differences(here, same) == []
    there = json.loads(json.dumps(same))
    there["config"]["train"]["steps"] = 20
    there["config"]["model"]["param_budget"] = 50000
    (permutation,) = [t for t in there["config"]["tasks"] if t["name"] == "permutation"]
    permutation["options"] = {"group": "A4"}
    there["environment"]["cpu_threads"] = 2
    found = {d.field: (d.here, d.baseline) for d in config_differences(here, there)}
    assert set(found) == {
        "tasks",
        "train.steps",
        "model.param_budget",
        "environment.cpu_threads",
    }
    assert found["train.steps"] == ("300", "20")
    assert found["environment.cpu_threads"] == ("1", "2")
    assert "permutation(group=A4)" in found["tasks"][1]


def test_marked_labels_keep_their_colour_take_another_marker_and_follow_this_runs():
    for arch in ("lstm", "mamba(eigen=[-1,1])", "mypkg.gru:GRUMixer"):
        assert arch_color(marked(arch)) == arch_color(arch)
        assert arch_marker(marked(arch)) != arch_marker(arch)
    order = arch_order(["lstm [baseline]", "zeta", "lstm", "transformer [baseline]"])
    assert order == ["lstm", "zeta", "transformer [baseline]", "lstm [baseline]"]


def test_marking_keeps_the_group_of_rows_from_before_the_column():
    rows = pd.DataFrame(
        {"arch": ["lstm", "mamba"], "arch_options": ["{}", '{"eigen": "[-1,1]"}'], "cell": "k"}
    )
    out = mark_rows(rows)
    assert list(out["arch"]) == ["lstm [baseline]", "mamba(eigen=[-1,1]) [baseline]"]
    assert list(out["time_parallel"]) == [False, True] and set(out["cell"]) == {"baseline:k"}


def test_a_bad_baseline_is_one_line_and_exit_2_before_anything_is_written(runs, tmp_path):
    base, mine = runs
    out = tmp_path / "never"
    result = invoke("run", "--preset", "smoke", "--baseline", "quik", "--out", out)
    assert result.exit_code == 2 and not out.exists()
    (line,) = result.stderr.strip().splitlines()
    assert "--baseline 'quik'" in line and "did you mean quick" in line, line
    assert "shipped reference" in line
    for command in (["report", mine], ["plot", mine, "--kind", "heatmap"]):
        result = invoke(*command, "--baseline", tmp_path)  # a folder that holds no run
        assert result.exit_code == 2, result.output
        (line,) = result.stderr.strip().splitlines()
        assert "--baseline" in line and "no manifest.json" in line, line
    assert not RunDir(mine).report_dir.exists() and not RunDir(mine).figures_dir.exists()


# -- the shipped quick reference, against the docs' GRU ------------------------------------------


@pytest.fixture
def doc_gru(tmp_path, monkeypatch) -> Path:
    """docs/extending.md's GRU adapter, copied out of the page into mypkg/ of a fresh folder
    that is the current directory (as a user runs it)."""
    section = DOCS.read_text().split("## Add an architecture\n", 1)[1].split("\n## ", 1)[0]
    source = next(
        b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "# mypkg/gru.py" in b
    )
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "gru.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "mypkg" or m.startswith("mypkg.")]:
        monkeypatch.delitem(sys.modules, name)
    return tmp_path


def test_the_quick_reference_ships_its_rows():
    assert "quick" in shipped_references()
    run = find_baseline("quick")
    assert run.path.resolve() == (ROOT / "results" / "reference" / "quick").resolve()
    assert not (run.path / "checkpoints").exists() and not (run.path / "cells").exists()
    size = sum(p.stat().st_size for p in (run.path / "rows").iterdir())
    assert 0 < size < 400_000, size  # rows of a few hundred KB at most


def test_run_quick_with_the_docs_gru_against_the_shipped_quick(doc_gru, caplog):
    """The journey the README ends with: only the GRU's cells train, and the report's tables
    and figures show it beside every arch of the quick reference (budget shrunk: warned)."""
    out = doc_gru / "gru-run"
    shrink = ["--set", "train.steps=4", "--set", "eval.samples=8"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = invoke("run", "--preset", "quick", "--arch", GRU, "--baseline", "quick",
                        "--out", out, "--allow-failures", *shrink)  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    reference = find_baseline("quick").require_manifest()
    quick = load_config(preset="quick")
    run = RunDir(out)
    trained = run.load().drop_duplicates("cell")
    assert set(trained["arch"]) == {GRU}  # only the user's arch trained
    assert len(run.cells()) == len(quick.tasks) * len(quick.seeds)
    warned = "\n".join(r.getMessage() for r in caplog.records)  # the report's warning
    assert "train.steps: 4 here, 300 in the baseline" in warned
    # and before anything trained: the first lines on stderr, not only the report at the end
    first = result.stderr.splitlines()[:4]
    assert first[0].startswith("warning: this run will differ from the baseline quick"), first
    assert "  train.steps: 4 here, 300 in the baseline" in first, first

    report = (out / "report" / "report.md").read_text()
    reference_archs = {
        marked(with_options(a["name"], a["options"])) for a in reference["config"]["archs"]
    }
    board = report.split("### Mean over seeds", 1)[1].split("###", 1)[0]
    rows = {
        line.split(" | ")[0].strip("| ").replace("\\", "")
        for line in board.splitlines()
        if "|" in line
    }
    assert {GRU, *reference_archs} <= rows, rows
    assert "| train.steps | 4 | 300 |" in report
    assert re.search(r"!\[accuracy\]\(figures/accuracy\.png\)", report)
    assert (out / "report" / "figures" / "accuracy.png").is_file()

    figures = sorted(p.stem for p in (out / "report" / "figures").glob("*.png"))
    assert {"accuracy", "heatmap", "wallclock", "size"} <= set(figures), figures
    # The report's figures are PNGs: draw the same ones again to read what they say.
    tables = load_run(out)
    baseline = load_baseline("quick", tables.manifest)
    results, probes, logs = baseline.join(tables.results, tables.probes, tables.logs)
    for name in ("accuracy", "heatmap", "wallclock", "size"):
        texts = figure_texts(make_figure(name, results, probes, logs=logs))
        for label in (GRU, *reference_archs):
            assert label in texts, (name, label)
    note = baseline.figure_note()  # the line under each figure names the baseline and the budget
    assert note.startswith(f"{BASELINE_MARK.strip()}: cells of the baseline quick"), note
    assert "train.steps" in note, note


def test_the_note_under_a_figure_lies_below_its_lowest_panel():
    """A constrained figure lays out only when drawn (the learning curves: a row per task); the
    note under it waits for that, or it lands inside the lowest panel."""
    fig = new_figure(FULL_WIDTH, 0.8 + 2.0 * 5)
    for ax in fig.subplots(5, 2).flat:
        ax.plot([0, 300], [1.0, 0.01])
        ax.set_xlabel("training step")
    text = "[baseline]: cells of the baseline quick (not rerun)"
    note_below(fig, text)
    fig.draw_without_rendering()
    renderer = fig._get_renderer()
    (note,) = [t for t in fig.texts if t.get_text() == text]
    lowest = min(ax.get_tightbbox(renderer).y0 for ax in fig.axes)
    assert note.get_window_extent(renderer).y1 <= lowest

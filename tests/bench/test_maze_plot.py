"""`statebench plot --kind maze`: the maze of every maze task of a run, walls and all."""

from __future__ import annotations

import json

import matplotlib.colors as mcolors
import pandas as pd
import pytest
from statebench.bench import report as report_module
from statebench.bench.plots import figure_applies, make_figure, output
from statebench.bench.plots.maze import maze_tasks
from statebench.bench.report import RunTables, plot_command
from statebench.tasks.maze import interior_walls


@pytest.fixture(autouse=True)
def _small_figures(monkeypatch):
    monkeypatch.setattr(output, "DPI", 40)


def _rows(*tasks: tuple[str, dict]) -> pd.DataFrame:
    return pd.DataFrame(
        {"task": [t for t, _ in tasks], "task_options": [json.dumps(o) for _, o in tasks]}
    )


def _walls(ax) -> int:
    black = mcolors.to_rgba("black")
    return sum(mcolors.to_rgba(line.get_color()) == black for line in ax.lines)


def test_one_panel_per_maze_with_its_walls_and_border():
    results = _rows(
        ("maze", {}),
        ("maze", {}),
        ("parity", {}),
        ("maze", {"size": 3, "readout": "all"}),
        ("maze", {"size": 5, "extra_openings": 2, "start": "shown"}),
    )
    mazes = maze_tasks(results)
    assert [(m.size, m.start) for m in mazes] == [(4, "fixed"), (5, "shown"), (3, "fixed")]
    fig = make_figure("maze", results)
    assert len(fig.axes) == 3
    for ax, task in zip(fig.axes, mazes, strict=True):
        assert _walls(ax) == len(interior_walls(task.size, set(task.passages))) + 1  # + border
        assert any(t.get_text() == "S" for t in ax.texts)


def test_the_maze_figure_applies_only_to_runs_with_a_maze(synthetic_results):
    assert not figure_applies("maze", synthetic_results)
    assert figure_applies("maze", _rows(("maze", {})))
    assert figure_applies("heatmap", synthetic_results)
    blank = make_figure("maze", synthetic_results)
    assert "No maze task" in " ".join(t.get_text() for ax in blank.axes for t in ax.texts)


def test_plot_command_draws_the_maze(monkeypatch, tmp_path):
    tables = RunTables(_rows(("maze", {"size": 3})), pd.DataFrame(), {})
    monkeypatch.setattr(report_module, "load_run", lambda run_dir: tables)
    paths = plot_command(tmp_path, "maze")
    assert paths == [tmp_path / "figures" / "maze.png", tmp_path / "figures" / "maze.svg"]
    assert all(p.stat().st_size > 0 for p in paths)

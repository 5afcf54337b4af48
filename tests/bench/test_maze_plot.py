"""`statebench plot --kind maze`: the maze of every maze task of a run, walls and all."""

from __future__ import annotations

import json

import matplotlib.colors as mcolors
import pandas as pd
import pytest
from statebench.bench.cli import app
from statebench.bench.config import load_config
from statebench.bench.plots import figure_applies, make_figure, output
from statebench.bench.plots.maze import maze_tasks
from statebench.bench.report import load_run
from statebench.bench.run.runner import run_matrix
from statebench.tasks.maze import interior_walls
from typer.testing import CliRunner


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


def test_plot_command_draws_the_maze_of_a_run(tmp_path):
    """`statebench plot RUN --kind maze` on a run that trained on a 3x3 maze."""
    tiny = ["archs=['lstm']", "tasks=[{name = 'maze', options = {size = 3}}]", "train.steps=2"]
    run_dir = run_matrix(load_config(preset="smoke", overrides=[*tiny, "eval.lengths=[8]"]),
                         tmp_path / "run")  # fmt: skip
    result = CliRunner().invoke(app, ["plot", str(run_dir), "--kind", "maze"])
    assert result.exit_code == 0, result.output
    png, svg = run_dir / "figures" / "maze.png", run_dir / "figures" / "maze.svg"
    assert png.stat().st_size > 0 and "<svg" in svg.read_text()
    (task,) = maze_tasks(load_run(run_dir).results)
    assert task.size == 3
    (ax,) = make_figure("maze", load_run(run_dir).results).axes
    assert _walls(ax) == len(interior_walls(3, set(task.passages))) + 1

"""A report that never misleads: after `statebench eval` it names the added lengths and shows
the lengths measured; the headline says which lengths it averages; not-learned cells are listed
as failures in a run without probes; an eval length that raises fails alone; `eval` prints
progress into a redirected file."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import tomllib
from statebench.bench import store
from statebench.bench.cli import app
from statebench.bench.config import load_config, validate
from statebench.bench.plots import output
from statebench.bench.report import report
from statebench.bench.run.runner import run_matrix
from typer.testing import CliRunner

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY = ["train.steps=2", "train.log_every=1", "eval.samples=4", "eval.lengths=[8, 16]"]


@pytest.fixture(autouse=True)
def _small_figures(monkeypatch):
    monkeypatch.setattr(output, "DPI", 40)


@pytest.fixture
def unlearned(tmp_path):
    """Two smoke cells trained 2 steps: stored ok, not learned (no probes)."""
    cfg = load_config(preset="smoke", overrides=[*TINY, "archs=['lstm']"])
    return run_matrix(cfg, tmp_path / "run")


def _section(text: str, heading: str) -> str:
    return text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def test_after_eval_the_report_names_the_added_lengths_and_shows_them(unlearned):
    result = CliRunner().invoke(app, ["eval", str(unlearned), "--lengths", "32,64"])
    assert result.exit_code == 0, result.output
    text = report(unlearned).read_text()
    config = _section(text, "Configuration")
    assert "Added after training by `statebench eval`: 32 and 64." in config
    assert "The run's config asked for 8 and 16." in config
    assert re.search(r"32 and 64 on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00 \(4 rows", config)
    toml = config.split("```toml\n", 1)[1].split("```", 1)[0]
    assert tomllib.loads(toml)["eval"]["lengths"] == [8, 16, 32, 64]
    assert "# lengths: measured; the run's config asked for [8, 16]" in toml
    board = _section(text, "Leaderboard")
    assert "the headline averages eval lengths 32 and 64 (beyond the training length 16)" in board
    assert "Of these, 32 and 64 were added after training by `statebench eval`" in board


def test_a_report_without_eval_says_nothing_about_added_lengths(unlearned):
    text = report(unlearned).read_text()
    assert "statebench eval" not in text
    assert "the headline averages eval lengths" not in text  # nothing beyond training (16)


def test_not_learned_cells_are_listed_in_a_run_without_probes(unlearned):
    rows = store.load(unlearned)
    assert (rows["status"] == "ok").all() and not rows["learned"].any()
    text = report(unlearned).read_text()
    failures = _section(text, "Failed, diverged, not learned, missing and skipped cells")
    assert "None: every cell" not in failures
    for task in ("parity", "modular_sum"):
        assert re.search(
            rf"\| train \| lstm \| {task} \| 0 \| [0-9.e-]+ \|  \| not_learned \|", failures
        )
    assert "train.target_accuracy=0.99 was not held" in failures


def test_an_eval_length_that_raises_fails_alone(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    cfg = load_config(
        preset="smoke",
        overrides=["train.steps=2", "train.len_max=16", "eval.samples=4",
                   "eval.lengths=[16, 32, 64]", "tasks=['parity']"],
    )  # fmt: skip
    cfg = validate({**cfg.model_dump(mode="json"), "archs": ["bench_archs:RaisesBeyondMixer"]})
    # the door would refuse this mixer (it raises past 40 tokens): let it in, to test the rows
    df = store.load(run_matrix(cfg, tmp_path / "run", skip_conformance=True)).set_index("eval_len")
    for length in (16, 32):
        assert df.loc[length, "status"] == "ok" and not math.isnan(df.loc[length, "accuracy"])
    assert df.loc[64, "status"] == "error" and math.isnan(df.loc[64, "accuracy"])
    assert "eval length 64: RuntimeError: this mixer handles at most 40" in df.loc[64, "error"]
    again = CliRunner().invoke(
        app, ["eval", str(tmp_path / "run"), "--lengths", "24,48",
              "--allow-import", "bench_archs:RaisesBeyondMixer", "--skip-conformance"],
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    df = store.load(tmp_path / "run").set_index("eval_len")
    assert df.loc[24, "status"] == "ok" and df.loc[48, "status"] == "error"
    assert df.loc[16, "status"] == "ok"  # the lengths measured before keep their rows


def test_eval_prints_a_line_per_cell_when_redirected(unlearned):
    result = CliRunner().invoke(app, ["eval", str(unlearned), "--lengths", "24"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if " cell " in line]
    assert len(lines) == 2
    assert re.match(r"\[\s*\d+\.\ds\] cell 1/2 ok: lstm / parity / seed 0 / lr 0.003", lines[0])
    assert "cell 2/2 ok: lstm / modular_sum" in lines[1]

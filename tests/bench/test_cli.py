"""Command-line conventions: --version, shell completion, choices, --seed, show-config round
trip, exit status on failed cells, `list` descriptions, and progress lines when output is not a
terminal."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

import statebench.models as models
from pydantic import BaseModel
from statebench import __version__
from statebench.bench import store
from statebench.bench.cli import app
from statebench.bench.cli.options import FIGURE_KINDS
from statebench.bench.config import MatrixConfig, load_config
from statebench.bench.plots import FIGURES
from typer.testing import CliRunner

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY = ["--set", "train.steps=2", "--set", "eval.samples=4", "--set", "eval.lengths=[8]"]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.strip() == f"statebench {__version__}"


def test_python_dash_m_is_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "statebench", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.strip() == f"statebench {__version__}"


def test_shell_completion_completes_commands_and_choices():
    script = Path(sys.executable).with_name("statebench")  # the installed console script
    # typer names the shell from the process tree, which a detached test run lacks: its own
    # switch lets the shell be named instead
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    shown = subprocess.run(
        [script, "--show-completion", "bash"], capture_output=True, text=True, env=env
    )
    assert shown.returncode == 0 and "_STATEBENCH_COMPLETE=complete_bash" in shown.stdout

    def complete(words: str) -> list[str]:
        env = {"_STATEBENCH_COMPLETE": "complete_bash", "COMP_WORDS": words}
        env["COMP_CWORD"] = str(len(words.split()) - (0 if words.endswith(" ") else 1))
        done = subprocess.run([script], capture_output=True, text=True, env={**env, "PATH": ""})
        return done.stdout.split()

    assert complete("statebench pl") == ["plot"]
    assert complete("statebench run --executor ") == ["local", "pool", "ray", "slurm"]
    assert "maze" in complete("statebench plot results --kind ")


def test_fixed_choices_are_listed_and_enforced():
    assert set(FIGURE_KINDS) == {*FIGURES, "all"}
    help_text = invoke("run", "--help").output
    assert "local | pool | ray | slurm" in help_text and "auto | cpu | cuda" in help_text
    assert "md | html" in invoke("report", "--help").output
    wide = CliRunner().invoke(app, ["plot", "--help"], env={"COLUMNS": "400"}).output
    assert " | ".join(FIGURE_KINDS) in wide
    bad = invoke("report", ".", "--format", "pdf")
    assert bad.exit_code == 2 and "'pdf'" in bad.output
    bad = invoke("plot", ".", "--kind", "pie")
    assert bad.exit_code == 2 and "'pie'" in bad.output


def test_seed_repeats_and_seeds_still_works():
    def seeds(*args):
        result = invoke("show-config", "--preset", "smoke", *args)
        assert result.exit_code == 0, result.output
        return tomllib.loads(result.output)["seeds"]

    assert seeds("--seed", "4", "--seed", "2") == [4, 2]
    assert seeds("--seeds", "7") == [7]


def test_show_config_prints_every_table_and_round_trips(tmp_path):
    args = ["--preset", "quick", "--set", "probe.max_len=4096", "--set", "executor.kind=pool"]
    args += ["--set", "tracking.backend=wandb", "--set", "tracking.tags=['a']"]
    first = invoke("show-config", *args, "--seed", "3", "--seeds", "5")
    assert first.exit_code == 0, first.output
    for table in ("[probe]", "[executor]", "[tracking]"):
        assert table in first.output
    assert "seeds = [\n    3,\n    5,\n]" in first.output or "seeds = [ 3, 5" in first.output
    saved = tmp_path / "my.toml"
    saved.write_text(first.output)
    again = invoke("show-config", "--config", saved)
    assert again.exit_code == 0, again.output
    assert again.output == first.output
    assert "max_len = 4096" in again.output and 'kind = "pool"' in again.output
    assert 'backend = "wandb"' in again.output


def test_show_config_prints_every_field_and_table(tmp_path):
    overrides = ["probe.samples=3", "executor.kind=slurm", "executor.slurm.array_parallelism=7"]
    result = invoke(
        "show-config", "--preset", "quick", *[w for o in overrides for w in ("--set", o)]
    )
    assert result.exit_code == 0, result.output
    printed = tomllib.loads(result.output)
    want = load_config(preset="quick", overrides=overrides)
    for name in MatrixConfig.model_fields:
        value = getattr(want, name)
        if value is not None:
            assert name in printed, f"show-config left out {name}"
        if isinstance(value, BaseModel):
            assert f"[{name}]" in result.output
    assert printed["executor"]["slurm"]["array_parallelism"] == 7
    saved = tmp_path / "my.toml"
    saved.write_text(result.output)
    again = load_config(config_file=saved)
    assert again == want and again.probe == want.probe and again.executor == want.executor


def test_list_describes_every_architecture_in_one_line():
    text = CliRunner().invoke(app, ["list"], env={"COLUMNS": "400"}).output
    for name in models.list_archs():
        description = models.arch_class(name).__dict__.get("description")
        assert description and "\n" not in description and len(description) <= 80, name
        assert f"│ {name}" in text and description in text, name


def test_run_ends_with_its_report_and_next_commands_that_work(tmp_path):
    out = tmp_path / "my run"  # a space: the printed commands must quote it
    args = ["run", "--preset", "smoke", "--arch", "lstm", "--task", "parity", "--seed", "3"]
    result = invoke(*args, "--out", out, *TINY, "--set", "model.d_model=8")
    assert result.exit_code == 0, result.output
    assert (out / "report" / "report.md").exists() and (out / "report" / "figures").is_dir()
    after = result.output.split("next:\n", 1)[1].splitlines()
    commands = [shlex.split(line) for line in after if line.strip().startswith("statebench ")]
    report, probe = (next(c for c in commands if c[1] == name) for name in ("report", "probe"))
    assert invoke(*report[1:]).exit_code == 0 and (out / "report" / "report.html").exists()
    tiny_probe = ["--set", "probe.max_len=64", "--set", "probe.samples=2"]
    assert invoke(*probe[1:], *tiny_probe).exit_code == 0  # the same cells: nothing retrained
    probed = store.load_probes(out)
    assert set(probed["cell"]) == set(store.load(out)["cell"]) and set(probed["seed"]) == {3}


def test_a_failed_cell_makes_run_exit_1_unless_allowed(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    args = ["run", "--arch", "lstm", "--arch", "bench_archs:BrokenMixer", "--task", "parity"]
    # --skip-conformance: the door would refuse it; this is about a cell failing at run time
    args += ["--out", tmp_path / "run", "--no-report", "--skip-conformance", *TINY]
    failed = invoke(*args)
    assert failed.exit_code == 1, failed.output
    assert "1 cell(s) failed" in failed.stderr and "broken on purpose" in failed.output
    assert invoke(*args, "--allow-failures").exit_code == 0


def test_progress_lines_reach_a_file_while_the_run_runs(tmp_path):
    log = tmp_path / "log.txt"
    args = ["run", "--preset", "smoke", "--out", tmp_path / "run", "--no-report"]
    args += ["--set", "train.steps=40", "--set", "eval.samples=8", "--set", "eval.lengths=[8]"]
    with log.open("w") as f:  # `statebench run ... > log.txt`: stdout is not a terminal
        proc = subprocess.Popen([sys.executable, "-m", "statebench", *map(str, args)], stdout=f)
    try:
        deadline = time.monotonic() + 300
        while "cell 1/4" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        seen_while_running = proc.poll() is None
        assert proc.wait(timeout=300) == 0, log.read_text()
    finally:
        proc.kill()
    assert seen_while_running, "progress reached the file only when the run ended"
    text = log.read_text()
    assert "run: 4 cells" in text and "cell 4/4 ok" in text and "run finished: ok 4" in text
    assert "\x1b[" not in text  # plain lines, no terminal control codes


def test_library_runs_show_progress_in_a_notebook_and_nowhere_else(monkeypatch):
    from rich.console import Console
    from statebench.bench.run.progress import (
        LogReporter,
        Reporter,
        RichReporter,
        make_reporter,
        notebook_reporter,
    )

    assert type(notebook_reporter()) is Reporter  # a plain interpreter: silent library
    assert isinstance(make_reporter(Console(force_terminal=False)), LogReporter)
    assert isinstance(make_reporter(Console(force_terminal=True)), RichReporter)
    monkeypatch.setattr("rich.console._is_jupyter", lambda: True)  # as inside a kernel
    assert isinstance(notebook_reporter(), RichReporter)


def test_probe_progress_is_plain_lines_off_a_terminal():
    from rich.console import Console
    from statebench.bench.probe.progress import (
        LogProbeReporter,
        RichProbeReporter,
        make_probe_reporter,
    )

    assert isinstance(make_probe_reporter(Console(force_terminal=False)), LogProbeReporter)
    assert isinstance(make_probe_reporter(Console(force_terminal=True)), RichProbeReporter)
    lines = []
    reporter = LogProbeReporter(lines.append, every_s=0.0)
    reporter.start(2, 1)
    reporter.advance(512, 1024)
    assert lines == ["probe: 2 cells, 1 already probed", "  position 512/1024"]

"""How the command line reads: flags shown as flags, choice lists whole in --help, completion
of arch, task and preset names, `-V`, no hard wrap of redirected output, whole descriptions."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer.main
from statebench import __version__
from statebench.bench.cli import app
from statebench.bench.cli.inspection import _first_sentence
from statebench.bench.cli.options import DEVICES, EXECUTORS, FIGURE_KINDS
from statebench.bench.config import list_presets
from typer.testing import CliRunner

SCRIPT = Path(sys.executable).with_name("statebench")  # the installed console script


def help_text(*command: str, columns: int = 80) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


def test_dash_capital_v_prints_the_version():
    result = CliRunner().invoke(app, ["-V"])
    assert result.exit_code == 0 and result.output.strip() == f"statebench {__version__}"


@pytest.mark.parametrize("command", ["run", "probe", "show-config", "plot", "report", "eval"])
def test_flags_show_no_value_type(command):
    text = help_text(command)
    assert "<bool>" not in text
    if command == "run":
        row = next(line for line in text.splitlines() if "--allow-failures" in line)
        assert "<" not in row  # the row names the flag and what it does, nothing to pass


@pytest.mark.parametrize(
    ("command", "option", "choices"),
    [
        ("plot", "--kind", FIGURE_KINDS),
        ("run", "--executor", EXECUTORS),
        ("run", "--device", DEVICES),
    ],
)
def test_choice_lists_wrap_between_choices_never_inside_one(command, option, choices):
    for columns in (60, 80, 100):
        text = help_text(command, columns=columns)
        words = set(re.findall(r"[a-z_]+", text))
        assert set(choices) <= words, (columns, set(choices) - words)


def complete(words: str) -> list[str]:
    env = {"_STATEBENCH_COMPLETE": "complete_bash", "COMP_WORDS": words, "PATH": ""}
    env["COMP_CWORD"] = str(len(words.split()) - (0 if words.endswith(" ") else 1))
    done = subprocess.run([SCRIPT], capture_output=True, text=True, env=env)
    return done.stdout.split()


def _option(command: str, flag: str):
    """The click option `flag` of `command`, as the installed app declares it."""
    group = typer.main.get_command(app)
    params = group.commands[command].params
    return next(p for p in params if flag in p.opts)


@pytest.mark.parametrize(
    ("command", "flag", "incomplete", "expected"),
    [
        ("run", "--arch", "ls", {"lstm"}),
        ("run", "--arch", "mam", {"mamba", "mamba2"}),
        ("run", "--task", "pari", {"parity"}),
        ("run", "--preset", "qu", {"quick", "quick-probe"}),
        ("probe", "--preset", "", set(list_presets())),
        ("show-config", "--task", "flip", {"flipflop"}),
    ],
)
def test_arch_task_and_preset_names_complete(command, flag, incomplete, expected):
    ctx = click.Context(typer.main.get_command(app))
    items = _option(command, flag).shell_complete(ctx, incomplete)
    assert {item.value for item in items} == expected


def test_the_installed_script_completes_a_name():
    # one end-to-end call through the shell's completion protocol (a process each: slow)
    assert complete("statebench run --arch ls") == ["lstm"]


def test_redirected_output_is_not_wrapped_at_80_columns():
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    done = subprocess.run([SCRIPT, "list"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    description = list_presets()["quick"]
    assert len(description) > 80
    assert any(description in line for line in done.stdout.splitlines())


def test_descriptions_are_not_cut_at_abbreviations():
    class Described:
        description = "the mixer of Gu et al. 2023. It selects."

    class Documented:
        """Selective scan of Gu et al. 2023, e.g. with negative eigenvalues. More detail."""

    assert _first_sentence(Described) == "the mixer of Gu et al. 2023. It selects."
    assert _first_sentence(Documented) == (
        "Selective scan of Gu et al. 2023, e.g. with negative eigenvalues"
    )


def test_a_commands_docstring_reflows_instead_of_keeping_its_line_breaks():
    text = help_text("run", columns=200)
    assert "Interrupt it at any time" in text

"""Every `statebench run` / `probe` command in the README resolves to a valid config: the
matrix options it passes (preset, archs, tasks, seeds, --set overrides) are read by
`show-config`, which validates them as a run would, without training anything."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from statebench.bench.cli import app
from typer.testing import CliRunner

README = Path(__file__).resolve().parents[1] / "README.md"
CONFIG_OPTIONS = {"--preset", "-p", "--arch", "-a", "--task", "-t", "--seed", "--seeds", "--set"}
# needs files or packages a reader makes first (the adapter and task examples are tested
# in tests/models/test_readme_adapter.py and tests/tasks/test_outside_task.py)
NEEDS_OUTSIDE = ("my.toml", "mypkg")


def _commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    found = []
    for line in map(str.strip, lines):
        outside = any(n in line for n in NEEDS_OUTSIDE)
        if re.match(r"statebench (run|probe)\b", line) and not outside:
            found.append(line)
    return found


def _config_args(command: str) -> list[str]:
    words = shlex.split(command, comments=True)[2:]
    args = []
    for option, value in zip(words, words[1:], strict=False):
        if option in CONFIG_OPTIONS:
            args += [option, value]
    return args


def test_the_readme_has_run_commands_to_check():
    assert len(_commands()) >= 10


@pytest.mark.parametrize("command", _commands())
def test_readme_command_resolves_to_a_valid_config(command):
    result = CliRunner().invoke(app, ["show-config", *_config_args(command)])
    assert result.exit_code == 0, f"{command}\n{result.output}"

"""Every command the README and the docs/ pages show still works as written.

- Each `statebench run` / `probe` / `show-config` command resolves to a valid config: the matrix
  options it passes (preset, archs, tasks, seeds, --set overrides) are read by `show-config`,
  which validates them as a run would, without training anything.
- Each `statebench <command>` names a command that exists, with options that command has.
- Each `nox -s <session>` names a session of noxfile.py.
- Each `statebench.x.y` the pages name in code imports (a module, or an attribute of one).
"""

from __future__ import annotations

import json
import re
import shlex

import pytest
import typer.main
from markdown_pages import ROOT, fenced_blocks, pages, rel
from statebench.bench.cli import app
from typer.testing import CliRunner

CONFIG_OPTIONS = {"--preset", "-p", "--arch", "-a", "--task", "-t", "--seed", "--seeds", "--set"}
# executor options show-config lacks, as the executor fields they set (some settings are
# refused unless the executor that reads them is chosen)
EXECUTOR_OPTIONS = {"--executor": "kind", "--workers": "workers", "--address": "address",
                    "--partition": "slurm.partition"}  # fmt: skip
# needs files or packages a reader makes first (the adapter and task examples are tested
# in tests/models/test_readme_adapter.py and tests/tasks/test_outside_task.py)
NEEDS_OUTSIDE = ("my.toml", "mypkg")


def _lines(page) -> list[str]:
    """The shell lines of a page's bash blocks, continuation lines joined."""
    blocks = fenced_blocks(page.read_text(encoding="utf-8"), "bash")
    return [line.strip() for line in "\n".join(blocks).replace("\\\n", " ").splitlines()]


def _statebench_commands() -> list[tuple[str, str]]:
    """(page, command) for every `statebench ...` line, the part after `&&` included."""
    found = []
    for page in pages():
        for line in _lines(page):
            for part in re.split(r"&&|\|\|", line):
                part = part.strip()
                if re.match(r"(STATEBENCH_\w+=\S+ )*statebench \w", part):
                    found.append((rel(page), part))
    return found


def _config_commands() -> list[tuple[str, str]]:
    return [
        (page, command)
        for page, command in _statebench_commands()
        if re.match(r"statebench (run|probe|show-config)\b", command)
        and not any(n in command for n in NEEDS_OUTSIDE)
    ]


def _config_args(command: str) -> list[str]:
    words = shlex.split(command, comments=True)[2:]
    args = []
    for option, value in zip(words, words[1:], strict=False):
        if option in CONFIG_OPTIONS:
            args += [option, value]
        elif option in EXECUTOR_OPTIONS:
            value = value if value.isdigit() else json.dumps(value)
            args += ["--set", f"executor.{EXECUTOR_OPTIONS[option]}={value}"]
    return args


def test_the_pages_have_commands_to_check():
    per_page = {}
    for page, _ in _config_commands():
        per_page[page] = per_page.get(page, 0) + 1
    assert per_page.get("README.md", 0) >= 3
    assert sum(per_page.values()) >= 20


@pytest.mark.parametrize(("page", "command"), _config_commands())
def test_command_resolves_to_a_valid_config(page, command):
    result = CliRunner().invoke(app, ["show-config", *_config_args(command)])
    assert result.exit_code == 0, f"{page}: {command}\n{result.output}"


@pytest.mark.parametrize(("page", "command"), _statebench_commands())
def test_command_names_a_command_and_its_options(page, command):
    group = typer.main.get_command(app)
    words = shlex.split(re.sub(r"^(\w+=\S+ )+", "", command), comments=True)
    name = words[1]
    assert name in group.commands, f"{page}: no command {name!r} in {command}"
    known = {o for p in group.commands[name].params for o in (*p.opts, *p.secondary_opts)}
    unknown = [w.split("=")[0] for w in words[2:] if w.startswith("-")]
    unknown = [w for w in unknown if w not in known]
    assert unknown == [], f"{page}: {command}"


def test_every_nox_session_named_exists():
    sessions = set(re.findall(r"@nox\.session[^\n]*\ndef (\w+)", (ROOT / "noxfile.py").read_text()))
    named = set()
    for page in pages():
        named |= set(re.findall(r"nox -s (\w+)", page.read_text(encoding="utf-8")))
    assert named and named <= sessions, named - sessions


ENTRY_POINT_GROUP_ONLY = "statebench.archs"  # an entry-point group, not a module


def _documented_names() -> list[tuple[str, str]]:
    """(page, dotted name) for every `statebench.x.y` the pages show in inline code."""
    found = set()
    for page in pages():
        for name in re.findall(r"`(statebench(?:\.[A-Za-z_]\w*)+)", page.read_text()):
            if name != ENTRY_POINT_GROUP_ONLY:
                found.add((rel(page), name))
    return sorted(found)


@pytest.mark.parametrize(("page", "name"), _documented_names())
def test_documented_python_names_import(page, name):
    """A module, or an attribute of one, as the page names it (after a move, the old import
    must keep working, so a stale name here is a broken public import)."""
    import importlib

    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            assert hasattr(obj, attr), f"{page}: {name}"
            obj = getattr(obj, attr)
        return
    pytest.fail(f"{page}: {name} does not import")

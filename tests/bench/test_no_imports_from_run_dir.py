"""Reading a run never imports what its manifest names: labels come from stored strings."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from statebench.bench import store
from statebench.bench.cli import app
from statebench.bench.config import load_config
from statebench.bench.runner import run_matrix
from typer.testing import CliRunner

TINY = ["train.steps=4", "eval.samples=4", "eval.lengths=[8]", "tasks=['parity']"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    cfg = load_config(preset="smoke", overrides=TINY)
    return run_matrix(cfg, tmp_path_factory.mktemp("planted") / "run")


@pytest.mark.parametrize(
    "command",
    [["status"], ["report"], ["plot", "--kind", "all"], ["eval", "--lengths", "12"]],
    ids=["status", "report", "plot", "eval"],
)
def test_no_command_imports_a_module_named_in_the_manifest(
    finished, tmp_path, monkeypatch, command
):
    run_dir = Path(shutil.copytree(finished, tmp_path / "run"))
    marker = tmp_path / "imported"
    (run_dir / "planted.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\nclass Mixer:\n    pass\n"
    )
    manifest = store.read_manifest(run_dir)
    manifest["config"]["archs"] = [{"name": "planted:Mixer", "options": {}}]
    store.write_manifest(run_dir, manifest)
    monkeypatch.chdir(run_dir)  # dotted paths resolve from the working directory
    monkeypatch.syspath_prepend(str(run_dir))
    sys.modules.pop("planted", None)
    args = [command[0], str(run_dir), *command[1:]]
    if command[0] in ("report", "plot"):
        args += ["--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, args)
    assert not marker.exists(), f"`{command[0]}` imported a module named in the manifest"
    assert "planted" not in sys.modules
    assert result.exit_code in (0, 1), result.output

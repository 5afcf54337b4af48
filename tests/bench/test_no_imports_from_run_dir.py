"""Reading a run never imports what its manifest or checkpoints name: labels come from stored
strings, and `eval` imports outside code only when the command line names it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from statebench.bench import store
from statebench.bench.cli import app
from statebench.bench.config import load_config
from statebench.bench.run.runner import run_matrix
from typer.testing import CliRunner

TINY = ["train.steps=4", "eval.samples=4", "eval.lengths=[8]", "tasks=['parity']"]
TINY_CLI = [a for s in TINY for a in ("--set", s)]
COMMANDS = {
    "status": (["status", "{run}"], (0, 1)),
    "report": (["report", "{run}", "--out", "{out}"], (0, 1)),
    "plot": (["plot", "{run}", "--kind", "all", "--out", "{out}"], (0, 1)),
    "eval": (["eval", "{run}", "--lengths", "12"], (0, 1)),
    # resuming: the config comes from the command line and differs from the crafted one
    "run": (["run", "--preset", "smoke", *TINY_CLI, "--no-report", "--out", "{run}"], (2,)),
    "probe": (["probe", "--preset", "smoke", *TINY_CLI, "--max-len", "64", "--out", "{run}"],
              (2,)),
}  # fmt: skip


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    cfg = load_config(preset="smoke", overrides=TINY)
    return run_matrix(cfg, tmp_path_factory.mktemp("planted") / "run")


def _plant(finished: Path, tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """A copy of the run with planted.py in it, on sys.path and as the working directory."""
    run_dir = Path(shutil.copytree(finished, tmp_path / "run"))
    marker = tmp_path / "imported"
    (run_dir / "planted.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\nclass Mixer:\n    pass\n"
    )
    monkeypatch.chdir(run_dir)  # dotted paths resolve from the working directory
    monkeypatch.syspath_prepend(str(run_dir))
    sys.modules.pop("planted", None)
    return run_dir, marker


@pytest.mark.parametrize("command", list(COMMANDS))
def test_no_command_imports_a_module_named_in_the_manifest(
    finished, tmp_path, monkeypatch, command
):
    run_dir, marker = _plant(finished, tmp_path, monkeypatch)
    manifest = store.read_manifest(run_dir)
    manifest["config"]["archs"] = [{"name": "planted:Mixer", "options": {}}]
    store.write_manifest(run_dir, manifest)
    template, codes = COMMANDS[command]
    args = [a.format(run=run_dir, out=tmp_path / "out") for a in template]
    result = CliRunner().invoke(app, args)
    assert not marker.exists(), f"`{command}` imported a module named in the manifest"
    assert "planted" not in sys.modules
    assert result.exit_code in codes, result.output


def test_eval_imports_a_module_a_checkpoint_names_only_when_told(finished, tmp_path, monkeypatch):
    run_dir, marker = _plant(finished, tmp_path, monkeypatch)
    key = store.manifest_cells(store.read_manifest(run_dir))[0]
    state, cell = store.load_checkpoint(run_dir, key)
    store.save_checkpoint(run_dir, key, state, {**cell, "arch": "planted:Mixer"})
    before = store.cell_path(run_dir, key).read_bytes()
    result = CliRunner().invoke(app, ["eval", str(run_dir), "--lengths", "12"])
    assert result.exit_code == 2, result.output
    assert "--allow-import planted:Mixer" in result.stderr
    assert not marker.exists() and "planted" not in sys.modules
    assert store.cell_path(run_dir, key).read_bytes() == before, "a refused eval wrote rows"
    allowed = ["eval", str(run_dir), "--lengths", "12", "--allow-import", "planted:Mixer"]
    CliRunner().invoke(app, allowed)
    assert marker.exists(), "named on the command line, the module is imported"
    sys.modules.pop("planted", None)

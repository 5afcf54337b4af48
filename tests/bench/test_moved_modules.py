"""Modules that left bench/'s top level still import from their old path, with a warning."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest
from statebench.bench import MOVED, new_name

ROOT = Path(__file__).resolve().parents[2]


def _fresh(name: str) -> None:
    """Forget an old-path import, so importing it again goes through the hook and warns (an
    import also sets the module as an attribute of its parent package)."""
    sys.modules.pop(name, None)
    parent, _, child = name.rpartition(".")
    if parent in sys.modules and child in vars(sys.modules[parent]):
        delattr(sys.modules[parent], child)


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_warns_and_is_the_module_at_its_new_path(old):
    _fresh(old)
    new = MOVED[old]
    with pytest.warns(DeprecationWarning, match=rf"{old} moved to {new}"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert module.__name__ == new and module.__spec__.name == new  # the module is left as it was


def test_old_from_imports_give_the_same_objects():
    from statebench.bench.run.matrix import Cell
    from statebench.bench.run.runner import run_matrix

    for name in ("statebench.bench.matrix", "statebench.bench.runner"):
        _fresh(name)
    with pytest.warns(DeprecationWarning):
        from statebench.bench.matrix import Cell as OldCell
    with pytest.warns(DeprecationWarning):
        from statebench.bench import runner as old_runner
    assert OldCell is Cell and old_runner.run_matrix is run_matrix


def test_a_moved_package_takes_its_submodules_along():
    for name in ("statebench.bench.executors", "statebench.bench.executors.pool"):
        _fresh(name)
    assert new_name("statebench.bench.executors.pool") == "statebench.bench.run.executors.pool"
    with pytest.warns(
        DeprecationWarning, match="executors moved to statebench.bench.run.executors;"
    ):
        importlib.import_module("statebench.bench.executors")
    with pytest.warns(DeprecationWarning, match="run.executors.pool"):
        old = importlib.import_module("statebench.bench.executors.pool")
    assert old is importlib.import_module("statebench.bench.run.executors.pool")


def test_modules_that_did_not_move_are_left_alone():
    kept = ["statebench.bench.store", "statebench.bench.config", "statebench.bench.probe.runner"]
    for name in [*kept, "statebench.bench.run.executors.pool", "statebench.models"]:
        assert new_name(name) is None
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("statebench.bench.no_such_module")


def test_no_old_path_names_a_file_that_still_exists():
    """An alias never hides a real module: each old path's file or folder is gone."""
    for old in MOVED:
        rel = Path(*old.split(".")[1:])
        assert not (ROOT / rel.with_suffix(".py")).exists(), old
        assert not (ROOT / rel / "__init__.py").exists(), old


def test_the_project_itself_imports_no_old_path():
    folders = ("bench", "models", "tasks", "tests", "examples", "scripts")
    files = [p for f in folders for p in sorted((ROOT / f).rglob("*.py"))] + [ROOT / "noxfile.py"]
    offenders = []
    for path in files:
        if path == Path(__file__).resolve():
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if new_name(n)]
    assert offenders == []


def test_a_package_imported_by_its_old_path_stays_a_package():
    """Its resources still load (the presets are read through importlib.resources)."""
    from statebench.bench.config import list_presets

    _fresh("statebench.bench.presets")
    with pytest.warns(DeprecationWarning):
        importlib.import_module("statebench.bench.presets")
    assert "quick" in list_presets()

"""The wheel installs one namespace, `statebench`, and nothing generic at the top level."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import statebench

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"bench": "statebench/bench", "models": "statebench/models", "tasks": "statebench/tasks"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")  # keep build/ out of the checkout
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    env = {**os.environ, "TMPDIR": str(build)}
    result = subprocess.run(
        [*cmd, "-w", str(out), str(ROOT)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (path,) = out.glob("state_tracking_bench-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_holds_only_the_statebench_namespace(wheel):
    names = wheel.namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"statebench"}, top
    for folder, installed in FOLDERS.items():  # every package folder of the checkout is there
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).as_posix()
            want = f"{installed}/{rel}/__init__.py" if rel != "." else f"{installed}/__init__.py"
            assert want in names, f"{init} is missing from the wheel (list it in pyproject.toml)"
    assert "statebench/bench/config/presets/quick.toml" in names
    install = " ".join((ROOT / "docs" / "install.md").read_text().split())
    for folder, installed in FOLDERS.items():  # the install page says which folder is which import
        assert f"`{folder}/` is `{installed.replace('/', '.')}`" in install, folder
    metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "Name: state-tracking-bench" in metadata and "License-Expression: MIT" in metadata
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    for extra in ("ray", "slurm", "wandb", "tensorboard"):
        assert f"Provides-Extra: {extra}" in metadata
    # the wheel holds real files, not the checkout's links (a link would not survive installing)
    assert not any(info.external_attr >> 28 == 0o12 for info in wheel.infolist())
    for url in ("Homepage", "Repository", "Issues", "Documentation"):
        assert f"Project-URL: {url}, https://github.com/statebench/statebench" in metadata
    for tool in ("pytest", "ruff", "nox"):  # dev tools are dependency groups, not extras
        assert f"Requires-Dist: {tool}" not in metadata
    for dep in ("torch", "numpy", "pandas", "matplotlib", "typer", "pydantic", "rich"):
        assert re.search(rf"^Requires-Dist: {dep}>=\d", metadata, re.M), (
            f"{dep} needs a lower bound"
        )
    # One source of truth for the version: pyproject.toml, read back through the metadata.
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert f"\nVersion: {version}\n" in metadata
    assert statebench.__version__ == version, "stale install metadata: pip install -e . again"
    for folder in ("src/statebench", *FOLDERS):
        for source in (ROOT / folder).rglob("*.py"):
            assert not re.search(r"^__version__ = [\"']", source.read_text(), re.M), source
    entry = wheel.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "statebench = statebench.bench.cli:app" in entry


def test_wheel_ships_the_rows_of_every_reference_run(wheel, tmp_path):
    """`--baseline quick` works from a wheel: each results/reference/<name>/ that holds rows
    (a manifest) is in it as statebench/reference/<name>/, rows and manifest only, and the
    installed wheel finds it by name. Reads whatever the checkout's references hold now."""
    names = set(wheel.namelist())
    shipped = sorted(p.parent for p in (ROOT / "results" / "reference").glob("*/manifest.json"))
    assert shipped, "no reference run ships its rows (nox -s reference writes them)"
    for folder in shipped:
        files = [folder / "manifest.json", *sorted((folder / "rows").glob("*.parquet"))]
        assert len(files) > 1, f"{folder} holds a manifest but no rows/*.parquet"
        for path in files:
            want = f"statebench/reference/{path.relative_to(folder.parent).as_posix()}"
            assert want in names, f"{want} is missing from the wheel"
    reports = [n for n in names if n.startswith("statebench/reference/") and n.endswith(".md")]
    assert not reports, reports  # rows only: the reports and figures stay in the checkout
    target = tmp_path / "site"
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q"]
    result = subprocess.run(
        [*cmd, "--target", str(target), wheel.filename], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    deps = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    code = (
        "from statebench.bench.store.references import find_baseline, shipped_references; "
        "print(*shipped_references()); print(find_baseline('quick').path)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), *deps])}
    result = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found, quick = result.stdout.splitlines()
    assert found.split() == [p.name for p in shipped]
    assert Path(quick).is_relative_to(target)


def test_installed_wheel_imports_beside_generic_packages_of_the_same_names(wheel, tmp_path):
    """The wheel installed on its own (no editable finder: `python -S` skips .pth files), run
    from a directory with its own models/, tasks/ and bench/ packages."""
    target = tmp_path / "site"
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q"]
    result = subprocess.run(
        [*cmd, "--target", str(target), wheel.filename], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not {"models", "tasks", "bench"} & {p.name for p in target.iterdir()}
    work = tmp_path / "project"
    for name in ("models", "tasks", "bench"):
        (work / name).mkdir(parents=True)
        (work / name / "__init__.py").write_text("raise ImportError('the wrong package')\n")
    deps = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]  # torch, ...
    code = (
        "import statebench, statebench.bench.run.runner, statebench.bench.cli, statebench.tasks; "
        "print(statebench.__file__, statebench.__version__)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), *deps])}
    result = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=work, capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    where, version = result.stdout.split()
    assert Path(where).is_relative_to(target) and version != "0.0.0+unknown"


def test_import_statebench_beside_generic_packages_of_the_same_names(tmp_path):
    """The same from the development (editable) install."""
    for name in ("models", "tasks", "bench"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise ImportError('the wrong package')\n")
    code = "import statebench.bench.run.runner, statebench.bench.cli; print('ok')"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_the_package_links_to_the_top_level_folders():
    """src/statebench/{bench,models,tasks} are relative links to the repository's folders, so
    there is one copy of each file and a moved checkout still works."""
    reference = ROOT / "src" / "statebench" / "reference"  # the shipped references' rows
    assert reference.is_symlink() and os.readlink(reference) == "../../results/reference"
    for name in FOLDERS:
        link = ROOT / "src" / "statebench" / name
        assert link.is_symlink(), f"{link} is not a link (on Windows: git core.symlinks=true)"
        assert os.readlink(link) == f"../../{name}"
        assert link.resolve() == (ROOT / name).resolve()


def test_the_editable_install_exposes_only_statebench(tmp_path):
    """Outside the repository, `statebench` imports from the checkout and the folders' own
    names do not: the install adds src/, never the repository root."""
    if not Path(statebench.__file__).resolve().is_relative_to(ROOT):
        pytest.skip("statebench is not installed editable from this checkout")
    code = (
        "import importlib.util, statebench.bench.store as s; "
        "print(s.__file__); "
        "print([n for n in ('bench', 'models', 'tasks') if importlib.util.find_spec(n)])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    where, found = result.stdout.splitlines()
    assert found == "[]"
    assert Path(where).resolve() == (ROOT / "bench" / "store" / "__init__.py").resolve()

"""The one-way imports of the design, checked on the source: a violation fails here first."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    """Every module a file imports (absolute names), at any depth of the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _offending(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _files(folder)
        for name in sorted(_imports(path))
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("tasks", ("statebench.bench", "statebench.models", "bench", "models")),
        ("models", ("statebench.bench", "statebench.tasks", "bench", "tasks")),
        (
            "bench/analysis",
            ("statebench.bench.plots", "statebench.bench.report", "statebench.bench.cli"),
        ),
    ],
)
def test_imports_point_one_way(folder, forbidden):
    assert _files(folder), f"no Python files under {folder}"
    assert _offending(folder, forbidden) == []


def test_plots_and_report_take_scores_from_analysis():
    users = [p for p in _files("bench/plots") + [ROOT / "bench/report.py"] if p.exists()]
    importers = {p.name for p in users if any("bench.analysis" in n for n in _imports(p))}
    assert "report.py" in importers or any((ROOT / "bench/report").glob("*.py"))
    assert importers, "plots and report no longer use bench.analysis"


def test_no_generic_top_level_imports_in_the_package():
    """Everything imports through the one namespace `statebench`."""
    bare = [
        f"{path.relative_to(ROOT)}: {name}"
        for folder in ("bench", "models", "tasks", "statebench")
        for path in _files(folder)
        for name in _imports(path)
        if name.split(".")[0] in ("bench", "models", "tasks")
    ]
    assert bare == []

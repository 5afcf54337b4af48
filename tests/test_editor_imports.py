"""An editor's static checker resolves every public `statebench` import of the README and docs.

pyright (the checker inside VS Code's Pylance; basedpyright here, same import resolution,
shipped with its own node) reads the test venv as an editor would read the user's: a file
outside the repository imports the public names, and no import may stay unresolved. The
editable install must expose plain folders (src/statebench) for this; an import hook cannot be
followed by static tools.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The names an adapter or task author and a results reader start from: always checked, beside
# whatever the README and docs/ name.
CORE = {
    "statebench.load_model",
    "statebench.bench.store.load",
    "statebench.bench.store.load_probes",
    "statebench.models.Mixer",
    "statebench.models.register_arch",
    "statebench.models.build_model",
    "statebench.models.testing.check_adapter",
    "statebench.tasks.Task",
    "statebench.tasks.Batch",
    "statebench.tasks.get_task",
    "statebench.tasks.testing.check_task",
}
UNRESOLVED = {"reportMissingImports", "reportMissingModuleSource", "reportAttributeAccessIssue"}
DOTTED = re.compile(r"\bstatebench(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
FROM_IMPORT = re.compile(r"from (statebench(?:\.\w+)*) import ([\w, ]+)")


def _named_in_docs() -> set[str]:
    """Every dotted `statebench.x.y` and `from statebench.x import y` of README.md and docs/."""
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    names = set()
    for path in texts:
        text = path.read_text(encoding="utf-8")
        names |= set(DOTTED.findall(text))
        for module, imported in FROM_IMPORT.findall(text):
            names |= {f"{module}.{n.strip()}" for n in imported.split(",") if n.strip()}
    return names


def _import_line(name: str) -> str | None:
    """`import a.b` for a module, `from a import b` for a name in one; None for a name that is
    not importable (an entry-point group such as statebench.archs, a command)."""
    try:
        importlib.import_module(name)
        return f"import {name}"
    except ImportError:
        pass
    module, _, attr = name.rpartition(".")
    try:
        found = hasattr(importlib.import_module(module), attr)
    except ImportError:
        return None
    return f"from {module} import {attr}" if found else None


def _checker() -> Path:
    exe = Path(sys.executable).parent / ("basedpyright.exe" if os.name == "nt" else "basedpyright")
    if not exe.exists():
        if os.environ.get("CI"):
            pytest.fail("basedpyright is not installed: pip install -e . --group test")
        pytest.skip("basedpyright is not installed (it is in the `test` dependency group)")
    return exe


def test_the_docs_public_names_resolve_in_a_static_checker(tmp_path):
    checker = _checker()
    named = _named_in_docs()
    assert "statebench.bench.store.load" in named, "the docs no longer show how to load a run"
    lines = sorted({line for name in named | CORE if (line := _import_line(name))})
    assert all(_import_line(name) for name in CORE), [n for n in CORE if not _import_line(n)]
    # reveal_type shows the definition was followed, not just the module found
    body = "\n".join([*lines, "", "from statebench.bench.store import load", "reveal_type(load)"])
    (tmp_path / "uses_statebench.py").write_text(body + "\n")
    (tmp_path / "pyrightconfig.json").write_text(json.dumps({"typeCheckingMode": "standard"}))
    result = subprocess.run(
        [str(checker), "--outputjson", "--pythonpath", sys.executable, "uses_statebench.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(result.stdout)
    problems = [
        f"{d['range']['start']['line'] + 1}: {d.get('rule', '')} {d['message']}"
        for d in report["generalDiagnostics"]
        if d["severity"] == "error" or d.get("rule") in UNRESOLVED
    ]
    assert problems == [], "\n".join(problems)
    revealed = [d["message"] for d in report["generalDiagnostics"] if "Type of" in d["message"]]
    assert any("(run_dir: str | Path) -> DataFrame" in m for m in revealed), revealed

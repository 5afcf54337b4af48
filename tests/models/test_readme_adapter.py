"""The "Add an architecture" section of docs/extending.md (where the README's journey points)
as a user meets it: its example adapter, copied out of the page into a fresh directory, passes
`check_adapter` and resolves by dotted path from that directory with no PYTHONPATH; the scans it
documents have the signatures it gives."""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from statebench.models.ops import rglru, scan, selective_scan
from statebench.models.testing import check_adapter

PAGE = Path(__file__).resolve().parents[2] / "docs" / "extending.md"


def section(title: str) -> str:
    return PAGE.read_text().split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


@pytest.fixture
def doc_gru(tmp_path, monkeypatch) -> Path:
    source = next(b for b in python_blocks(section("Add an architecture")) if "# mypkg/gru.py" in b)
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "gru.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "mypkg" or m.startswith("mypkg.")]:
        monkeypatch.delitem(sys.modules, name)
    return tmp_path


def test_doc_adapter_passes_check_adapter(doc_gru):
    report = check_adapter("mypkg.gru:GRUMixer")
    assert report["checks"][-1] == "kernel" and "step" in report["checks"]
    assert report["state_size"] == {1: 32, 16: 32, 64: 32}  # d_model 16 per layer, 2 layers


def test_doc_adapter_resolves_from_the_current_directory(doc_gru):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    args = ["show-config", "--preset", "smoke", "--arch", "mypkg.gru:GRUMixer"]
    done = subprocess.run(
        [sys.executable, "-m", "statebench", *args],
        cwd=doc_gru,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'name = "mypkg.gru:GRUMixer"' in done.stdout


def documented_signatures() -> dict[str, inspect.Signature]:
    """name -> signature of every scan the page's contract section lists."""
    text = section("Add an architecture").split("The built-in scans are public API", 1)[1]
    (block,) = python_blocks(text)
    block = re.sub(r"#[^\n]*", "", block)
    found = {}
    for name, params in re.findall(r"^(\w+)\((.*?)\)\s*->", block, re.S | re.M):
        tree = ast.parse(f"def {name}({' '.join(params.split())}): pass")
        found[name] = tree.body[0].args
    return found


def test_documented_scans_have_the_signatures_the_page_gives():
    documented = documented_signatures()
    assert set(documented) == {"linear_scan", "linear_scan_naive", "gated_scan", "selective_scan"}
    where = {"gated_scan": rglru, "selective_scan": selective_scan}
    for name, args in documented.items():
        real = inspect.signature(getattr(where.get(name, scan), name)).parameters.values()
        positional = [p.name for p in real if p.kind is p.POSITIONAL_OR_KEYWORD]
        keyword = [p.name for p in real if p.kind is p.KEYWORD_ONLY]
        assert [a.arg for a in args.args] == positional, name
        assert [a.arg for a in args.kwonlyargs] == keyword, name
        defaults = [ast.literal_eval(d) for d in [*args.defaults, *args.kw_defaults]]
        assert defaults == [p.default for p in real if p.default is not p.empty], name

"""A task written from the "Add a task" section of docs/extending.md alone, in a temporary
directory: it runs by dotted path and by entry point through `statebench run` and `statebench
probe`, and passes `check_task`; a broken copy is rejected naming the failed check."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from statebench.bench import store
from statebench.bench.cli import app
from statebench.tasks import list_tasks, task_class
from statebench.tasks.testing import TaskConformanceError, check_task
from typer.testing import CliRunner

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

PAGE = Path(__file__).resolve().parents[2] / "docs" / "extending.md"
TINY = ["--arch", "lstm", "--seed", "0", "--preset", "smoke", "--set", "train.steps=2"]
TINY += ["--set", "eval.samples=4", "--set", "eval.lengths=[8]", "--set", "model.d_model=8"]
PROBE = ["--max-len", "64", "--set", "probe.samples=2"]


def page_section() -> str:
    return PAGE.read_text().split("## Add a task", 1)[1].split("\n## ", 1)[0]


def page_task_source() -> str:
    blocks = re.findall(r"```python\n(.*?)```", page_section(), re.S)
    return next(b for b in blocks if b.startswith("# mypkg/mod3.py"))


def page_entry_points() -> dict[str, str]:
    """The page's `[project.entry-points."statebench.tasks"]` table."""
    (block,) = re.findall(r"```toml\n(.*?)```", page_section(), re.S)
    return tomllib.loads(block)["project"]["entry-points"]["statebench.tasks"]


@pytest.fixture
def outside(tmp_path, monkeypatch) -> Path:
    """mypkg/mod3.py from the page in a fresh directory, which becomes the cwd."""
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mod3.py").write_text(page_task_source())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the CLI adds the cwd; undone after
    for name in [m for m in sys.modules if m == "mypkg" or m.startswith("mypkg.")]:
        monkeypatch.delitem(sys.modules, name)
    return tmp_path


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_doc_task_by_dotted_path_runs_probes_and_passes_check_task(outside):
    out = outside / "run"
    invoke("run", *TINY, "--task", "mypkg.mod3:RunningMod3", "--out", out)
    df = store.load(out)
    assert set(df["task"]) == {"mypkg.mod3:RunningMod3"} and set(df["status"]) == {"ok"}
    assert (out / "report" / "report.md").exists()  # run ends with its report
    invoke("probe", *TINY, *PROBE, "--task", "mypkg.mod3:RunningMod3", "--out", out)
    assert set(store.load_probes(out)["task"]) == {"mypkg.mod3:RunningMod3"}
    report = check_task("mypkg.mod3:RunningMod3")
    assert report["checks"][-1] == "chance" and abs(report["chance"] - 1 / 3) < 1e-9


def test_doc_task_by_entry_point(outside, monkeypatch):
    dist = outside / "mypkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mypkg\nVersion: 0.1\n")
    points = page_entry_points()  # what pip writes for the page's pyproject.toml table
    assert points == {"mod3": "mypkg.mod3:RunningMod3"}
    lines = "".join(f"{name} = {target}\n" for name, target in points.items())
    (dist / "entry_points.txt").write_text(f"[statebench.tasks]\n{lines}")
    monkeypatch.syspath_prepend(str(outside))
    assert "mod3" in list_tasks() and task_class("mod3").__name__ == "RunningMod3"
    assert "mod3" in invoke("list").output
    out = outside / "run"
    invoke("run", *TINY, "--task", "mod3", "--out", out, "--no-report")
    assert set(store.load(out)["status"]) == {"ok"}
    invoke("probe", *TINY, *PROBE, "--task", "mod3", "--out", out)
    assert set(store.load_probes(out)["task"]) == {"mod3"}
    assert "chance" in check_task("mod3")["checks"]


def test_a_broken_task_is_rejected_naming_the_check(outside):
    source = page_task_source().replace("total = (total + t) % 3", "total = (total + t) % 2")
    (outside / "mypkg" / "broken.py").write_text(source)
    sys.path.insert(0, str(outside))
    with pytest.raises(TaskConformanceError, match="reference check failed") as info:
        check_task("mypkg.broken:RunningMod3")
    assert info.value.check == "reference"
    unseeded = page_task_source().replace("generator=generator, ", "")
    (outside / "mypkg" / "unseeded.py").write_text(unseeded)
    with pytest.raises(TaskConformanceError, match="determinism check failed"):
        check_task("mypkg.unseeded:RunningMod3")

"""User errors at the command line: one line naming the file or field, exit status 2, and
nothing written before the refusal (no run directory, no report, no figure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from statebench.bench import store
from statebench.bench.cli import app
from statebench.bench.config import load_config
from statebench.bench.run.runner import prepare_run
from typer.testing import CliRunner

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY = ["--set", "train.steps=2", "--set", "eval.samples=4", "--set", "eval.lengths=[4]"]


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_refused(result, *needles: str) -> str:
    """Exit 2, one `error:` line on stderr that contains every needle, no traceback."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in result.output
    return lines[0]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under `folder` with its size and mtime: equal snapshots mean nothing changed."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def run_dir(tmp_path) -> Path:
    """A run directory as `statebench run` leaves it before any cell is stored."""
    cfg = load_config(preset="smoke", overrides=["eval.lengths=[4]", "eval.samples=4"])
    path, _, _ = prepare_run(cfg, tmp_path / "run")
    return path


MANIFEST_FAULTS = {
    "truncated": lambda text: text[: len(text) // 2],
    "not an object": lambda text: "[1, 2, 3]",
    "binary": lambda text: "\x00\xff\xfe garbage",
}


@pytest.mark.parametrize("fault", list(MANIFEST_FAULTS))
def test_a_damaged_manifest_is_named_by_status_run_and_report(run_dir, fault):
    manifest = run_dir / store.MANIFEST
    if fault == "binary":
        manifest.write_bytes(b"\x00\xff\xfe\x80 garbage")
    else:
        manifest.write_text(MANIFEST_FAULTS[fault](manifest.read_text()))
    before = snapshot(run_dir)
    assert_refused(invoke("status", run_dir), str(manifest))
    assert_refused(invoke("run", "--preset", "smoke", "--out", run_dir, *TINY), str(manifest))
    assert_refused(invoke("report", run_dir), str(manifest))
    assert_refused(invoke("plot", run_dir, "--kind", "all"), str(manifest))
    assert_refused(invoke("eval", run_dir, "--lengths", "8"), str(manifest))
    assert_refused(invoke("probe", "--preset", "smoke", "--out", run_dir, *TINY), str(manifest))
    assert snapshot(run_dir) == before, "a refused command wrote into the run directory"


def test_report_and_plot_refuse_a_directory_that_holds_no_run(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("not a run")
    for folder in (empty, other):
        before = snapshot(folder)
        assert_refused(invoke("report", folder), str(folder), "holds no run")
        assert_refused(invoke("report", folder, "--format", "html"), "holds no run")
        assert_refused(invoke("plot", folder, "--kind", "all"), "holds no run")
        assert_refused(invoke("status", folder), "holds no run")
        assert_refused(invoke("eval", folder, "--lengths", "8"), "holds no run")
        assert snapshot(folder) == before
    assert_refused(invoke("report", tmp_path / "missing"), "no run directory")
    assert not (tmp_path / "missing").exists()


def test_report_refuses_a_run_with_nothing_stored(run_dir):
    before = snapshot(run_dir)
    assert_refused(invoke("report", run_dir), "holds no results yet", "4 cells")
    assert snapshot(run_dir) == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("command", ["run", "probe"])
def test_device_cuda_without_cuda_is_refused_before_a_run_directory_exists(tmp_path, command):
    out = tmp_path / "run"
    line = assert_refused(
        invoke(command, "--preset", "smoke", "--device", "cuda", "--out", out, *TINY),
        "device",
        "cuda",
        "cpu, auto",
    )
    assert "no CUDA device" in line
    assert not out.exists()


def test_a_binary_config_file_is_named(tmp_path):
    config = tmp_path / "my.toml"
    config.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert_refused(invoke("show-config", "--config", config), str(config), "TOML")
    assert_refused(invoke("run", "--config", config, "--out", tmp_path / "run"), str(config))
    assert not (tmp_path / "run").exists()


def test_a_dotted_path_adapter_whose_module_raises_on_import(tmp_path, monkeypatch):
    (tmp_path / "exploding.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    line = assert_refused(
        invoke("show-config", "--arch", "exploding:Mixer"),
        "exploding:Mixer",
        "RuntimeError",
        "boom at import",
    )
    assert "importing module 'exploding'" in line
    out = tmp_path / "run"
    assert_refused(invoke("run", "--arch", "exploding:Mixer", "--out", out), "boom at import")
    line = assert_refused(invoke("run", "--task", "exploding:Task", "--out", out), "exploding:Task")
    assert "RuntimeError" in line and "boom at import" in line
    assert not out.exists()


def test_status_limit_must_not_be_negative(run_dir):
    result = invoke("status", run_dir, "--limit", "-1")
    assert result.exit_code == 2 and "--limit" in result.output


@pytest.mark.parametrize("name", ["/tmp/elsewhere", "../up", "a/b", ".hidden", ""])
def test_a_run_name_cannot_leave_out_dir(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    escaped = set(Path("/tmp").glob("elsewhere-*"))
    assert_refused(invoke("run", "--preset", "smoke", "--set", f"name={name}", *TINY), "name")
    assert not any(tmp_path.iterdir()) and set(Path("/tmp").glob("elsewhere-*")) == escaped


def test_cpu_allocation_failure_is_oom_and_a_run_without_measurement_exits_non_zero(
    tmp_path, monkeypatch
):
    monkeypatch.syspath_prepend(str(FIXTURES))
    out = tmp_path / "run"
    args = ["run", "--arch", "bench_archs:AllocFailMixer", "--task", "parity", "--out", out]
    result = invoke(*args, *TINY, "--allow-failures", "--no-report", "--skip-conformance")
    assert result.exit_code == 1, result.output
    assert "no measurement" in result.stderr
    df = store.load(out)
    assert set(df["status"]) == {"oom"}
    assert df["error"].str.contains("can't allocate memory").all()
    assert json.loads((out / store.MANIFEST).read_text())["cells"]

"""Resuming across code versions: warn naming both, --require-same-code refuses, --force reruns."""

from __future__ import annotations

import pytest
import statebench
from statebench.bench import store
from statebench.bench.cli import app
from statebench.bench.config import ConfigError, load_config
from statebench.bench.run.provenance import git_sha
from statebench.bench.run.runner import run_matrix
from typer.testing import CliRunner

TINY = ["train.steps=4", "eval.samples=4", "eval.lengths=[8]", "archs=['lstm']"]


def _stored_by_other_code(tmp_path):
    cfg = load_config(preset="smoke", overrides=TINY)
    run_dir = run_matrix(cfg, tmp_path / "run")
    key = store.manifest_cells(store.read_manifest(run_dir))[0]
    rows = store.read_rows(run_dir, key)
    store.write_cell(
        run_dir, key, [{**r, "git_sha": "0123abc", "statebench_version": "0.0.1"} for r in rows]
    )
    return cfg, run_dir


def test_resuming_over_rows_of_other_code_warns_naming_both(tmp_path, caplog):
    cfg, run_dir = _stored_by_other_code(tmp_path)
    before = {k: store.file_version(run_dir, k) for k in store.stored_keys(run_dir)}
    run_matrix(cfg, run_dir)
    assert "statebench 0.0.1 (git 0123abc)" in caplog.text
    assert f"this is statebench {statebench.__version__} (git {git_sha() or 'unknown'})" in (
        caplog.text
    )
    assert {k: store.file_version(run_dir, k) for k in before} == before  # nothing reran
    with pytest.raises(ConfigError, match="--require-same-code refuses"):
        run_matrix(cfg, run_dir, require_same_code=True)


def test_force_reruns_every_cell(tmp_path):
    cfg, run_dir = _stored_by_other_code(tmp_path)
    before = {k: store.file_version(run_dir, k) for k in store.stored_keys(run_dir)}
    args = ["run", "--preset", "smoke", "--out", str(run_dir), "--no-report"]
    args += [a for s in TINY for a in ("--set", s)]
    refused = CliRunner().invoke(app, [*args, "--require-same-code"])
    assert refused.exit_code == 2 and "0123abc" in refused.output
    result = CliRunner().invoke(app, [*args, "--force"])
    assert result.exit_code == 0, result.output
    after = {k: store.file_version(run_dir, k) for k in before}
    assert all(after[k] != before[k] for k in before)
    assert set(store.load(run_dir)["git_sha"]) == {git_sha()}


def test_probe_refuses_other_code_with_require_same_code(tmp_path):
    _, run_dir = _stored_by_other_code(tmp_path)
    args = ["probe", "--preset", "smoke", "--out", str(run_dir), "--require-same-code"]
    args += [a for s in TINY for a in ("--set", s)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "0123abc" in result.output

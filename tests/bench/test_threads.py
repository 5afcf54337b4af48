"""Torch threads per cell: one by default (docs/performance.md measures why), `--threads` /
`executor.threads` to choose, the pool's workers each set, and rows record the count."""

from __future__ import annotations

import pytest
import torch
from statebench.bench import store
from statebench.bench.cli import app
from statebench.bench.config import load_config
from statebench.bench.run.executors import from_config
from statebench.bench.run.threads import DEFAULT_THREADS, threads_per_cell, torch_threads
from typer.testing import CliRunner

TINY = ["run", "--preset", "smoke", "--arch", "lstm", "--task", "parity", "--set", "train.steps=2"]
TINY += ["--set", "eval.samples=4", "--set", "eval.lengths=[8]", "--no-report"]


@pytest.fixture(autouse=True)
def _keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_the_setting_means_one_by_default_cores_shared_for_zero(monkeypatch):
    monkeypatch.setattr("statebench.bench.run.threads.cpu_count", lambda: 8)
    assert DEFAULT_THREADS == 1 and threads_per_cell(None) == 1
    assert threads_per_cell(0) == 8 and threads_per_cell(0, cells_at_once=4) == 2
    assert threads_per_cell(0, cells_at_once=16) == 1 and threads_per_cell(3) == 3
    assert threads_per_cell(None, reserved=4) == 4 and threads_per_cell(2, reserved=4) == 2


def test_a_local_run_uses_one_thread_by_default_and_restores_the_process_count(tmp_path):
    torch.set_num_threads(2)
    result = CliRunner().invoke(app, [*TINY, "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert set(store.load(tmp_path / "a")["cpu_threads"]) == {1}
    assert torch.get_num_threads() == 2  # the run set it for its cells only


def test_threads_option_and_config_field_reach_the_rows(tmp_path):
    result = CliRunner().invoke(app, [*TINY, "--threads", "2", "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert set(store.load(tmp_path / "b")["cpu_threads"]) == {2}
    cfg = load_config(preset="smoke", overrides=["executor.threads=3"])
    assert cfg.executor.threads == 3 and from_config(cfg.executor).threads == 3


def test_threads_stay_out_of_the_run_identity():
    from statebench.bench.run.runner import config_hash

    plain = load_config(preset="smoke")
    assert config_hash(plain) == config_hash(
        load_config(preset="smoke", overrides=["executor.threads=4"])
    )


def test_a_negative_thread_count_is_refused_in_one_line(tmp_path):
    result = CliRunner().invoke(app, [*TINY, "--threads", "-1", "--out", str(tmp_path / "c")])
    assert result.exit_code == 2 and "--threads" in result.output
    assert not (tmp_path / "c").exists()


def test_torch_threads_restores_after_an_error():
    torch.set_num_threads(2)
    with pytest.raises(RuntimeError), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("inside")
    assert torch.get_num_threads() == 2

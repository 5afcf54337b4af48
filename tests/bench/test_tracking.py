"""Optional experiment tracking: off by default, outside every cell's identity, logged by the
worker under any executor, refused up front when its package is missing, never fatal."""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path

import pytest
from statebench.bench import store
from statebench.bench.cli import app
from statebench.bench.config import load_config
from statebench.bench.config.tracking import TrackingConfig
from statebench.bench.run.cell import CellJob, execute_cell
from statebench.bench.run.matrix import expand
from statebench.bench.run.runner import config_hash, prepare_run, run_matrix
from statebench.bench.run.tracking import require, run_name
from typer.testing import CliRunner

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY = ["train.steps=8", "train.log_every=2", "eval.samples=8", "eval.lengths=[4, 8]"]
ONE = ["archs=['lstm']", "tasks=['parity']"]


def tiny(*extra: str):
    return load_config(preset="smoke", overrides=[*TINY, *extra])


def test_off_by_default_and_outside_every_cells_identity(tmp_path):
    plain = tiny()
    tracked = tiny("tracking.backend=wandb", "tracking.dir=x", "tracking.tags=['a']")
    assert plain.tracking == TrackingConfig() and plain.tracking.backend == "none"
    assert [c.key for c in expand(plain)] == [c.key for c in expand(tracked)]
    assert config_hash(plain) == config_hash(tracked)
    run_dir, _, _ = prepare_run(plain, tmp_path / "run")
    prepare_run(tracked, run_dir)  # switching tracking on resumes the same run


def test_a_missing_package_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    hidden = {"wandb": "wandb", "tensorboard": "torch.utils.tensorboard"}
    for backend, module in hidden.items():
        monkeypatch.setitem(sys.modules, module, None)  # `import module` raises ImportError
        out = tmp_path / backend
        args = ["run", "--preset", "smoke", "--out", str(out), "--set"]
        result = CliRunner().invoke(app, [*args, f"tracking.backend={backend}"])
        assert result.exit_code == 2, result.output
        message = result.stderr.strip()
        assert len(message.splitlines()) == 1, message
        assert f"pip install -e '.[{backend}]'" in message
        assert f"state-tracking-bench[{backend}]" in message
        assert not out.exists()
    require(TrackingConfig())  # off needs nothing


# -- W&B through a recording stand-in ------------------------------------------------------------


class FakeRun:
    def __init__(self, calls: dict, fail_log: bool) -> None:
        self.calls, self.fail_log = calls, fail_log
        self.summary = types.SimpleNamespace(update=lambda d: calls["summary"].update(d))

    def log(self, metrics, step):
        if self.fail_log:
            raise ConnectionError("tracker server unreachable")
        self.calls["log"].append((step, metrics))

    def finish(self, exit_code=0):
        self.calls["finish"].append(exit_code)


def fake_wandb(monkeypatch, fail_init=False, fail_log=False) -> dict:
    calls: dict = {"init": [], "log": [], "summary": {}, "finish": []}

    def init(**kwargs):
        if fail_init:
            raise RuntimeError("no API key")
        calls["init"].append(kwargs)
        return FakeRun(calls, fail_log)

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    return calls


def test_wandb_gets_one_run_per_cell_its_training_rows_and_result(tmp_path, monkeypatch):
    calls = fake_wandb(monkeypatch)
    cfg = tiny(*ONE, "tracking.backend=wandb", "tracking.project=p", "tracking.mode=offline")
    run_dir = run_matrix(cfg, tmp_path / "run")
    (cell,) = expand(cfg)
    (init,) = calls["init"]
    assert init["name"] == run_name(cell) and cell.key[:8] in init["name"]
    assert init["project"] == "p" and init["mode"] == "offline"
    assert init["group"] == run_dir.name  # the run id groups a run's cells
    assert init["config"]["cell"] == cell.key and init["config"]["train"]["steps"] == 8
    assert Path(init["dir"]) == (run_dir / "tracking").resolve()
    logged = store.load_training_log(run_dir)
    assert [s for s, _ in calls["log"]] == logged["step"].tolist() == [2, 4, 6, 8]
    assert [m["train/loss"] for _, m in calls["log"]] == pytest.approx(logged["loss"].tolist())
    rows = store.load(run_dir).set_index("eval_len")
    summary = calls["summary"]
    assert summary["status"] == "ok" and summary["train_steps"] == 8
    for length in (4, 8):
        assert summary[f"accuracy@{length}"] == pytest.approx(rows.loc[length, "accuracy"])
    assert calls["finish"] == [0]


def test_a_failed_cell_ends_its_tracker_run_as_failed(tmp_path, monkeypatch):
    calls = fake_wandb(monkeypatch)
    monkeypatch.syspath_prepend(str(FIXTURES))
    cfg = tiny("archs=['bench_archs:BrokenMixer']", "tasks=['parity']", "tracking.backend=wandb")
    run_matrix(cfg, tmp_path / "run", skip_conformance=True)  # fails at run time
    assert calls["summary"]["status"] == "error"
    assert "broken on purpose" in calls["summary"]["error"]
    assert calls["finish"] == [1]


@pytest.mark.parametrize("where", ["init", "log"])
def test_a_failing_tracker_warns_and_loses_nothing(tmp_path, monkeypatch, caplog, where):
    calls = fake_wandb(monkeypatch, fail_init=where == "init", fail_log=where == "log")
    cfg = tiny(*ONE, "tracking.backend=wandb")
    run_dir, run_id, (cell,) = prepare_run(cfg, tmp_path / "run")
    job = CellJob(str(run_dir), run_id, "cpu", tracking=cfg.tracking)  # no dir: the run's
    with caplog.at_level(logging.WARNING, logger="statebench.bench.run.tracking"):
        assert execute_cell(cell, job) == "ok"
    assert "tracking (wandb) failed" in caplog.text and cell.label in caplog.text
    warned = [r for r in caplog.records if r.name == "statebench.bench.run.tracking"]
    assert len(warned) == 1, "one warning, then the tracker stays quiet"
    assert (store.load(run_dir)["status"] == "ok").all()
    assert store.load_training_log(run_dir)["step"].tolist() == [2, 4, 6, 8]
    assert calls["summary"] == {}  # dropped after the failure
    assert calls["finish"] == ([1] if where == "log" else [])
    if where == "log":
        assert Path(calls["init"][0]["dir"]) == (run_dir / "tracking").resolve()


# -- the real packages, when installed -----------------------------------------------------------


def test_tensorboard_event_files_from_pool_workers(tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = tiny("tracking.backend=tensorboard", "executor.kind=pool", "executor.workers=2")
    run_dir = run_matrix(cfg, tmp_path / "run")
    logs, rows = store.load_training_log(run_dir), store.load(run_dir)
    cells = expand(cfg)
    assert sorted(p.name for p in (run_dir / "tracking").iterdir()) == sorted(
        run_name(c) for c in cells
    )
    for cell in cells:
        events = EventAccumulator(str(run_dir / "tracking" / run_name(cell)))
        events.Reload()
        loss = [(e.step, e.value) for e in events.Scalars("train/loss")]
        log = logs[logs["cell"] == cell.key]
        assert [s for s, _ in loss] == log["step"].tolist()
        assert [v for _, v in loss] == pytest.approx(log["loss"].tolist())
        acc = [(e.step, e.value) for e in events.Scalars("eval/accuracy")]
        want = rows[rows["cell"] == cell.key].sort_values("eval_len")
        assert [s for s, _ in acc] == want["eval_len"].tolist()
        assert [v for _, v in acc] == pytest.approx(want["accuracy"].tolist())
        assert "config" in " ".join(events.Tags()["tensors"])


@pytest.mark.slow
def test_wandb_offline_run_holds_the_cell(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb", reason="the wandb extra is not installed")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = tiny(*ONE, "tracking.backend=wandb", "tracking.mode=offline")
    run_dir = run_matrix(cfg, tmp_path / "run")
    (cell,) = expand(cfg)
    assert (store.load(run_dir)["status"] == "ok").all()
    wandb.teardown()  # the W&B service writes its record file out when it stops
    (record,) = (run_dir / "tracking" / "wandb").glob("offline-run-*/*.wandb")
    data = record.read_bytes()
    for text in (run_name(cell), "train/loss", "accuracy@8", cell.key):
        assert text.encode() in data, text

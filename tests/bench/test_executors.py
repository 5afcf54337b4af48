"""Executors: every one gives the same rows; the shared dispatch loop; choosing and configuring."""

from __future__ import annotations

import io
import json
import os
import sys
import time
from dataclasses import dataclass

import pandas as pd
import pytest
from statebench.bench import store
from statebench.bench.cli import app
from statebench.bench.config import ConfigError, load_config
from statebench.bench.run.cell import CellJob
from statebench.bench.run.executors import LOST, ExecutorUnavailable, from_config, get_executor
from statebench.bench.run.executors.local import LocalExecutor
from statebench.bench.run.executors.pool import PoolExecutor, plan_workers
from statebench.bench.run.executors.remote import RemoteExecutor, Resubmit, WorkerLost
from statebench.bench.run.executors.worker import init_pool_worker
from statebench.bench.run.matrix import Cell, expand
from statebench.bench.run.progress import Reporter, RichReporter
from statebench.bench.run.runner import config_hash, prepare_run, run_matrix
from statebench.bench.store.claim_files import claims_dir
from statebench.bench.store.records import read_started
from typer.testing import CliRunner

TINY = ["train.steps=8", "train.log_every=2", "eval.samples=8", "eval.lengths=[4, 8]"]
METRICS = ["accuracy", "loss", "seq_accuracy", "status"]


def tiny(*extra: str):
    return load_config(preset="smoke", overrides=TINY + list(extra))


def metrics(run_dir) -> pd.DataFrame:
    df = store.load(run_dir)
    assert not df.duplicated(["cell", "eval_len"]).any()
    assert not list(claims_dir(run_dir).glob("*")), "claims and run records are cleaned up"
    return df.set_index(["cell", "eval_len"])[METRICS].sort_index()


def assert_worker_training_logs(run_dir) -> None:
    """Every cell has its training log, written by the process that trained it (not this one)."""
    logs = store.load_training_log(run_dir)
    assert sorted(logs["cell"].unique()) == sorted(
        store.manifest_cells(store.read_manifest(run_dir))
    )
    assert logs.groupby("cell")["step"].apply(list).map(lambda s: s == [2, 4, 6, 8]).all()
    assert all(not str(w).endswith(f":{os.getpid()}") for w in logs["worker"]), "in the driver"


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The smoke preset, in process: the rows every other executor must reproduce."""
    run_dir = run_matrix(tiny(), tmp_path_factory.mktemp("local") / "run")
    rows = metrics(run_dir)
    assert len(rows) == 4 * 2 and (rows["status"] == "ok").all()
    return run_dir, rows


# -- same rows everywhere -------------------------------------------------------------------------


def test_pool_gives_the_same_rows(local_run, tmp_path):
    run_dir = run_matrix(tiny("executor.kind=pool", "executor.workers=2"), tmp_path / "run")
    pd.testing.assert_frame_equal(metrics(run_dir), local_run[1])


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_gives_the_same_rows(local_run, ray_cluster, tmp_path):
    run_dir = run_matrix(tiny("executor.kind=ray"), tmp_path / "run")
    pd.testing.assert_frame_equal(metrics(run_dir), local_run[1])
    assert_worker_training_logs(run_dir)
    assert ray_cluster.is_initialized(), "a cluster the caller started is left running"


def test_slurm_through_submitit_local_gives_the_same_rows(local_run, tmp_path):
    pytest.importorskip("submitit")
    cfg = tiny("executor.kind=slurm", "executor.slurm.cluster=local", "executor.workers=2")
    run_dir = run_matrix(cfg, tmp_path / "run")
    pd.testing.assert_frame_equal(metrics(run_dir), local_run[1])
    assert list((run_dir / "slurm").glob("*/*_log.out")), "job logs live under run_dir/slurm"
    assert_worker_training_logs(run_dir)


def test_stored_cells_run_on_no_executor(local_run, monkeypatch):
    run_dir, _ = local_run
    mtimes = {p: p.stat().st_mtime_ns for p in (run_dir / "cells").iterdir()}

    def boom(*a, **k):
        raise AssertionError("a stored cell was run again")

    monkeypatch.setattr("statebench.bench.run.executors.worker.execute_cell", boom)
    monkeypatch.setattr("statebench.bench.run.executors.pool.ProcessPoolExecutor", boom)
    for kind in ("local", "pool"):
        run_matrix(tiny(f"executor.kind={kind}"), run_dir)
    assert {p: p.stat().st_mtime_ns for p in (run_dir / "cells").iterdir()} == mtimes


# -- the dispatch loop, on a scripted backend -----------------------------------------------------


@dataclass(eq=False)
class Handle:
    cell: Cell
    job: CellJob


class Scripted(RemoteExecutor):
    """A backend whose cells do what `script` says: ok, lost, hang (never ends), collateral
    (stopped with a killed neighbour the first time). It writes the rows an ok cell would."""

    def __init__(self, script: dict[str, str], capacity: int = 2) -> None:
        super().__init__(grace_s=0.0, poll_s=0.01)
        self.script, self.cap = script, capacity
        self.max_in_flight, self.killed, self.resubmitted = 0, [], set()
        self.live: set[str] = set()

    def capacity(self) -> int:
        return self.cap

    def submit(self, cell, job):
        self.live.add(cell.key)
        self.max_in_flight = max(self.max_in_flight, len(self.live))
        if self.script[cell.key] == "hang":  # its worker says it started long ago
            record = {"pid": os.getpid(), "host": "h", "started": time.time() - 100}
            (claims_dir(job.run_dir) / f"{cell.key}.run").write_text(json.dumps(record))
        return Handle(cell, job)

    def wait(self, handles, timeout):
        return [
            h for h in handles if self.script[h.cell.key] != "hang" or h.cell.key in self.killed
        ]

    def outcome(self, handle):
        cell, job = handle.cell, handle.job
        self.live.discard(cell.key)
        what = self.script[cell.key]
        if what == "collateral" and cell.key not in self.resubmitted:
            self.resubmitted.add(cell.key)
            raise Resubmit()
        if what in ("lost", "hang"):
            raise WorkerLost(what)
        store.write_cell(job.run_dir, cell.key, [])
        return "ok"

    def kill(self, handle, record):
        self.killed.append(handle.cell.key)
        return True


def test_dispatch_loop_handles_lost_collateral_and_hung_cells(tmp_path):
    cfg = tiny("seeds=[0, 1]", "train.time_limit_s=1")
    run_dir, run_id, cells = prepare_run(cfg, tmp_path / "run")
    claims_dir(run_dir).mkdir()
    job = CellJob(str(run_dir), run_id, "cpu")
    plan = ["ok", "lost", "hang", "collateral", "ok", "ok", "ok", "ok"]
    script = {c.key: what for c, what in zip(cells, plan, strict=True)}
    ex = Scripted(script, capacity=2)

    def source():
        for cell in cells:
            assert len(ex.live) < ex.cap, "a cell is pulled only when a slot is free"
            yield cell

    results = dict((c.key, s) for c, s in ex.run(source(), job, Reporter()))
    assert ex.max_in_flight == 2
    assert results == {
        c.key: {"lost": LOST, "hang": "timeout"}.get(what, "ok")
        for c, what in zip(cells, plan, strict=True)
    }
    hung = next(c for c, what in zip(cells, plan, strict=True) if what == "hang")
    assert ex.killed == [hung.key]
    rows = store.load(run_dir)
    rows = rows[rows["cell"] == hung.key]
    assert len(rows) == 2 and (rows["status"] == "timeout").all()
    assert rows["error"].str.contains("hard time limit").all()
    assert read_started(run_dir, hung.key) is None


# -- choosing and configuring ---------------------------------------------------------------------


def test_executor_is_not_part_of_a_runs_identity(tmp_path):
    assert config_hash(tiny()) == config_hash(tiny("executor.kind=pool", "executor.workers=3"))
    run_dir, _, _ = prepare_run(tiny(), tmp_path / "run")
    prepare_run(tiny("executor.kind=ray"), run_dir)  # resumable with another executor
    assert "executor" not in store.read_manifest(run_dir)["config"]


def test_from_config_builds_the_named_executor():
    assert isinstance(from_config(tiny().executor), LocalExecutor)
    pool = from_config(
        tiny("executor.kind=pool", "executor.workers=3", "executor.grace_s=5").executor
    )
    assert isinstance(pool, PoolExecutor) and (pool.workers, pool.grace_s) == (3, 5.0)
    with pytest.raises(ConfigError, match="unknown executor 'nope'.*local, pool, ray, slurm"):
        get_executor("nope")


@pytest.mark.parametrize("kind,module", [("ray", "ray"), ("slurm", "submitit")])
def test_missing_extra_says_what_to_install(kind, module, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ExecutorUnavailable, match=rf"pip install -e '\.\[{kind}\]'"):
        from_config(tiny(f"executor.kind={kind}").executor)


def test_cli_names_a_bad_executor_before_any_work(tmp_path):
    result = CliRunner().invoke(
        app, ["run", "-p", "smoke", "-e", "nope", "-o", str(tmp_path / "r"), "-j", "2"]
    )
    assert result.exit_code == 2
    assert "--executor" in result.output and "'nope'" in result.output
    assert "local" in result.output and "slurm" in result.output  # what is allowed
    assert not (tmp_path / "r").exists()


def test_pool_plan_one_worker_per_gpu_and_threads_per_core(monkeypatch):
    monkeypatch.setattr("statebench.bench.run.executors.pool.cpu_count", lambda: 8)
    monkeypatch.setattr("statebench.bench.run.threads.cpu_count", lambda: 8)
    monkeypatch.setattr("statebench.bench.run.executors.pool.visible_gpus", lambda: [])
    cpu = plan_workers(None, "cpu")
    assert (cpu.workers, cpu.threads, cpu.gpus) == (8, 1, [])
    assert plan_workers(2, "auto").threads == 1  # the default: one thread per worker
    assert plan_workers(2, "auto", threads=0).threads == 4  # 0: cores / workers
    assert plan_workers(2, "auto", threads=3).threads == 3
    monkeypatch.setattr("statebench.bench.run.executors.pool.visible_gpus", lambda: ["3", "5"])
    gpu = plan_workers(None, "cuda", threads=0)
    assert (gpu.workers, gpu.threads, gpu.gpus) == (2, 4, ["3", "5"])
    assert plan_workers(3, "auto").gpus == ["3", "5", "3"]
    assert plan_workers(None, "cpu").gpus == []  # device cpu never pins a GPU
    monkeypatch.setattr("statebench.bench.run.executors.pool.visible_gpus", lambda: [])
    with pytest.raises(ValueError, match="no CUDA device"):
        plan_workers(None, "cuda")


def test_pool_worker_pins_its_gpu_and_caps_threads(monkeypatch):
    import queue

    import torch

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    threads = torch.get_num_threads()
    q = queue.Queue()
    q.put("1")
    try:
        init_pool_worker(1, q)
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


def test_progress_shows_workers_and_does_not_count_lost_cells():
    from rich.console import Console

    cells = expand(tiny())
    reporter = RichReporter(Console(file=io.StringIO(), width=120))
    reporter.start(len(cells), 1)
    for cell in cells[:3]:
        reporter.cell_dispatched(cell)
    bar = reporter.progress.tasks[0]
    assert "running:3" in bar.fields["info"]
    reporter.cell_end(cells[0], "ok")
    reporter.cell_end(cells[1], LOST)
    assert bar.completed == 2 and "lost:1" in bar.fields["info"]
    assert "running:1" in bar.fields["info"]
    reporter.finish()


def test_slurm_submits_the_claimed_cells_as_one_job_array(local_run, tmp_path, monkeypatch):
    submitit = pytest.importorskip("submitit")
    arrays = []
    batch = submitit.AutoExecutor.batch

    def counting_batch(self, *a, **k):
        arrays.append(self)
        return batch(self, *a, **k)

    monkeypatch.setattr(submitit.AutoExecutor, "batch", counting_batch)
    cfg = tiny("executor.kind=slurm", "executor.slurm.cluster=local")
    cfg = cfg.model_copy(
        update={
            "executor": cfg.executor.model_copy(
                update={"slurm": cfg.executor.slurm.model_copy(update={"array_parallelism": 2})}
            )
        }  # fmt: skip
    )
    run_dir = run_matrix(cfg, tmp_path / "run")
    pd.testing.assert_frame_equal(metrics(run_dir), local_run[1])
    assert len(arrays) == 1, "every cell in one array, not one job each"


def test_slurm_cluster_gets_one_sbatch_array_capped_by_array_parallelism(tmp_path, monkeypatch):
    """On a real cluster (sbatch and srun stand-ins record what submitit sends): one sbatch
    script for all the cells, `--array=0-(n-1)%P` with P from executor.slurm."""
    pytest.importorskip("submitit")
    bin_dir, sent = tmp_path / "bin", tmp_path / "sent"
    bin_dir.mkdir()
    sent.mkdir()
    (bin_dir / "sbatch").write_text(
        f'#!/bin/sh\ncp "$1" "{sent}/$(date +%s%N).sh"\necho "Submitted batch job 4242"\n'
    )
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    for tool in ("sbatch", "srun"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    cfg = tiny(
        "executor.kind=slurm",
        "executor.slurm.cluster=slurm",
        "executor.slurm.array_parallelism=2",
        "executor.slurm.partition='gpu'",
    )
    run_dir, run_id, cells = prepare_run(cfg, tmp_path / "run")
    executor = from_config(cfg.executor)
    job = CellJob(str(run_dir), run_id, "cpu")
    executor.open(job)
    handles = executor.submit_many(cells, job)
    assert [h.job_id for h in handles] == [f"4242_{i}" for i in range(len(cells))]
    (script,) = sent.iterdir()  # one submission, not one per cell
    lines = script.read_text().splitlines()
    assert f"#SBATCH --array=0-{len(cells) - 1}%2" in lines and "#SBATCH --partition=gpu" in lines

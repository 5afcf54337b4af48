"""The harness end to end on tiny matrices: rows, resume, failures as rows, crash safety."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from statebench.bench import store
from statebench.bench.config import ConfigError, load_config, validate
from statebench.bench.run.runner import run_matrix
from statebench.bench.store.schema import ROW_COLUMNS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY = ["train.steps=8", "train.log_every=2", "eval.samples=8", "eval.lengths=[4, 8]"]


def tiny(**over):
    return load_config(preset="smoke", overrides=TINY + [f"{k}={v}" for k, v in over.items()])


def test_rows_have_every_design_column(tmp_path):
    run_dir = run_matrix(tiny(), tmp_path / "run")
    df = store.load(run_dir)
    assert set(ROW_COLUMNS) <= set(df.columns)
    cfg = tiny()
    assert len(df) == len(cfg.archs) * len(cfg.tasks) * len(cfg.eval.lengths)
    assert (df["status"] == "ok").all()
    for col in ("accuracy", "seq_accuracy", "scaled_accuracy", "loss", "train_seconds"):
        assert df[col].notna().all(), col
    assert df["params"].gt(0).all() and df["state_size"].gt(0).all()
    assert df["kernel"].str.len().gt(0).all() and df["device"].eq("cpu").all()
    assert df["git_sha"].str.len().gt(0).all() and df["torch_version"].str.len().gt(0).all()
    assert df.apply(lambda r: len(r["per_position_accuracy"]) == r["eval_len"], axis=1).all()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config"]["name"] == "smoke" and len(manifest["cells"]) == df["cell"].nunique()


def test_metrics_are_consistent(tmp_path):
    df = store.load(run_matrix(tiny(), tmp_path / "run"))
    chance = df["chance"]
    assert ((df["scaled_accuracy"] - (df["accuracy"] - chance) / (1 - chance)).abs() < 1e-9).all()
    assert (df["seq_accuracy"] <= df["accuracy"] + 1e-9).all()


def test_same_config_is_deterministic(tmp_path):
    a = store.load(run_matrix(tiny(), tmp_path / "a")).sort_values(["cell", "eval_len"])
    b = store.load(run_matrix(tiny(), tmp_path / "b")).sort_values(["cell", "eval_len"])
    assert list(a["cell"]) == list(b["cell"])
    assert list(a["accuracy"]) == list(b["accuracy"])
    assert list(a["loss"]) == list(b["loss"])


def test_second_run_trains_nothing(tmp_path, monkeypatch):
    run_dir = run_matrix(tiny(), tmp_path / "run")
    mtimes = {p: p.stat().st_mtime_ns for p in (run_dir / "cells").iterdir()}
    import statebench.bench.run.executors.worker as worker

    def boom(*a, **k):
        raise AssertionError("a stored cell was run again")

    monkeypatch.setattr(worker, "execute_cell", boom)
    run_matrix(tiny(), run_dir)
    assert {p: p.stat().st_mtime_ns for p in (run_dir / "cells").iterdir()} == mtimes


def test_other_config_in_same_dir_is_refused(tmp_path):
    run_matrix(tiny(), tmp_path / "run")
    with pytest.raises(ConfigError, match="different config"):
        run_matrix(tiny(**{"train.steps": 9}), tmp_path / "run")


def test_diverging_cell_is_a_row_and_the_run_goes_on(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    cfg = validate(
        {
            **tiny().model_dump(mode="json"),
            "archs": ["bench_archs:NaNMixer", "bench_archs:BrokenMixer", "lstm"],
        }
    )
    # past the conformance door on purpose: these fail at run time, which must be rows
    df = store.load(run_matrix(cfg, tmp_path / "run", skip_conformance=True))
    by_arch = {a: set(g["status"]) for a, g in df.groupby("arch")}
    assert by_arch["bench_archs:NaNMixer"] == {"diverged"}
    assert by_arch["bench_archs:BrokenMixer"] == {"error"}
    assert by_arch["lstm"] == {"ok"}
    broken = df[df["arch"] == "bench_archs:BrokenMixer"]
    assert broken["error"].str.contains("broken on purpose").all()


def test_truncated_cell_file_runs_again(tmp_path):
    run_dir = run_matrix(tiny(), tmp_path / "run")
    victim = sorted((run_dir / "cells").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:100])
    assert victim.stem not in store.stored_keys(run_dir)
    run_matrix(tiny(), run_dir)
    assert victim.stem in store.stored_keys(run_dir)
    assert store.load(run_dir).groupby("cell").size().eq(2).all()


def test_unwritable_out_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="not writable"):
        run_matrix(tiny(), blocker / "run")


def _cli(*args, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "statebench.bench.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def test_sigkill_mid_matrix_then_resume_has_every_cell_once(tmp_path):
    out = tmp_path / "run"
    args = ["run", "--preset", "smoke", "--out", str(out), "--set", "train.steps=40"]
    proc = _cli(*args)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list((out / "cells").glob("*.parquet"))) >= 1 if (out / "cells").exists() else False:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"run ended before it could be killed:\n{proc.stdout.read()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = len(list((out / "cells").glob("*.parquet")))
    assert 1 <= n_before < 4
    done = _cli(*args)
    output, _ = done.communicate(timeout=300)
    assert done.returncode == 0, output
    df = store.load(out)
    assert df["cell"].nunique() == 4
    assert not df.duplicated(["cell", "eval_len"]).any()
    assert len(df) == 4 * 4
    assert not list((out / "cells").glob(".*"))  # no temp files are left as results


def test_cli_errors_before_training(tmp_path):
    bad = _cli("run", "--preset", "smoke", "--arch", "lstn", "--out", str(tmp_path / "r"))
    output, _ = bad.communicate(timeout=120)
    assert bad.returncode == 2
    assert "did you mean lstm" in output
    assert not (tmp_path / "r").exists()


def test_a_budget_between_two_grid_widths_trains_and_records_the_size_it_reached(tmp_path):
    """LSTM at 60k with 2 layers: widths on the grid of 8 give 52k or 67k, both > 10% off."""
    cfg = load_config(
        preset="smoke",
        overrides=["archs=['lstm']", "tasks=['parity']", "model.param_budget=60000",
                   "train.steps=2", "eval.samples=4", "eval.lengths=[8]"],
    )  # fmt: skip
    df = store.load(run_matrix(cfg, tmp_path / "run"))
    assert set(df["status"]) == {"ok"}
    assert set(df["param_budget"]) == {60000}
    assert abs(int(df["params"].iloc[0]) - 60000) <= 6000


def test_every_row_says_whether_its_model_learned_and_splits_in_from_out(tmp_path):
    cfg = load_config(
        preset="smoke",
        overrides=["archs=['lstm']", "tasks=['parity']", "train.steps=4", "train.val_every=2",
                   "eval.samples=8", "eval.lengths=[8, 32]"],
    )  # fmt: skip
    df = store.load(run_matrix(cfg, tmp_path / "run")).set_index("eval_len")
    assert (df["learned"] == False).all() and df["steps_to_target"].isna().all()  # noqa: E712
    assert df["val_accuracy"].between(0, 1).all()
    assert df.loc[8, "id_accuracy"] == df.loc[8, "accuracy"]  # all inside training (16)
    assert math.isnan(df.loc[8, "ood_accuracy"]) and math.isnan(df.loc[8, "ood_scaled_accuracy"])
    assert 0 <= df.loc[32, "ood_accuracy"] <= 1 and 0 <= df.loc[32, "id_accuracy"] <= 1

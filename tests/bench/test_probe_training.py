"""Probe training is `statebench run`'s: executors, claims, pending cells with checkpoints."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from statebench.bench import store
from statebench.bench.cli import app
from statebench.bench.store.claim_files import claims_dir
from typer.testing import CliRunner

# smoke's 2 archs x 2 tasks; cells long enough that both pool workers get some.
SETS = ["train.steps=30", "train.log_every=10", "eval.samples=4", "eval.lengths=[8]"]
PROBE = ["probe.max_len=64", "probe.samples=4", "probe.chunk=32", "probe.bootstrap=20"]


def _sets(*extra: str) -> list[str]:
    return [arg for s in (*SETS, *PROBE, *extra) for arg in ("--set", s)]


def test_probe_with_a_pool_trains_its_cells_in_two_worker_processes(tmp_path):
    out = tmp_path / "run"
    args = ["probe", "--preset", "smoke", "--out", str(out), "--executor", "pool", "-j", "2"]
    result = CliRunner().invoke(app, [*args, *_sets()])
    assert result.exit_code == 0, result.output
    logs = store.load_training_log(out)
    workers = set(logs["worker"].astype(str))
    assert len(workers) == 2 and not any(w.endswith(f":{os.getpid()}") for w in workers)
    assert logs["cell"].nunique() == 4
    assert store.load_probes(out)["cell"].nunique() == 4


def test_a_stored_cell_without_its_checkpoint_is_trained_again(tmp_path):
    out = tmp_path / "run"
    args = ["probe", "--preset", "smoke", "--out", str(out), "--arch", "lstm", "--task", "parity"]
    assert CliRunner().invoke(app, [*args, *_sets()]).exit_code == 0
    (key,) = store.manifest_cells(store.read_manifest(out))
    before = store.file_version(out, key)
    store.checkpoint_path(out, key).unlink()
    result = CliRunner().invoke(app, [*args, *_sets("probe.max_len=80")])
    assert result.exit_code == 0, result.output
    assert store.has_checkpoint(out, key) and store.file_version(out, key) != before


def test_two_probe_drivers_on_one_directory_train_each_cell_once(tmp_path):
    out = tmp_path / "run"
    args = ["-v", "probe", "--preset", "smoke", "--out", str(out), *_sets()]
    drivers = [
        subprocess.Popen(
            [sys.executable, "-m", "statebench.bench.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [d.communicate(timeout=600)[0] for d in drivers]
    assert [d.returncode for d in drivers] == [0, 0], outputs
    ran = [k for o in outputs for k in re.findall(r"cell .* \[([0-9a-f]{16})\]: ok", o)]
    assert sorted(ran) == sorted(set(ran)) and len(ran) == 4, "each cell trained once"
    df = store.load(out)
    assert df["cell"].nunique() == 4 and not df.duplicated(["cell", "eval_len"]).any()
    assert store.load_probes(out)["cell"].nunique() == 4
    assert not list(claims_dir(out).glob("*.claim"))

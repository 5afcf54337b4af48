"""Faults: killed drivers and workers, corrupted files, hung cells, and drivers sharing a run dir.

Every test ends by checking the one invariant that matters: each cell of the matrix is stored
exactly once, with no claim or temp file left behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from statebench.bench import store
from statebench.bench.cli import app
from statebench.bench.cli import common as cli_common
from statebench.bench.config import load_config
from statebench.bench.run.cell import CellJob
from statebench.bench.run.executors.remote import timeout_rows
from statebench.bench.run.progress import Reporter
from statebench.bench.run.runner import prepare_run, run_matrix, run_status
from statebench.bench.store.claim_files import claims_dir, is_stale, pid_alive, read_claims
from statebench.bench.store.claims import ClaimBook, sweep_stale
from statebench.bench.store.records import mark_started, read_all_started
from statebench.models.base import Mixer
from typer.testing import CliRunner

TINY = ["train.steps=8", "train.log_every=2", "eval.samples=8", "eval.lengths=[4, 8]"]
TINY_CLI = ["--set", "eval.lengths=[4, 8]", "--set", "eval.samples=8", "--no-report"]
SLOW = [*TINY_CLI, "--set", "train.steps=40"]  # cells long enough to be killed mid-way
N_CELLS = 4  # the smoke preset: 2 archs x 2 tasks


def tiny(*extra: str):
    return load_config(preset="smoke", overrides=TINY + list(extra))


def assert_every_cell_once(run_dir: Path, n_cells: int = N_CELLS, lengths: int = 2) -> None:
    df = store.load(run_dir)
    assert df["cell"].nunique() == n_cells
    assert not df.duplicated(["cell", "eval_len"]).any()
    assert len(df) == n_cells * lengths
    assert set(df["cell"]) == set(json.loads((run_dir / "manifest.json").read_text())["cells"])
    assert not list((run_dir / "cells").glob(".*")), "a temp file was left as a result"
    assert not list(claims_dir(run_dir).glob("*.claim")), "a claim was left behind"


def _cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "statebench.bench.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(predicate, proc: subprocess.Popen | None = None, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the run ended before the fault could be injected:\n{proc.stdout.read()}")
        time.sleep(0.05)
    pytest.fail("timed out waiting for the run to reach the fault point")


def _n_stored(run_dir: Path) -> int:
    return len(list((run_dir / "cells").glob("*.parquet"))) if (run_dir / "cells").is_dir() else 0


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_claim(run_dir: Path, key: str, gen: int, pid: int, host: str, age_s: float = 0) -> Path:
    path = claims_dir(run_dir) / f"{key}.{gen}.claim"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "host": host, "token": "t", "created": time.time()}))
    if age_s:
        then = time.time() - age_s
        os.utime(path, (then, then))
    return path


# -- claims ---------------------------------------------------------------------------------------


def test_a_live_claim_keeps_other_drivers_out_until_released(tmp_path):
    a, b = ClaimBook(tmp_path), ClaimBook(tmp_path)
    assert a.acquire("k")
    assert not b.acquire("k") and b.held_elsewhere("k")
    info = read_claims(tmp_path)["k"]
    assert (info.pid, info.host, info.generation) == (os.getpid(), socket.gethostname(), 0)
    a.release("k")
    assert not list(claims_dir(tmp_path).iterdir())
    assert b.acquire("k") and not a.acquire("k")


def test_claim_of_a_dead_process_is_taken_over(tmp_path):
    _write_claim(tmp_path, "k", 0, _dead_pid(), socket.gethostname())
    book = ClaimBook(tmp_path)
    assert is_stale(read_claims(tmp_path)["k"])
    assert book.acquire("k")
    assert read_claims(tmp_path)["k"].generation == 1
    book.release("k")  # drops its own generation and the stale one below
    assert not list(claims_dir(tmp_path).iterdir())


def test_remote_claim_is_judged_by_heartbeat_age(tmp_path):
    _write_claim(tmp_path, "fresh", 0, 1, "another-host")
    _write_claim(tmp_path, "silent", 0, 1, "another-host", age_s=120)
    book = ClaimBook(tmp_path, stale_after_s=60)
    assert not book.acquire("fresh")
    assert book.acquire("silent")


def test_claim_left_by_an_earlier_driver_of_this_process_is_stale(tmp_path):
    _write_claim(tmp_path, "k", 0, os.getpid(), socket.gethostname())  # token held by nobody
    assert ClaimBook(tmp_path).acquire("k")


def test_sweep_drops_only_stale_claims(tmp_path):
    _write_claim(tmp_path, "dead", 0, _dead_pid(), socket.gethostname())
    mark_started(tmp_path, "dead")
    live = ClaimBook(tmp_path)
    assert live.acquire("live")
    assert sweep_stale(tmp_path, ["dead", "live", "unclaimed"]) == 1
    assert set(read_claims(tmp_path)) == {"live"} and not read_all_started(tmp_path)


def test_heartbeat_keeps_a_long_claim_fresh(tmp_path):
    book = ClaimBook(tmp_path, stale_after_s=0.5, heartbeat_s=0.05)
    with book.heartbeat():
        assert book.acquire("k")
        time.sleep(1.0)  # twice the staleness bound: only the heartbeat keeps it alive
        info = read_claims(tmp_path)["k"]
        assert info.age_s < 0.5 and not is_stale(info, 0.5)
    assert not list(claims_dir(tmp_path).glob("*.claim"))  # released on the way out


def _race(book: ClaimBook, key: str, barrier: threading.Barrier, wins: list) -> None:
    barrier.wait()
    if book.acquire(key):
        wins.append(book)


def test_threads_racing_for_one_stale_claim_give_one_owner(tmp_path):
    for round_ in range(20):
        key = f"k{round_}"
        _write_claim(tmp_path, key, 0, 1, "another-host", age_s=999)
        books = [ClaimBook(tmp_path, stale_after_s=60) for _ in range(8)]
        barrier, wins = threading.Barrier(len(books)), []
        threads = [threading.Thread(target=_race, args=(b, key, barrier, wins)) for b in books]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == 1, f"round {round_}: {len(wins)} owners"
        assert read_claims(tmp_path)[key].token == wins[0]._held[key][1]


RACER = """
import json, os, sys, time
from statebench.bench.store.claims import ClaimBook
run_dir, go, keys = sys.argv[1], sys.argv[2], sys.argv[3:]
book = ClaimBook(run_dir, stale_after_s=60)
while not os.path.exists(go):
    time.sleep(0.001)
print(json.dumps([k for k in keys if book.acquire(k)]), flush=True)
sys.stdin.read()  # hold the claims (this process stays alive) until the test is done
"""


def test_processes_racing_for_stale_claims_give_one_owner_each(tmp_path):
    keys = [f"k{i}" for i in range(40)]
    dead = _dead_pid()
    for i, key in enumerate(keys):  # half dead owners on this host, half silent remote ones
        host, age = (socket.gethostname(), 0) if i % 2 else ("elsewhere", 999)
        _write_claim(tmp_path, key, i % 3, dead, host, age_s=age)
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path), str(go), *keys],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    time.sleep(1.0)  # let them all start and wait at the line
    go.write_text("")
    won = [k for r in racers for k in json.loads(r.stdout.readline())]
    for r in racers:
        r.communicate("", timeout=30)
    assert sorted(won) == sorted(keys), "every stale claim is taken over exactly once"


# -- hung cells -----------------------------------------------------------------------------------


class HangInEval(Mixer):
    """Trains normally, then hangs in evaluation, where the soft time limit is never checked."""

    default_mlp = "none"

    def __init__(self, d_model: int, layer_idx: int = 0) -> None:
        super().__init__(d_model, layer_idx)
        self.proj = torch.nn.Linear(d_model, d_model)

    def forward(self, x):
        if not self.training:
            time.sleep(3600)
        return self.proj(x)

    def init_state(self, batch_size, device, dtype):
        return None

    def step(self, x, state):
        return self.forward(x), state

    def state_size(self, length):
        return 0


def test_pool_kills_a_cell_hung_outside_training_and_stores_a_timeout(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # spawned workers import this file
    cfg = tiny(
        "archs=['test_faults:HangInEval', 'lstm']",
        "tasks=['parity']",
        "train.steps=2",
        "train.time_limit_s=20",  # room for a cold worker (imports) to train 2 steps
        "executor.grace_s=2",
        "executor.kind=pool",
        "executor.workers=2",
    )
    start = time.monotonic()
    # past the conformance door on purpose: it would hang there, in the driver, where no
    # time limit applies
    run_dir = run_matrix(cfg, tmp_path / "run", skip_conformance=True)
    assert time.monotonic() - start < 150
    df = store.load(run_dir)
    by_arch = {a: g for a, g in df.groupby("arch")}
    hung = by_arch["test_faults:HangInEval"]
    assert set(hung["status"]) == {"timeout"}
    assert hung["error"].str.contains("hard time limit").all()
    assert set(by_arch["lstm"]["status"]) == {"ok"}  # its neighbour ran to the end
    assert_every_cell_once(run_dir, n_cells=2)
    assert not read_all_started(run_dir)


# -- killed processes -----------------------------------------------------------------------------


def test_sigkill_pool_driver_mid_matrix_then_resume(tmp_path):
    out = tmp_path / "run"
    args = ["run", "--preset", "smoke", "--out", str(out), "-e", "pool", "-j", "2", *SLOW]
    proc = _cli(*args)
    _wait_for(lambda: _n_stored(out) >= 1 and read_all_started(out), proc)
    workers = [r.pid for r in read_all_started(out).values()]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 1 <= _n_stored(out) < N_CELLS
    # Orphaned workers notice their driver is gone and stop instead of finishing their cell.
    _wait_for(lambda: not any(pid_alive(p) for p in workers), timeout=30)
    status = run_status(out)
    # The dead driver's claims are stale. Cells may all be stored by now: a worker in its last
    # second stores its cell before its once-a-second watch sees the driver gone.
    assert not status.in_flight
    done = _cli(*args)
    output, _ = done.communicate(timeout=600)
    assert done.returncode == 0, output
    assert_every_cell_once(out)


def test_sigkill_pool_worker_mid_cell_loses_only_cells_in_flight(tmp_path):
    out = tmp_path / "run"
    args = ["-v", "run", "--preset", "smoke", "--out", str(out), "-e", "pool", "-j", "2", *SLOW]
    proc = _cli(*args)
    _wait_for(lambda: read_all_started(out), proc)
    victim = next(iter(read_all_started(out).values()))
    os.kill(victim.pid, signal.SIGKILL)
    output, _ = proc.communicate(timeout=600)
    assert proc.returncode == 1, output  # the driver went on, then said what is missing
    assert "not stored" in output and "lost" in output
    lost = N_CELLS - _n_stored(out)
    assert 1 <= lost <= 2  # the victim's cell, and its neighbour's if one was in flight
    assert victim.key not in store.stored_keys(out)
    done = _cli(*args)
    output, _ = done.communicate(timeout=600)
    assert done.returncode == 0, output
    assert len(re.findall(r"cell .* \[[0-9a-f]{16}\]: ok", output)) == lost  # only those reran
    assert_every_cell_once(out)


def test_truncated_cell_file_is_reported_and_rerun_through_the_pool(tmp_path, caplog):
    cfg = tiny("executor.kind=pool", "executor.workers=2")
    run_dir = run_matrix(cfg, tmp_path / "run")
    victim = sorted((run_dir / "cells").glob("*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:100])
    with caplog.at_level("WARNING", logger="statebench.bench.store"):
        assert victim.stem not in set(store.load(run_dir)["cell"])
    assert any(victim.name in r.getMessage() for r in caplog.records), "load() must report it"
    status = run_status(run_dir)
    assert status.corrupt == [victim.stem] and status.next_up == [victim.stem]
    run_matrix(cfg, run_dir)
    assert victim.stem in store.stored_keys(run_dir)
    assert_every_cell_once(run_dir)


# -- drivers sharing a run dir --------------------------------------------------------------------


def test_two_drivers_started_at_once_run_every_cell_once(tmp_path):
    out = tmp_path / "run"
    args = ["-v", "run", "--preset", "smoke", "--out", str(out), *TINY_CLI, "-s", "train.steps=24"]
    drivers = [_cli(*args), _cli(*args)]
    outputs = [d.communicate(timeout=600)[0] for d in drivers]
    assert [d.returncode for d in drivers] == [0, 0], outputs
    ran = [k for o in outputs for k in re.findall(r"cell .* \[([0-9a-f]{16})\]: ok", o)]
    assert sorted(ran) == sorted(set(ran)) and len(ran) == N_CELLS, "each cell ran once"
    assert_every_cell_once(out)


class _KillOnWait(Reporter):
    """Kills the other 'driver' once this one starts waiting for it."""

    def __init__(self, other: subprocess.Popen) -> None:
        self.other, self.waits = other, 0

    def waiting(self, cells: int) -> None:
        self.waits += 1
        if self.other.poll() is None:
            self.other.kill()
            self.other.wait()


def test_driver_waits_for_a_live_claim_and_takes_it_over_when_its_owner_dies(tmp_path):
    cfg = tiny("tasks=['parity']")
    run_dir, _, cells = prepare_run(cfg, tmp_path / "run")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        _write_claim(run_dir, cells[0].key, 0, other.pid, socket.gethostname())
        reporter = _KillOnWait(other)
        run_matrix(cfg, run_dir, reporter=reporter)
    finally:
        other.kill()
        other.wait()
    assert reporter.waits >= 1, "the driver must wait for the other driver's cell"
    assert_every_cell_once(run_dir, n_cells=2)


def test_status_of_a_run_in_flight(tmp_path, monkeypatch):
    run_dir, run_id, cells = prepare_run(tiny(), tmp_path / "run")
    job = CellJob(str(run_dir), run_id, "cpu")
    store.write_cell(run_dir, cells[0].key, timeout_rows(cells[0], job, "hard time limit"))
    (run_dir / "cells" / f"{cells[1].key}.parquet").write_bytes(b"PAR1 truncated")
    book = ClaimBook(run_dir)
    assert book.acquire(cells[2].key)
    mark_started(run_dir, cells[2].key)
    monkeypatch.setattr(cli_common.console, "width", 200)  # no truncated labels
    result = CliRunner().invoke(app, ["status", str(run_dir)])
    assert result.exit_code == 0, result.output
    text = result.output
    assert re.search(r"done: timeout\s*│\s*1", text)
    assert re.search(r"pending\s*│\s*3", text)
    assert re.search(r"in flight \(claimed\)\s*│\s*1", text)
    assert re.search(r"unreadable files \(run again\)\s*│\s*1", text)
    assert cells[2].label in text and f"{socket.gethostname()}:{os.getpid()}" in text
    assert "next to run (2)" in text and "unreadable file" in text
    book.release_all()
    missing = CliRunner().invoke(app, ["status", str(tmp_path / "nothing")])
    assert missing.exit_code == 2


def test_status_counts_only_the_run_s_cells_not_copies_or_strays(tmp_path, monkeypatch):
    run_dir = run_matrix(tiny("tasks=['parity']"), tmp_path / "run")
    cells = run_dir / "cells"
    first = sorted(cells.glob("*.parquet"))[0]
    (cells / f"{first.stem} (copy).parquet").write_bytes(first.read_bytes())
    (cells / "0123456789abcdef.parquet").write_bytes(first.read_bytes())
    (cells / "fedcba9876543210.parquet").write_bytes(b"PAR1 not a cell of this run")
    status = run_status(run_dir)
    assert sorted(status.statuses) == sorted(store.manifest_cells(store.read_manifest(run_dir)))
    assert len(status.stray) == 3 and not status.corrupt and not status.pending
    monkeypatch.setattr(cli_common.console, "width", 200)
    text = CliRunner().invoke(app, ["status", str(run_dir)]).output
    assert re.search(r"cells\s*│\s*2\s", text) and re.search(r"done: ok\s*│\s*2\s", text)
    assert re.search(r"stray or copied files \(ignored\)\s*│\s*3", text)


def test_report_of_a_run_with_a_foreign_parquet_file_names_the_cell_foreign(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    run_dir = run_matrix(tiny("tasks=['parity']"), tmp_path / "run")
    victim = sorted((run_dir / "cells").glob("*.parquet"))[0]
    pq.write_table(pa.table({"x": [1, 2]}), victim)  # valid Parquet, not a statebench file
    result = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "stored 1 / expected 2 cells (foreign 1)" in text
    assert f"| {victim.stem} |" in text

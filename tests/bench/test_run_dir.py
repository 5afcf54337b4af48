"""RunDir: the one object that knows a run directory's layout, asked instead of building paths."""

from __future__ import annotations

import os
import time

import pytest
import torch
from statebench.bench import store
from statebench.bench.config.errors import RunDirError
from statebench.bench.store import RunDir
from statebench.bench.store.records import mark_started


def _row(key: str, status: str = "ok", eval_len: int = 4) -> dict:
    return {"run_id": "r", "cell": key, "arch": "lstm", "eval_len": eval_len, "status": status}


def test_every_file_of_a_run_has_its_place(tmp_path):
    run = RunDir(tmp_path)
    assert run.manifest_file == tmp_path / "manifest.json"
    assert run.cell_file("k") == tmp_path / "cells" / "k.parquet"
    assert run.table_file("probes", "k") == tmp_path / "probes" / "k.parquet"
    assert run.checkpoint_file("k") == tmp_path / "checkpoints" / "k.pt"
    assert run.claims_dir == tmp_path / "claims"
    assert run.slurm_dir == tmp_path / "slurm"
    assert run.tracking_dir == tmp_path / "tracking"
    assert run.report_dir == tmp_path / "report"
    assert run.figures_dir == tmp_path / "figures"
    assert os.fspath(run) == str(tmp_path) and RunDir(str(tmp_path)) == run
    with pytest.raises(ValueError, match="unknown table 'nope'"):
        run.table_file("nope", "k")


def test_the_store_functions_answer_as_the_run_dir_does(tmp_path):
    run = RunDir(tmp_path)
    run.write_manifest({"run_id": "r", "cells": ["a"]})
    store.write_cell(tmp_path, "a", [_row("a")])
    assert store.cell_path(tmp_path, "a") == run.cell_file("a")
    assert store.read_manifest(tmp_path) == run.manifest()
    assert store.load(tmp_path).equals(run.load())
    assert store.file_version(tmp_path, "a") == run.version("a")


def test_open_writes_a_fresh_manifest_once_and_sweeps_old_temp_files(tmp_path):
    run = RunDir(tmp_path)
    (tmp_path / "cells").mkdir()
    stale = tmp_path / "cells" / ".k.parquet.x.tmp"
    stale.write_bytes(b"x")
    past = time.time() - 7200
    os.utime(stale, (past, past))
    made = []

    def fresh():
        made.append(1)
        return {"run_id": "first", "cells": ["a"]}

    assert run.open(fresh)["run_id"] == "first"
    assert run.open(lambda: {"run_id": "second"})["run_id"] == "first"  # reopened, not rewritten
    assert made == [1] and not stale.exists()
    assert run.cells() == ["a"]


def test_a_directory_without_a_manifest_is_no_run(tmp_path):
    with pytest.raises(RunDirError, match="holds no run"):
        RunDir(tmp_path).require_manifest()
    with pytest.raises(RunDirError, match="no run directory"):
        RunDir(tmp_path / "absent").require_manifest()
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(RunDirError, match="truncated or corrupt"):
        RunDir(tmp_path).manifest()
    assert RunDir(tmp_path).cells() == []  # readers that can do without it


def test_one_scan_gives_statuses_and_unreadable_files(tmp_path):
    run = RunDir(tmp_path)
    run.write_cell("good", [_row("good"), _row("good", eval_len=8)])
    run.write_cell("bad", [_row("bad"), _row("bad", "diverged", eval_len=8)])
    run.write_cell("twice", [_row("twice"), _row("twice")])  # one length stored twice
    (tmp_path / "cells" / "torn.parquet").write_bytes(b"PAR1 truncated")
    found = run.scan()
    assert found.statuses == {"good": "ok", "bad": "diverged"}
    assert found.corrupt == ["torn"]
    assert list(found.foreign) == ["twice"] and "duplicate" in found.foreign["twice"]
    assert run.stored_status("bad") == "diverged" and run.stored_status("torn") is None
    assert run.stored_status("twice") is None
    assert run.stored_keys() == {"good", "bad"}


def test_checkpoints_are_listed_in_one_look(tmp_path):
    run = RunDir(tmp_path)
    run.save_checkpoint("a", {"w": torch.ones(2)}, {"arch": "lstm"})
    assert run.checkpoints() == {"a"} and run.has_checkpoint("a") and not run.has_checkpoint("b")
    state, cell = run.load_checkpoint("a")
    assert cell == {"arch": "lstm"} and state["w"].tolist() == [1.0, 1.0]
    assert RunDir(tmp_path / "none").checkpoints() == set()


def test_a_rerun_cell_lands_only_once_its_file_is_rewritten(tmp_path):
    run = RunDir(tmp_path)
    run.write_cell("old", [_row("old", "error")])
    landed = run.landed_check(rerun=["old"])
    assert not landed("old")  # the failed file from before does not count
    assert not landed("new")  # nothing there yet
    run.write_cell("new", [_row("new")])
    assert landed("new")
    time.sleep(0.01)  # a new mtime even on coarse clocks
    run.write_cell("old", [_row("old")])
    assert landed("old")


def test_claims_and_running_records_come_from_the_run_dir(tmp_path):
    run = RunDir(tmp_path)
    book = run.claim_book(stale_after_s=60)
    assert book.acquire("a")
    mark_started(tmp_path, "a")
    assert set(run.claims()) == {"a"}
    assert run.running()["a"].pid == os.getpid()
    assert all(p.parent == run.claims_dir for p in run.claims_dir.iterdir())
    book.release("a")
    assert run.claims() == {}

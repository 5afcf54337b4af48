"""The store: atomic, readable-by-others files; stale temp files from killed writers go."""

import os
import stat
import time

from statebench.bench import store


def _row():
    return {"run_id": "r", "cell": "k", "arch": "lstm", "eval_len": 4, "accuracy": 1.0}


def test_cell_file_is_written_with_the_umask_not_0600(tmp_path):
    path = store.write_cell(tmp_path, "k", [_row()])
    mode = stat.S_IMODE(path.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
    assert store.load(tmp_path)["accuracy"].tolist() == [1.0]


def test_stale_temp_files_are_removed_young_ones_kept(tmp_path):
    (tmp_path / "cells").mkdir()
    old = tmp_path / "cells" / ".k.parquet.abc.tmp"
    young = tmp_path / "cells" / ".j.parquet.def.tmp"
    old.write_bytes(b"x")
    young.write_bytes(b"x")
    past = time.time() - 7200
    os.utime(old, (past, past))
    assert store.remove_stale_temp_files(tmp_path) == 1
    assert not old.exists() and young.exists()


def test_run_layout_is_defined_only_in_the_store():
    """No module but bench/store/layout.py (RunDir) builds a path inside a run directory by
    hand: everything else asks a RunDir."""
    import re
    from pathlib import Path

    bench = Path(store.__file__).parents[1]
    pattern = re.compile(
        r"manifest\.json|/cells/|/checkpoints/|/\s*[\"'](cells|checkpoints|probes|curves|claims"
        r"|slurm|logs|training_logs|tracking|report)[\"']|[\"'](cells|checkpoints|probes|curves|logs)/"
    )
    offenders = [
        f"{path.relative_to(bench)}:{n}: {line.strip()}"
        for path in sorted(bench.rglob("*.py"))
        if path.relative_to(bench).as_posix() != "store/layout.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def _manifest_run(tmp_path, keys):
    store.write_manifest(tmp_path, {"run_id": "r", "cells": keys})
    for key in keys:
        store.write_cell(tmp_path, key, [{**_row(), "cell": key}])


def test_load_ignores_copied_stray_and_foreign_cell_files(tmp_path, caplog):
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    _manifest_run(tmp_path, ["a", "b"])
    cells = tmp_path / "cells"
    shutil.copy(cells / "a.parquet", cells / "a (copy).parquet")  # a copy: same rows, new name
    store.write_cell(tmp_path, "zzz", [{**_row(), "cell": "zzz"}])  # not a cell of this run
    shutil.copy(cells / "b.parquet", tmp_path / "b.bak")
    (cells / "b.parquet").unlink()
    pq.write_table(pa.table({"x": [1, 2]}), cells / "b.parquet")  # foreign schema, right name
    df = store.load(tmp_path)
    assert df["cell"].tolist() == ["a"]
    assert "stray or copied" in caplog.text and "not a statebench" in caplog.text


def test_a_file_holding_rows_of_another_cell_is_foreign_as_a_whole(tmp_path, caplog):
    _manifest_run(tmp_path, ["a", "b"])
    store.write_cell(tmp_path, "b", [{**_row(), "cell": "a"}, {**_row(), "cell": "b"}])
    df = store.load(tmp_path)
    assert sorted(df["cell"]) == ["a"]
    assert "b.parquet holds rows of cell a" in caplog.text
    assert store.stored_status(tmp_path, "b") is None  # not stored: the cell runs again

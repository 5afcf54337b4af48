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

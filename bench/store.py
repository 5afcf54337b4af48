"""The results store: one Parquet file per cell, written atomically; `load` is the one way in.

Layout of a run directory:
    manifest.json            run_id, resolved config, environment
    cells/<key>.parquet      result rows of one cell (one per eval length)
    checkpoints/<key>.pt     the trained weights of that cell (for probes)
    probes/<key>.parquet     critical-time rows; curves/<key>.parquet per-position curves
A file appears only once complete (temp file + rename), so a killed run leaves no partial cell,
and a truncated or corrupted file is reported and treated as missing, so the cell runs again.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from statebench.bench.schema import CURVE_COLUMNS, PROBE_COLUMNS, ROW_COLUMNS

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
_UMASK = os.umask(0)
os.umask(_UMASK)
TABLES = {"cells": ROW_COLUMNS, "probes": PROBE_COLUMNS, "curves": CURVE_COLUMNS}


def atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are shared like any file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _arrow_type(dtype: str, name: str) -> pa.DataType:
    if name == "per_position_accuracy":
        return pa.list_(pa.float64())
    return {
        "string": pa.string(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
    }[dtype]


def _schema(columns: dict[str, str]) -> pa.Schema:
    return pa.schema([(n, _arrow_type(t, n)) for n, t in columns.items()])


def _normalize(row: dict[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    out = {}
    for name, dtype in columns.items():
        v = row.get(name)
        if dtype == "int64" and v is not None:
            v = None if isinstance(v, float) and math.isnan(v) else int(v)
        elif dtype == "float64" and v is not None:
            v = float(v)
        elif dtype == "string" and v is not None:
            v = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
        out[name] = v
    return out


def write_table(run_dir: Path, table: str, key: str, rows: list[dict[str, Any]]) -> Path:
    """Atomically write the rows of one cell into `run_dir/<table>/<key>.parquet`."""
    columns = TABLES[table]
    extra = sorted({k for r in rows for k in r} - set(columns))
    if extra:
        raise ValueError(f"{table} rows carry unknown columns {extra}; add them to bench.schema")
    data = pa.Table.from_pylist([_normalize(r, columns) for r in rows], schema=_schema(columns))
    path = Path(run_dir) / table / f"{key}.parquet"
    atomic_write(path, lambda f: pq.write_table(data, f))
    return path


def write_cell(run_dir: Path, key: str, rows: list[dict[str, Any]]) -> Path:
    return write_table(run_dir, "cells", key, rows)


def _readable(path: Path) -> bool:
    try:
        pq.read_metadata(path)
        return True
    except Exception as e:  # truncated or corrupted: arrow raises several types
        log.warning("ignoring unreadable result file %s (%s); its cell will run again", path, e)
        return False


def stored_keys(run_dir: Path, table: str = "cells") -> set[str]:
    """Keys of cells whose file is complete and readable."""
    folder = Path(run_dir) / table
    if not folder.is_dir():
        return set()
    return {p.stem for p in folder.glob("*.parquet") if _readable(p)}


def load_table(run_dir: str | Path, table: str) -> pd.DataFrame:
    run_dir = Path(run_dir)
    columns = TABLES[table]
    if not run_dir.is_dir():
        raise FileNotFoundError(f"no run directory at {str(run_dir)!r}")
    files = sorted((run_dir / table).glob("*.parquet")) if (run_dir / table).is_dir() else []
    frames = []
    for path in files:
        try:
            frames.append(pq.read_table(path).to_pandas())
        except Exception as e:
            log.warning("ignoring unreadable result file %s (%s)", path, e)
    if not frames:
        return pd.DataFrame({n: pd.Series(dtype=t) for n, t in columns.items()})
    df = pd.concat(frames, ignore_index=True)
    for name, dtype in columns.items():
        if name not in df:
            df[name] = pd.Series([None] * len(df), dtype=object)
        if dtype == "string":
            df[name] = df[name].astype("string")
    return df


def load(run_dir: str | Path) -> pd.DataFrame:
    """All result rows of a run (one per cell x eval length), with the columns of bench.schema."""
    return load_table(run_dir, "cells")


def load_probes(run_dir: str | Path) -> pd.DataFrame:
    return load_table(run_dir, "probes")


def load_curves(run_dir: str | Path) -> pd.DataFrame:
    return load_table(run_dir, "curves")


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=2, sort_keys=True, default=str).encode()
    atomic_write(Path(run_dir) / MANIFEST, lambda f: f.write(text))


def read_manifest(run_dir: str | Path) -> dict[str, Any] | None:
    path = Path(run_dir) / MANIFEST
    if not path.exists():
        return None
    return json.loads(path.read_text())


def remove_stale_temp_files(run_dir: str | Path, older_than_s: float = 3600.0) -> int:
    """Delete temp files a killed writer left behind (readers already ignore them).

    Only files older than `older_than_s` go, so a live worker's write in progress is safe.
    """
    now = time.time()
    removed = 0
    for path in Path(run_dir).glob("*/.*.tmp"):
        try:
            if now - path.stat().st_mtime > older_than_s:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


def checkpoint_path(run_dir: Path, key: str) -> Path:
    return Path(run_dir) / "checkpoints" / f"{key}.pt"

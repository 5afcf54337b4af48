"""Atomic files and typed Parquet rows: the store's I/O, with no knowledge of a run's layout."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa

_UMASK = os.umask(0)
os.umask(_UMASK)


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


def arrow_table(rows: list[dict[str, Any]], columns: dict[str, str]) -> pa.Table:
    """Rows as a table of exactly `columns` (bench.store.schema), values coerced to their dtypes."""
    return pa.Table.from_pylist([_normalize(r, columns) for r in rows], schema=_schema(columns))

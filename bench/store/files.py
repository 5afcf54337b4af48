"""Atomic files and typed Parquet rows: the store's I/O, with no knowledge of a run's layout.

Every write goes to a fresh temporary name beside its target and is renamed over it once
complete: a reader never sees half a file, and a symbolic link in the target's place is
replaced, never written through. The bytes are made in memory first, so a full disk fails on a
plain write with ENOSPC, named as such (`DiskFull`), never as an encoder's cryptic error.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
from statebench.bench.config.errors import DiskFull, RunDirError

_UMASK = os.umask(0)
os.umask(_UMASK)
_FULL = {errno.ENOSPC, errno.EDQUOT}


def atomic_write(path: Path, write: Callable[[BinaryIO], Any] | bytes) -> None:
    """Write `path` whole or not at all: `write` fills a buffer (or gives the bytes)."""
    if callable(write):
        buffer = io.BytesIO()
        write(buffer)
        data = buffer.getvalue()
    else:
        data = write
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _named(e, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are shared like any file
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise _named(e, path) from None
        raise


def _named(error: OSError, path: Path) -> OSError | DiskFull:
    if error.errno in _FULL:
        return DiskFull(
            f"disk full while writing {path}: free some space, then run the same command "
            "again (nothing half-written was kept)"
        )
    return error


def check_inside(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Refuse (RunDirError naming the link) to write `path` when a folder between `root` and
    it is a symbolic link that leads outside `root`. A path outside `root` is the caller's own
    choice and passes; the file itself is replaced by rename, so a link there is not followed."""
    base = os.path.abspath(root)
    target = os.path.abspath(path)
    if os.path.commonpath([base, target]) != base:
        return
    real_root = os.path.realpath(base)
    current = base
    for part in Path(os.path.relpath(target, base)).parts[:-1]:
        current = os.path.join(current, part)
        if os.path.islink(current):
            real = os.path.realpath(current)
            if os.path.commonpath([real_root, real]) != real_root:
                raise RunDirError(
                    f"{current} is a symbolic link to {real}, outside the run directory "
                    f"{base}; statebench writes only inside a run directory: remove the link"
                )


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


def arrow_table(
    rows: list[dict[str, Any]], columns: dict[str, str], metadata: dict[bytes, bytes] | None = None
) -> pa.Table:
    """Rows as a table of exactly `columns` (bench.store.schema), values coerced to their
    dtypes; `metadata` becomes the file's key-value metadata."""
    schema = _schema(columns)
    if metadata:
        schema = schema.with_metadata(metadata)
    return pa.Table.from_pylist([_normalize(r, columns) for r in rows], schema=schema)

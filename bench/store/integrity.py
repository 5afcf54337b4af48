"""Whether a stored file is the one its name promises: a cell's own file of this run.

A file in a run directory is named after its cell (`cells/<key>.parquet`, `checkpoints/<key>.pt`)
and carries that key inside, with the run's config hash: Parquet key-value metadata, fields of
the checkpoint. A file whose inner key or run differs from its name and manifest (a copy under
another cell's name, a file from another run), one that lacks the columns every reader needs,
holds no row, or holds one row twice is *foreign*: it is reported (one line naming the file and
why) and its cell counts as not stored, so the next `run` trains it again. It is never measured,
counted as stored or merged.

Files written before the key was stored inside (no `statebench.key` metadata) are accepted
when every row's `cell` column names their file: that column has been on every row since the
first release. A checkpoint without a key inside (a bare state_dict of an early run) cannot be
told apart from a copy, so it is foreign.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from statebench.bench.config.errors import RunDirError

# Parquet key-value metadata of every table file statebench writes.
KEY_META = b"statebench.key"
RUN_META = b"statebench.config_hash"
TABLE_META = b"statebench.table"

# Columns without which a reader cannot use a file (present, possibly null, in every file
# statebench writes, whatever its version): a file lacking one is not a statebench file.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "cells": ("cell", "arch", "task", "seed", "eval_len", "status"),
    "probes": ("cell", "arch", "task", "seed", "threshold_name", "status"),
    "curves": ("cell", "position", "status"),
    "training_logs": ("cell", "step"),
}
# Columns holding a JSON object (options): a value that is not one is a damaged row.
JSON_COLUMNS: dict[str, tuple[str, ...]] = {
    "cells": ("arch_options", "task_options"),
    "probes": ("arch_options", "task_options"),
}
# Columns that name a row: two rows with the same values are one result stored twice.
UNIQUE_COLUMNS: dict[str, tuple[str, ...]] = {
    "cells": ("cell", "eval_len"),
    "probes": ("cell", "threshold_name"),
    "curves": ("cell", "position"),
}


class StoredFileError(RunDirError):
    """A file of a run directory that cannot stand for its cell; the message names it."""


class DamagedFile(StoredFileError):
    """A file that cannot be read: truncated, garbled, or not the format its name says."""


class ForeignFile(StoredFileError):
    """A readable file that is not its cell's own: another cell's or run's, or malformed."""


def table_metadata(table: str, key: str, config_hash: str | None) -> dict[bytes, bytes]:
    """The key-value metadata that names a table file's cell and run."""
    meta = {TABLE_META: table.encode(), KEY_META: key.encode()}
    if config_hash:
        meta[RUN_META] = str(config_hash).encode()
    return meta


def read_own_table(
    path: Path,
    table: str,
    key: str,
    config_hash: str | None,
    columns: list[str] | None = None,
) -> pa.Table:
    """The rows of `path` (`columns` only, when given) if it is `key`'s own `table` file of the
    run whose config hash is `config_hash` (None: any run); raises DamagedFile or ForeignFile,
    FileNotFoundError when there is no file."""
    try:
        parquet = pq.ParquetFile(path)
        schema = parquet.schema_arrow
    except FileNotFoundError:
        raise
    except Exception as e:  # truncated or garbled: arrow raises several types
        raise DamagedFile(f"{path} cannot be read ({_first_line(e)})") from None
    missing = [c for c in REQUIRED_COLUMNS[table] if c not in schema.names]
    if missing:
        raise ForeignFile(
            f"{path} is not a statebench {table} file (no column {', '.join(missing)})"
        )
    meta = schema.metadata or {}
    inner = meta.get(KEY_META, b"").decode(errors="replace")
    if inner and inner != key:
        raise ForeignFile(f"{path} holds cell {inner}, not {key} (a copied or renamed file)")
    run = meta.get(RUN_META, b"").decode(errors="replace")
    if run and config_hash and run != str(config_hash):
        raise ForeignFile(
            f"{path} belongs to another run (config hash {run}; this run's is {config_hash})"
        )
    checked = [*REQUIRED_COLUMNS[table][:1], *UNIQUE_COLUMNS.get(table, ())]
    checked += [c for c in JSON_COLUMNS.get(table, ()) if c in schema.names]
    wanted = list(dict.fromkeys([*(columns if columns is not None else schema.names), *checked]))
    try:
        data = parquet.read(columns=[c for c in wanted if c in schema.names])
    except Exception as e:
        raise DamagedFile(f"{path} cannot be read ({_first_line(e)})") from None
    if data.num_rows == 0:
        raise ForeignFile(f"{path} holds no rows")
    others = sorted({str(c) for c in data.column("cell").to_pylist()} - {key})
    if others:
        raise ForeignFile(
            f"{path} holds rows of cell {', '.join(others[:3])}, not only {key} (a copied or "
            "merged file)"
        )
    for column in JSON_COLUMNS.get(table, ()):
        if column in data.column_names:
            bad = next((v for v in set(data.column(column).to_pylist()) if not _json_object(v)), 0)
            if bad != 0:
                raise ForeignFile(f"{path}: {column} {str(bad)[:80]!r} is not a JSON object")
    unique = UNIQUE_COLUMNS.get(table)
    if unique:
        names = list(zip(*(data.column(c).to_pylist() for c in unique), strict=True))
        doubled = len(names) - len(set(names))
        if doubled:
            raise ForeignFile(
                f"{path} holds {doubled} duplicate row(s) (the same {', '.join(unique)} twice)"
            )
    return data.select(columns) if columns is not None else data


def own_checkpoint(
    path: Path, key: str, config_hash: str | None, map_location: Any = "cpu", mmap: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state_dict, resolved cell) of `path` if it is `key`'s own checkpoint in the run whose
    config hash is `config_hash`; raises DamagedFile, ForeignFile or FileNotFoundError.

    Loaded with `weights_only=True`: tensors and plain values only, so opening a run directory
    never runs code from it (a checkpoint holding pickled objects is refused as damaged)."""
    import torch

    if not path.exists():
        raise FileNotFoundError(path)
    try:
        body = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError:  # weights_only refused it: garbled, or Python objects
        raise DamagedFile(
            f"{path} is not a statebench checkpoint: it does not load as tensors and plain "
            "values (garbled, or pickled Python objects, which statebench never loads)"
        ) from None
    except Exception as e:  # truncated, garbled, not a torch file at all
        raise DamagedFile(
            f"{path} is not a readable checkpoint (truncated or garbled: {_first_line(e)})"
        ) from None
    if not isinstance(body, dict):
        raise DamagedFile(f"{path} is not a statebench checkpoint (a {type(body).__name__})")
    if body.get("format") != 1 or not isinstance(body.get("state_dict"), dict):
        raise ForeignFile(
            f"{path} carries no cell key (a bare state_dict of an older run, or another "
            "program's file): its cell cannot be told"
        )
    cell = body.get("cell")
    inner = body.get("key") or (cell.get("key") if isinstance(cell, dict) else None)
    if not isinstance(cell, dict) or not inner:
        raise ForeignFile(f"{path} carries no cell key: its cell cannot be told")
    if inner != key:
        raise ForeignFile(f"{path} holds the weights of cell {inner}, not {key} (a copied file)")
    run = body.get("config_hash")
    if run and config_hash and run != config_hash:
        raise ForeignFile(
            f"{path} belongs to another run (config hash {run}; this run's is {config_hash})"
        )
    return body["state_dict"], cell


def _json_object(value: object) -> bool:
    """An options value as statebench writes it: null, empty, or a JSON object."""
    if value is None or value == "":
        return True
    try:
        return isinstance(json.loads(str(value)), dict)
    except ValueError:
        return False


def _first_line(error: BaseException) -> str:
    """`Type: first sentence` of an error, short enough for a one-line message."""
    text = str(error).strip().splitlines()
    if not text:
        return type(error).__name__
    sentence = text[0].split(". ")[0].rstrip(".")
    return f"{type(error).__name__}: {sentence[:160]}"

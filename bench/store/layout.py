"""The results store: the one module that knows a run directory's layout; `load` is the way in.

Layout of a run directory:
    manifest.json            run_id, resolved config, the run's cell keys, environment
    cells/<key>.parquet      result rows of one cell (one per eval length)
    checkpoints/<key>.pt     the trained weights of that cell (for probes and re-evaluation)
    probes/<key>.parquet     critical-time rows; curves/<key>.parquet per-position curves
    training_logs/<key>.parquet  loss, accuracy, lr every train.log_every steps of that cell
    claims/                  which driver runs which cell (bench.store.claims)
    slurm/                   submitit's logs and pickles
    tracking/                TensorBoard or W&B files of the optional [tracking] table
Everything else asks this module for paths. A file appears only once complete (temp file +
rename), so a killed run leaves no partial cell, and a truncated or corrupted file is reported
and treated as missing, so the cell runs again.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
from statebench.bench.config.errors import RunDirError
from statebench.bench.store.files import arrow_table, atomic_write
from statebench.bench.store.schema import (
    CURVE_COLUMNS,
    PROBE_COLUMNS,
    ROW_COLUMNS,
    TRAINING_LOG_COLUMNS,
    cell_status,
)

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
TABLES = {
    "cells": ROW_COLUMNS,
    "probes": PROBE_COLUMNS,
    "curves": CURVE_COLUMNS,
    "training_logs": TRAINING_LOG_COLUMNS,
}
CHECKPOINTS = "checkpoints"
CLAIMS = "claims"
SLURM = "slurm"


# -- paths -------------------------------------------------------------------------------------


def manifest_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / MANIFEST


def table_dir(run_dir: str | Path, table: str) -> Path:
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
    return Path(run_dir) / table


def table_path(run_dir: str | Path, table: str, key: str) -> Path:
    return table_dir(run_dir, table) / f"{key}.parquet"


def cell_path(run_dir: str | Path, key: str) -> Path:
    return table_path(run_dir, "cells", key)


def checkpoint_path(run_dir: str | Path, key: str) -> Path:
    return Path(run_dir) / CHECKPOINTS / f"{key}.pt"


def has_checkpoint(run_dir: str | Path, key: str) -> bool:
    return checkpoint_path(run_dir, key).exists()


def save_checkpoint(
    run_dir: str | Path, key: str, state_dict: dict[str, Any], cell: dict[str, Any]
) -> Path:
    """The trained weights with the resolved cell config beside them (bench.run.matrix.Cell)."""
    import torch

    path = checkpoint_path(run_dir, key)
    body = {"format": 1, "cell": cell, "state_dict": state_dict}
    atomic_write(path, lambda f: torch.save(body, f))
    return path


def load_checkpoint(
    run_dir: str | Path, key: str, map_location: Any = "cpu"
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(state_dict, resolved cell config or None for a bare state_dict of an older run).

    Loaded with `weights_only=True`: a checkpoint can hold tensors and plain values only, so
    opening a run directory never runs code from it."""
    import torch

    body = torch.load(checkpoint_path(run_dir, key), map_location=map_location, weights_only=True)
    if isinstance(body, dict) and body.get("format") == 1 and "state_dict" in body:
        return body["state_dict"], body.get("cell")
    return body, None


def claims_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CLAIMS


def slurm_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / SLURM


def tracking_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "tracking"


def write_table(run_dir: Path, table: str, key: str, rows: list[dict[str, Any]]) -> Path:
    """Atomically write the rows of one cell into `run_dir/<table>/<key>.parquet`."""
    columns = TABLES[table]
    extra = sorted({k for r in rows for k in r} - set(columns))
    if extra:
        raise ValueError(
            f"{table} rows carry unknown columns {extra}; add them to bench.store.schema"
        )
    data = arrow_table(rows, columns)
    path = table_path(run_dir, table, key)
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
    folder = table_dir(run_dir, table)
    if not folder.is_dir():
        return set()
    return {p.stem for p in folder.glob("*.parquet") if _readable(p)}


def file_version(run_dir: str | Path, key: str, table: str = "cells") -> int | None:
    """An opaque version of a stored file (its mtime in ns), None when absent: a file whose
    version changed was rewritten."""
    try:
        return table_path(run_dir, table, key).stat().st_mtime_ns
    except FileNotFoundError:
        return None


def read_rows(
    run_dir: str | Path, key: str, table: str = "cells", columns: list[str] | None = None
) -> list[dict[str, Any]]:
    """The stored rows of one cell; raises (FileNotFoundError, arrow errors) when unreadable."""
    return pq.read_table(table_path(run_dir, table, key), columns=columns).to_pylist()


def stored_status(run_dir: str | Path, key: str) -> str | None:
    """The stored cell's status (bench.store.schema.cell_status), None when absent or unreadable."""
    try:
        return cell_status(r["status"] for r in read_rows(run_dir, key, columns=["status"]))
    except Exception:  # absent, truncated or corrupted: not stored
        return None


def scan_cells(
    run_dir: str | Path, columns: tuple[str, ...] = ("status",)
) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """(rows of every readable stored cell, with `columns` only; keys of unreadable files)."""
    rows, corrupt = {}, []
    folder = table_dir(run_dir, "cells")
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        try:
            rows[path.stem] = pq.read_table(path, columns=list(columns)).to_pylist()
        except Exception:  # truncated, corrupted, or a foreign schema
            corrupt.append(path.stem)
    return rows, corrupt


def load_table(run_dir: str | Path, table: str) -> pd.DataFrame:
    """Every stored row of `table`, keyed by cell: a file counts only when its name is a cell of
    the run (the manifest's list, when it has one) and its rows carry that cell's key, so a
    stray, copied or foreign file is reported and ignored, never merged."""
    run_dir = Path(run_dir)
    columns = TABLES[table]
    if not run_dir.is_dir():
        raise FileNotFoundError(f"no run directory at {str(run_dir)!r}")
    expected = set(manifest_cells(read_manifest_quietly(run_dir)))
    folder = table_dir(run_dir, table)
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    frames = []
    for path in files:
        if expected and path.stem not in expected:
            log.warning("ignoring %s: not a cell of this run (a stray or copied file)", path)
            continue
        try:
            frame = pq.read_table(path).to_pandas()
        except Exception as e:
            log.warning("ignoring unreadable result file %s (%s)", path, e)
            continue
        missing = sorted({"cell", "status"} & set(columns) - set(frame.columns))
        if missing:
            log.warning("ignoring %s: not a statebench %s file (no %s)", path, table, missing)
            continue
        frame = frame[[c for c in frame.columns if c in columns]]
        mine = frame["cell"].astype(str) == path.stem
        if not mine.all():
            log.warning("ignoring %d row(s) of %s that belong to another cell", (~mine).sum(), path)
            frame = frame[mine]
        frames.append(frame)
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
    """All result rows of a run (one per cell x eval length), with the columns of
    bench.store.schema."""
    return load_table(run_dir, "cells")


def load_probes(run_dir: str | Path) -> pd.DataFrame:
    return load_table(run_dir, "probes")


def load_curves(run_dir: str | Path) -> pd.DataFrame:
    return load_table(run_dir, "curves")


def load_training_log(run_dir: str | Path) -> pd.DataFrame:
    """Every cell's training log (bench.store.schema.TRAINING_LOG_COLUMNS), in step order per
    cell."""
    df = load_table(run_dir, "training_logs")
    return df.sort_values(["cell", "step"], kind="stable", ignore_index=True)


def write_training_log(run_dir: str | Path, key: str, rows: list[dict[str, Any]]) -> Path:
    return write_table(run_dir, "training_logs", key, rows)


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=2, sort_keys=True, default=str).encode()
    atomic_write(manifest_path(run_dir), lambda f: f.write(text))


def read_manifest(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's manifest, or None if the directory has none; RunDirError naming the file if it
    cannot be read as a JSON object (truncated, corrupt, binary, or another kind of JSON)."""
    path = manifest_path(run_dir)
    if not path.exists():
        return None
    where = str(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise RunDirError(f"cannot read {where}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise RunDirError(f"{where} is not a run manifest (not UTF-8 text)") from None
    except json.JSONDecodeError as e:
        raise RunDirError(
            f"{where} is truncated or corrupt (invalid JSON at line {e.lineno}, column "
            f"{e.colno}: {e.msg}); restore it, or run the config again into a fresh --out"
        ) from None
    if not isinstance(manifest, dict):
        raise RunDirError(
            f"{where} is not a run manifest (a JSON {type(manifest).__name__}, not an object)"
        )
    return manifest


def require_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The manifest of a run directory; RunDirError if the path is not a run (no manifest)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"no run directory at {str(run_dir)!r}")
    manifest = read_manifest(run_dir)
    if manifest is None:
        raise RunDirError(
            f"{str(run_dir)!r} holds no run (no {MANIFEST}); give a directory that "
            "`statebench run` wrote (results/<name>-<hash>)"
        )
    return manifest


def read_manifest_quietly(run_dir: str | Path) -> dict[str, Any] | None:
    """The manifest, or None when absent or unreadable (readers that can do without it)."""
    try:
        manifest = read_manifest(run_dir)
    except (OSError, ValueError) as e:
        log.warning("cannot read the manifest of %s (%s)", run_dir, e)
        return None
    return manifest if isinstance(manifest, dict) else None


def manifest_cells(manifest: dict[str, Any] | None) -> list[str]:
    """The run's cell keys, in run order, as its manifest lists them."""
    return [str(k) for k in (manifest or {}).get("cells", [])]


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

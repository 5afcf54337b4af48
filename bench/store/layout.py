"""The run directory: `RunDir` is the one object that knows its layout; `load` is the way in.

Layout of a run directory:
    manifest.json            run_id, resolved config, the run's cell keys, environment
    cells/<key>.parquet      result rows of one cell (one per eval length)
    checkpoints/<key>.pt     the trained weights of that cell (for probes and re-evaluation)
    probes/<key>.parquet     critical-time rows; curves/<key>.parquet per-position curves
    training_logs/<key>.parquet  loss, accuracy, lr every train.log_every steps of that cell
    claims/                  which driver runs which cell (bench.store.claims) and what runs it
    slurm/                   submitit's logs and pickles
    tracking/                TensorBoard or W&B files of the optional [tracking] table
    report/, figures/        `statebench report` and `statebench plot` write here by default
A shipped run (results/reference/<name>/, `RunDir.ship`) holds its manifest and, instead of the
per-cell folders, one file per table: rows/cells.parquet, rows/probes.parquet,
rows/training_logs.parquet (no checkpoints): the form a baseline is read in, a few hundred KB.
Everything else asks a `RunDir` for paths, files and claims. A file appears only once complete
(temp file + rename), so a killed run leaves no partial cell, and a truncated or corrupted file
is reported and treated as missing, so the cell runs again. Every cell file and checkpoint
carries its cell's key and the run's config hash inside (bench.store.integrity): a copy under
another name, or a file of another run, is reported and treated as missing too. Writes stay
inside the run directory: a folder on the way that is a symbolic link leading out is refused,
and a link in a file's place is replaced, not followed (bench.store.files).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow.parquet as pq
from statebench.bench.config.errors import RunDirError
from statebench.bench.store.files import arrow_table, atomic_write, check_inside
from statebench.bench.store.integrity import (
    DamagedFile,
    ForeignFile,
    StoredFileError,
    own_checkpoint,
    read_own_table,
    table_metadata,
)
from statebench.bench.store.schema import (
    CURVE_COLUMNS,
    PROBE_COLUMNS,
    ROW_COLUMNS,
    TRAINING_LOG_COLUMNS,
    cell_status,
    with_labels,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from statebench.bench.store.claim_files import ClaimInfo
    from statebench.bench.store.claims import ClaimBook
    from statebench.bench.store.records import RunRecord

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
TRACKING = "tracking"
REPORT = "report"
FIGURES = "figures"
SHIPPED = "rows"  # a shipped run's tables, one file each
SHIPPED_TABLES = ("cells", "probes", "training_logs")  # what a report reads; curves are not
SHIPPED_TABLE_KEY, SHIPPED_HASH_KEY = b"statebench.table", b"statebench.config_hash"


@dataclass(frozen=True)
class StoredCells:
    """What one scan of a run's cell files found."""

    rows: dict[str, list[dict[str, Any]]]  # key -> rows (the scanned columns) of readable files
    corrupt: list[str]  # keys whose file cannot be read: their cells run again
    # key -> why its file is not the cell's own (a copy, another run's, duplicate rows, no
    # required column): reported, and the cell runs again
    foreign: dict[str, str] = field(default_factory=dict)

    @property
    def statuses(self) -> dict[str, str]:
        """key -> the stored cell's status (bench.store.schema.cell_status)."""
        return {k: cell_status(r["status"] for r in rows) for k, rows in self.rows.items()}


class RunDir:
    """One run directory: where each of its files lives, and reading and writing them.

    Cheap to make (it holds a path); every method reads the disk afresh, so several drivers
    and workers may hold one on the same directory. `os.fspath(run)` is its path.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunDir) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    # -- where things are ----------------------------------------------------------------------

    @property
    def manifest_file(self) -> Path:
        return self.path / MANIFEST

    def table_dir(self, table: str) -> Path:
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
        return self.path / table

    def table_file(self, table: str, key: str) -> Path:
        return self.table_dir(table) / f"{key}.parquet"

    def cell_file(self, key: str) -> Path:
        return self.table_file("cells", key)

    def shipped_file(self, table: str) -> Path:
        """A shipped run's whole table (rows/<table>.parquet): every cell's rows in one file."""
        self.table_dir(table)  # an unknown table raises
        return self.path / SHIPPED / f"{table}.parquet"

    def checkpoint_file(self, key: str) -> Path:
        return self.path / CHECKPOINTS / f"{key}.pt"

    @property
    def claims_dir(self) -> Path:
        return self.path / CLAIMS

    @property
    def slurm_dir(self) -> Path:
        return self.path / SLURM

    @property
    def tracking_dir(self) -> Path:
        return self.path / TRACKING

    @property
    def report_dir(self) -> Path:
        """Where `statebench report` writes report.<fmt> (and its figures) by default."""
        return self.path / REPORT

    @property
    def figures_dir(self) -> Path:
        """Where `statebench plot` writes its figures by default."""
        return self.path / FIGURES

    def check_folders(self) -> None:
        """Refuse (RunDirError naming the link) a folder of the run that is a symbolic link
        leading outside it: checked when a run opens, before anything is written, so a run
        never trains a cell it could not store."""
        folders = [self.table_dir(t) for t in TABLES]
        folders += [self.path / CHECKPOINTS, self.claims_dir, self.slurm_dir, self.tracking_dir]
        for folder in [*folders, self.report_dir, self.figures_dir]:
            check_inside(self.path, folder / "file")

    # -- the manifest --------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any] | None:
        """The run's manifest, or None if the directory has none; RunDirError naming the file if
        it cannot be read as a JSON object (truncated, corrupt, binary, or another kind of JSON)."""
        path = self.manifest_file
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
        check_manifest(manifest, where)
        return manifest

    def require_manifest(self) -> dict[str, Any]:
        """The manifest; RunDirError if the path is not a run (no directory, no manifest)."""
        if not self.path.is_dir():
            raise RunDirError(f"no run directory at {str(self.path)!r}")
        manifest = self.manifest()
        if manifest is None:
            raise RunDirError(
                f"{str(self.path)!r} holds no run (no {MANIFEST}); give a directory that "
                "`statebench run` wrote (results/<name>-<hash>)"
            )
        return manifest

    def manifest_quietly(self) -> dict[str, Any] | None:
        """The manifest, or None when absent or unreadable (readers that can do without it)."""
        try:
            manifest = self.manifest()
        except (OSError, ValueError) as e:
            log.warning("cannot read the manifest of %s (%s)", self.path, e)
            return None
        return manifest if isinstance(manifest, dict) else None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        text = json.dumps(manifest, indent=2, sort_keys=True, default=str).encode()
        self.write_file(self.manifest_file, text)

    def write_file(self, path: str | os.PathLike[str], write: Callable[[Any], Any] | bytes) -> None:
        """Write a file atomically, refusing a folder on the way that is a symbolic link out
        of the run directory (a path outside the run directory is the caller's choice)."""
        check_inside(self.path, path)
        atomic_write(Path(path), write)

    def check_inside(self, path: str | os.PathLike[str]) -> Path:
        """`path`, after checking that writing it stays inside the run directory (RunDirError
        naming the symbolic link that would lead out); for writers that open files themselves."""
        check_inside(self.path, path)
        return Path(path)

    def config_hash(self) -> str | None:
        """The run's config hash as its manifest stores it (None: no readable manifest)."""
        value = (self.manifest_quietly() or {}).get("config_hash")
        return str(value) if value else None

    def open(self, fresh: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Open the run for writing: drop temp files a killed writer left, and return its
        manifest; a directory without one gets `fresh()` written as its manifest first."""
        self.remove_stale_temp_files()
        manifest = self.manifest()
        if manifest is None:
            manifest = fresh()
            self.write_manifest(manifest)
        return manifest

    def cells(self) -> list[str]:
        """The run's cell keys, in run order, as its manifest lists them (none if unreadable)."""
        return manifest_cells(self.manifest_quietly())

    # -- cell files and the other tables -------------------------------------------------------

    def write_table(self, table: str, key: str, rows: list[dict[str, Any]]) -> Path:
        """Atomically write the rows of one cell into `<table>/<key>.parquet`, with the cell's
        key and the run's config hash in the file's metadata."""
        columns = TABLES[table]
        extra = sorted({k for r in rows for k in r} - set(columns))
        if extra:
            raise ValueError(
                f"{table} rows carry unknown columns {extra}; add them to bench.store.schema"
            )
        data = arrow_table(rows, columns, table_metadata(table, key, self.config_hash()))
        path = self.table_file(table, key)
        self.write_file(path, lambda f: pq.write_table(data, f))
        return path

    def write_cell(self, key: str, rows: list[dict[str, Any]]) -> Path:
        return self.write_table("cells", key, rows)

    def write_training_log(self, key: str, rows: list[dict[str, Any]]) -> Path:
        return self.write_table("training_logs", key, rows)

    def read_rows(
        self, key: str, table: str = "cells", columns: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """The stored rows of one cell; raises FileNotFoundError when there is none, and
        bench.store.integrity's DamagedFile / ForeignFile (naming the file and why) when its
        file cannot stand for the cell."""
        path = self.table_file(table, key)
        return read_own_table(path, table, key, self.config_hash(), columns).to_pylist()

    def version(self, key: str, table: str = "cells") -> int | None:
        """An opaque version of a stored file (its mtime in ns), None when absent: a file whose
        version changed was rewritten."""
        try:
            return self.table_file(table, key).stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def stored_status(self, key: str) -> str | None:
        """The stored cell's status (bench.store.schema.cell_status), None when absent,
        unreadable or foreign (not stored)."""
        try:
            return cell_status(r["status"] for r in self.read_rows(key, columns=["status"]))
        except (FileNotFoundError, StoredFileError):
            return None

    def landed_check(self, rerun: Iterable[str] = ()) -> Callable[[str], bool]:
        """A test of whether a cell's file is in the store now; a cell of `rerun` (stored, and
        being run again) counts only once its file was rewritten."""
        before = {key: self.version(key) for key in rerun}

        def landed(key: str) -> bool:
            version = self.version(key)
            if version is None or before.get(key) == version:
                return False
            return self.stored_status(key) is not None  # truncated, corrupted or foreign

        return landed

    def stored_keys(self, table: str = "cells") -> set[str]:
        """Keys of cells whose file is complete, readable and their own."""
        folder = self.table_dir(table)
        if not folder.is_dir():
            return set()
        config_hash = self.config_hash()
        keys = set()
        for path in folder.glob("*.parquet"):
            try:
                read_own_table(path, table, path.stem, config_hash, columns=[])
            except StoredFileError as e:
                log.warning("%s; ignored: its cell runs again", e)
                continue
            except FileNotFoundError:  # removed meanwhile
                continue
            keys.add(path.stem)
        return keys

    def scan(self, columns: tuple[str, ...] = ("status",)) -> StoredCells:
        """Every cell file at once: the rows of the readable ones that are their cell's own
        (`columns` only), the keys of those that cannot be read, and why the foreign ones are
        not their cell's (bench.store.integrity)."""
        rows, corrupt, foreign = {}, [], {}
        folder = self.table_dir("cells")
        config_hash = self.config_hash()
        for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
            try:
                found = read_own_table(path, "cells", path.stem, config_hash, list(columns))
            except DamagedFile:
                corrupt.append(path.stem)
            except ForeignFile as e:
                foreign[path.stem] = str(e)
            except FileNotFoundError:  # removed meanwhile
                continue
            else:
                rows[path.stem] = found.to_pylist()
        return StoredCells(rows, corrupt, foreign)

    def load_table(self, table: str) -> pd.DataFrame:
        """Every stored row of `table`, keyed by cell: a file counts only when its name is a cell
        of the run (the manifest's list, when it has one) and it is that cell's own file (its
        inner key and run, its rows' cell, no row twice: bench.store.integrity), so a stray,
        copied, doubled or foreign file is reported and ignored, never merged."""
        columns = TABLES[table]
        if not self.path.is_dir():
            raise FileNotFoundError(f"no run directory at {str(self.path)!r}")
        expected = set(self.cells())
        config_hash = self.config_hash()
        folder = self.table_dir(table)
        files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
        frames = [] if files else self._shipped_frames(table, expected)
        for path in files:
            if expected and path.stem not in expected:
                log.warning("ignoring %s: not a cell of this run (a stray or copied file)", path)
                continue
            try:
                frame = read_own_table(path, table, path.stem, config_hash).to_pandas()
            except StoredFileError as e:
                log.warning("%s; ignored: its cell runs again", e)
                continue
            except FileNotFoundError:  # removed meanwhile
                continue
            frames.append(frame[[c for c in frame.columns if c in columns]])
        if not frames:
            return pd.DataFrame({n: pd.Series(dtype=t) for n, t in columns.items()})
        df = pd.concat(frames, ignore_index=True)
        for name, dtype in columns.items():
            if name not in df:
                df[name] = pd.Series([None] * len(df), dtype=object)
            if dtype == "string":
                df[name] = df[name].astype("string")
        return df

    def _shipped_frames(self, table: str, expected: set[str]) -> list[pd.DataFrame]:
        """The rows of a shipped run's table file: those of the manifest's cells, when the file
        is this run's (its config hash is the manifest's); else nothing, with a warning."""
        path = self.shipped_file(table)
        if not path.is_file():
            return []
        try:
            data = pq.read_table(path)
        except Exception as e:  # truncated or corrupted: arrow raises several types
            log.warning("ignoring unreadable shipped table %s (%s)", path, e)
            return []
        meta = data.schema.metadata or {}
        ours = self.config_hash()
        theirs = meta.get(SHIPPED_HASH_KEY, b"").decode()
        if meta.get(SHIPPED_TABLE_KEY, b"").decode() != table or (ours and theirs != ours):
            log.warning("ignoring %s: not this run's %s table (another run's file)", path, table)
            return []
        frame = data.to_pandas()
        if "cell" not in frame:
            log.warning("ignoring %s: not a statebench %s file (no cell column)", path, table)
            return []
        if expected:
            mine = frame["cell"].astype(str).isin(expected)
            if not mine.all():
                log.warning("ignoring %d row(s) of %s: not cells of this run", (~mine).sum(), path)
                frame = frame[mine]
        return [frame]

    def ship(self, dest: str | os.PathLike[str]) -> RunDir:
        """This run's rows as a shipped run at `dest`: its manifest, and one Parquet file per
        table of SHIPPED_TABLES (every stored cell's rows, in the manifest's order), tagged with
        the table and the run's config hash. No checkpoints, curves or claims: a reference that
        a report reads as a baseline, small enough to commit. Older shipped tables at `dest`
        are replaced; a table the run does not have is removed there."""
        manifest = self.require_manifest()
        target = RunDir(dest)
        target.write_manifest(manifest)
        config_hash = str(manifest.get("config_hash") or "").encode()
        for table in SHIPPED_TABLES:
            rows = [
                row
                for key in manifest_cells(manifest)
                if self.table_file(table, key).is_file()
                for row in self.read_rows(key, table)
            ]
            path = target.shipped_file(table)
            if not rows:
                path.unlink(missing_ok=True)
                continue
            data = arrow_table(rows, TABLES[table])
            tag = {SHIPPED_TABLE_KEY: table.encode(), SHIPPED_HASH_KEY: config_hash}
            data = data.replace_schema_metadata(tag)
            atomic_write(path, lambda f, data=data: pq.write_table(data, f, compression="zstd"))
        return target

    def load(self) -> pd.DataFrame:
        """All result rows (one per cell x eval length), with the columns of bench.store.schema
        and the display labels the report shows (`label`, `task_label`: LABEL_COLUMNS)."""
        return with_labels(self.load_table("cells"))

    def load_probes(self) -> pd.DataFrame:
        return self.load_table("probes")

    def load_curves(self) -> pd.DataFrame:
        return self.load_table("curves")

    def load_training_log(self) -> pd.DataFrame:
        """Every cell's training log (bench.store.schema.TRAINING_LOG_COLUMNS), in step order
        per cell."""
        df = self.load_table("training_logs")
        return df.sort_values(["cell", "step"], kind="stable", ignore_index=True)

    # -- checkpoints ---------------------------------------------------------------------------

    def has_checkpoint(self, key: str) -> bool:
        return self.checkpoint_file(key).exists()

    def checkpoints(self, verify: bool = False) -> set[str]:
        """Keys of the cells that have a checkpoint (one listing of the folder); with `verify`,
        only those whose checkpoint is readable and their own (the others are reported)."""
        folder = self.path / CHECKPOINTS
        keys = {p.stem for p in folder.glob("*.pt")} if folder.is_dir() else set()
        if not verify:
            return keys
        config_hash = self.config_hash()
        good = set()
        for key in keys:
            try:
                own_checkpoint(self.checkpoint_file(key), key, config_hash, mmap=True)
            except StoredFileError as e:
                log.warning("%s; ignored: its cell trains again", e)
                continue
            except FileNotFoundError:
                continue
            good.add(key)
        return good

    def save_checkpoint(self, key: str, state_dict: dict[str, Any], cell: dict[str, Any]) -> Path:
        """The trained weights with the resolved cell config beside them (bench.run.matrix.Cell),
        the cell's key and the run's config hash."""
        import torch

        path = self.checkpoint_file(key)
        body = {
            "format": 1,
            "key": key,
            "config_hash": self.config_hash(),
            "cell": cell,
            "state_dict": state_dict,
        }
        self.write_file(path, lambda f: torch.save(body, f))
        return path

    def load_checkpoint(
        self, key: str, map_location: Any = "cpu"
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(state_dict, resolved cell config) of the cell's own checkpoint.

        Raises FileNotFoundError when there is none, and bench.store.integrity's DamagedFile
        (truncated, garbled, pickled objects) or ForeignFile (another cell's or run's, or no key
        inside) naming the file. Loaded with `weights_only=True`: a checkpoint can hold tensors
        and plain values only, so opening a run directory never runs code from it."""
        return own_checkpoint(self.checkpoint_file(key), key, self.config_hash(), map_location)

    # -- claims: who runs which cell -----------------------------------------------------------

    def claims(self) -> dict[str, ClaimInfo]:
        """The current claim of every claimed cell, live or stale (bench.store.claim_files)."""
        from statebench.bench.store.claim_files import read_claims

        return read_claims(self.path)

    def running(self) -> dict[str, RunRecord]:
        """What each worker says it is running, since when (bench.store.records)."""
        from statebench.bench.store.records import read_all_started

        return read_all_started(self.path)

    def claim_book(self, stale_after_s: float) -> ClaimBook:
        """The claims one driver takes on this run (bench.store.claims.ClaimBook)."""
        from statebench.bench.store.claims import ClaimBook

        return ClaimBook(self.path, stale_after_s=stale_after_s)

    # -- upkeep --------------------------------------------------------------------------------

    def remove_stale_temp_files(self, older_than_s: float = 3600.0) -> int:
        """Delete temp files a killed writer left behind (readers already ignore them).

        Only files older than `older_than_s` go, so a live worker's write in progress is safe.
        """
        now = time.time()
        removed = 0
        for path in self.path.glob("*/.*.tmp"):
            try:
                if now - path.stat().st_mtime > older_than_s:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed


# Fields of a manifest and the JSON type each must have; `run_id` must be there.
MANIFEST_FIELDS: dict[str, tuple[type, str]] = {
    "run_id": (str, "a string"),
    "config": (dict, "an object (the resolved config)"),
    "config_hash": (str, "a string"),
    "cells": (list, "a list of cell keys"),
    "labels": (dict, "an object (cell key -> label)"),
    "environment": (dict, "an object"),
    "evaluations": (list, "a list"),
}


def check_manifest(manifest: dict[str, Any], where: str) -> None:
    """Refuse (RunDirError naming the file and field) a manifest whose fields have the wrong
    shape: a damaged or hand-edited manifest must not be half-read (a string of cells read as
    one-letter keys)."""
    damaged = "; the manifest is damaged: restore it, or run the config again into a fresh --out"
    if not manifest.get("run_id"):
        raise RunDirError(f"{where} has no run_id{damaged}")
    for name, (kind, what) in MANIFEST_FIELDS.items():
        value = manifest.get(name)
        if value is not None and not isinstance(value, kind):
            raise RunDirError(f"{where}: {name} is a JSON {_json_type(value)}, not {what}{damaged}")
    cells = manifest.get("cells") or []
    bad = [k for k in cells if not isinstance(k, str) or not _KEY.fullmatch(k)]
    if bad:
        raise RunDirError(f"{where}: cells holds {bad[0]!r}, not a cell key{damaged}")


_KEY = re.compile(r"[0-9A-Za-z_.-]+")  # a file-name-safe key (content hashes are hex)


def _json_type(value: object) -> str:
    names = {str: "string", list: "array", dict: "object", bool: "boolean", int: "number",
             float: "number"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


def manifest_cells(manifest: dict[str, Any] | None) -> list[str]:
    """The run's cell keys, in run order, as a manifest lists them."""
    return [str(k) for k in (manifest or {}).get("cells", [])]


# -- the same, one call per question: the store's functions since before RunDir ---------------


def load(run_dir: str | Path) -> pd.DataFrame:
    """All result rows of a run (one per cell x eval length), with the columns of
    bench.store.schema and the labels of LABEL_COLUMNS."""
    return RunDir(run_dir).load()


def load_probes(run_dir: str | Path) -> pd.DataFrame:
    return RunDir(run_dir).load_probes()


def load_curves(run_dir: str | Path) -> pd.DataFrame:
    return RunDir(run_dir).load_curves()


def load_training_log(run_dir: str | Path) -> pd.DataFrame:
    """Every cell's training log (bench.store.schema.TRAINING_LOG_COLUMNS), in step order per
    cell."""
    return RunDir(run_dir).load_training_log()


def load_table(run_dir: str | Path, table: str) -> pd.DataFrame:
    return RunDir(run_dir).load_table(table)


def manifest_path(run_dir: str | Path) -> Path:
    return RunDir(run_dir).manifest_file


def table_dir(run_dir: str | Path, table: str) -> Path:
    return RunDir(run_dir).table_dir(table)


def table_path(run_dir: str | Path, table: str, key: str) -> Path:
    return RunDir(run_dir).table_file(table, key)


def cell_path(run_dir: str | Path, key: str) -> Path:
    return RunDir(run_dir).cell_file(key)


def checkpoint_path(run_dir: str | Path, key: str) -> Path:
    return RunDir(run_dir).checkpoint_file(key)


def claims_dir(run_dir: str | Path) -> Path:
    return RunDir(run_dir).claims_dir


def slurm_dir(run_dir: str | Path) -> Path:
    return RunDir(run_dir).slurm_dir


def tracking_dir(run_dir: str | Path) -> Path:
    return RunDir(run_dir).tracking_dir


def has_checkpoint(run_dir: str | Path, key: str) -> bool:
    return RunDir(run_dir).has_checkpoint(key)


def save_checkpoint(
    run_dir: str | Path, key: str, state_dict: dict[str, Any], cell: dict[str, Any]
) -> Path:
    return RunDir(run_dir).save_checkpoint(key, state_dict, cell)


def load_checkpoint(
    run_dir: str | Path, key: str, map_location: Any = "cpu"
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    return RunDir(run_dir).load_checkpoint(key, map_location)


def write_table(run_dir: str | Path, table: str, key: str, rows: list[dict[str, Any]]) -> Path:
    return RunDir(run_dir).write_table(table, key, rows)


def write_cell(run_dir: str | Path, key: str, rows: list[dict[str, Any]]) -> Path:
    return RunDir(run_dir).write_cell(key, rows)


def write_training_log(run_dir: str | Path, key: str, rows: list[dict[str, Any]]) -> Path:
    return RunDir(run_dir).write_training_log(key, rows)


def stored_keys(run_dir: str | Path, table: str = "cells") -> set[str]:
    return RunDir(run_dir).stored_keys(table)


def file_version(run_dir: str | Path, key: str, table: str = "cells") -> int | None:
    return RunDir(run_dir).version(key, table)


def read_rows(
    run_dir: str | Path, key: str, table: str = "cells", columns: list[str] | None = None
) -> list[dict[str, Any]]:
    return RunDir(run_dir).read_rows(key, table, columns)


def stored_status(run_dir: str | Path, key: str) -> str | None:
    return RunDir(run_dir).stored_status(key)


def scan_cells(
    run_dir: str | Path, columns: tuple[str, ...] = ("status",)
) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """(rows of every readable stored cell, with `columns` only; keys of unreadable files)."""
    found = RunDir(run_dir).scan(columns)
    return found.rows, found.corrupt


def write_manifest(run_dir: str | Path, manifest: dict[str, Any]) -> None:
    RunDir(run_dir).write_manifest(manifest)


def read_manifest(run_dir: str | Path) -> dict[str, Any] | None:
    return RunDir(run_dir).manifest()


def require_manifest(run_dir: str | Path) -> dict[str, Any]:
    return RunDir(run_dir).require_manifest()


def read_manifest_quietly(run_dir: str | Path) -> dict[str, Any] | None:
    return RunDir(run_dir).manifest_quietly()


def remove_stale_temp_files(run_dir: str | Path, older_than_s: float = 3600.0) -> int:
    return RunDir(run_dir).remove_stale_temp_files(older_than_s)

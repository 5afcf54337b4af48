"""Run a matrix: resolve the run directory, skip what the store holds, execute the rest."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from bench import store
from bench.cell import CellJob, execute_cell
from bench.config import ConfigError, MatrixConfig
from bench.matrix import Cell, cell_key, expand
from bench.progress import Reporter
from bench.provenance import environment

log = logging.getLogger(__name__)


def config_hash(config: MatrixConfig) -> str:
    return cell_key(config.model_dump(mode="json", exclude={"out_dir", "device", "description"}))


def default_run_dir(config: MatrixConfig) -> Path:
    """results/<name>-<hash>: the same config resumes in the same place, another gets its own."""
    return Path(config.out_dir) / f"{config.name}-{config_hash(config)[:8]}"


def check_writable(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise ConfigError(
            f"output dir {str(run_dir)!r} is not writable: {e.strerror or e}"
        ) from None


def prepare_run(config: MatrixConfig, run_dir: Path | None = None) -> tuple[Path, str, list[Cell]]:
    """Create or reopen the run directory; refuse one that holds a different config."""
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(config)
    check_writable(run_dir)
    cells = expand(config)
    resolved = config.model_dump(mode="json")
    manifest = store.read_manifest(run_dir)
    if manifest is not None:
        old = manifest.get("config", {})
        same = {k: v for k, v in old.items() if k not in ("out_dir", "device")} == {
            k: v for k, v in resolved.items() if k not in ("out_dir", "device")
        }
        if not same:
            changed = sorted(k for k in set(old) | set(resolved) if old.get(k) != resolved.get(k))
            raise ConfigError(
                f"{str(run_dir)!r} holds a run of a different config (fields differ: "
                f"{', '.join(changed)}); choose another --out, or drop --out to get a fresh "
                "directory named after the config"
            )
        run_id = manifest["run_id"]
    else:
        run_id = run_dir.name
        store.write_manifest(
            run_dir,
            {
                "run_id": run_id,
                "config": resolved,
                "config_hash": config_hash(config),
                "cells": [c.key for c in cells],
                "environment": environment(),
            },
        )
    return run_dir, run_id, cells


def pending_cells(cells: list[Cell], run_dir: Path, retry_failed: bool = False) -> list[Cell]:
    done = store.stored_keys(run_dir)
    if retry_failed and done:
        df = store.load(run_dir)
        failed = set(df.loc[~df["status"].isin(["ok", "skipped"]), "cell"].astype(str))
        done -= failed
    return [c for c in cells if c.key not in done]


def run_matrix(
    config: MatrixConfig,
    run_dir: Path | None = None,
    reporter: Reporter | None = None,
    retry_failed: bool = False,
) -> Path:
    """Run every cell not yet stored, in order; returns the run directory."""
    reporter = reporter or Reporter()
    run_dir, run_id, cells = prepare_run(config, run_dir)
    todo = pending_cells(cells, run_dir, retry_failed)
    job = CellJob(run_dir=str(run_dir), run_id=run_id, device=config.device)
    reporter.start(len(cells), len(cells) - len(todo))
    try:
        for cell in todo:
            reporter.cell_start(cell)
            status = execute_cell(cell, job, on_step=reporter.step)
            log.info("cell %s: %s", cell.label, status)
            reporter.cell_end(cell, status)
    finally:
        reporter.finish()
    return run_dir

"""Optional experiment tracking: a cell's training-log rows and its final result also go to
Weights & Biases or TensorBoard, one tracker run per cell, logged by the worker that trains it
(under every executor).

Off by default and never required. A chosen backend whose package is missing is refused before
a run starts (`require`); at run time a failing tracker only warns and goes quiet, so a cell's
rows, checkpoint and training log are stored as always. The `[tracking]` table is not part of
any cell's identity nor of the run's hash: switching it on resumes the same run.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import numbers
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from statebench.bench.config.errors import ConfigError
from statebench.bench.config.tracking import TrackingConfig
from statebench.bench.store import RunDir
from statebench.bench.store.schema import cell_status
from statebench.bench.store.writable import unwritable

if TYPE_CHECKING:
    from statebench.bench.run.matrix import Cell

log = logging.getLogger(__name__)

# backend -> (module it imports, extra that installs it)
BACKENDS = {"wandb": ("wandb", "wandb"), "tensorboard": ("torch.utils.tensorboard", "tensorboard")}
# Per-cell numbers of a result row (the same on each of its eval lengths).
CELL_FIELDS = (
    "learned",
    "val_accuracy",
    "val_loss",
    "steps_to_target",
    "train_steps",
    "train_seconds",
    "tokens_per_second",
    "final_train_loss",
    "final_train_accuracy",
    "params",
    "d_model",
    "peak_memory_bytes",
)
LENGTH_FIELDS = ("accuracy", "scaled_accuracy", "ood_accuracy")  # per eval length


class TrackingUnavailable(ConfigError):
    """The chosen backend's package is not installed (the message says what to install)."""


def require(config: TrackingConfig) -> None:
    """Refuse a backend whose package is missing, or a `tracking.dir` no file can be written
    in, before the run writes anything (a failing tracker only warns once cells run)."""
    if config.backend == "none":
        return
    module, extra = BACKENDS[config.backend]
    try:
        importlib.import_module(module)
    except ImportError:
        raise TrackingUnavailable(
            f"tracking.backend = {config.backend!r} needs the {extra} package, which is not "
            f"installed: pip install 'state-tracking-bench[{extra}]' (from a checkout: "
            f"pip install -e '.[{extra}]'), or set tracking.backend = 'none'"
        ) from None
    why = unwritable(config.dir) if config.dir else None
    if why:
        raise ConfigError(
            f"tracking.dir = {config.dir!r} cannot hold the tracker's files: {why}; choose a "
            "writable folder, or leave tracking.dir out (the run directory's tracking/)"
        )


def for_workers(config: TrackingConfig, run_dir: str | Path) -> TrackingConfig | None:
    """The table as workers need it: None when off, else with an absolute `dir` (workers on
    other hosts or in other folders don't share the driver's working directory)."""
    if config.backend == "none":
        return None
    base = Path(config.dir) if config.dir else RunDir(run_dir).tracking_dir
    return config.model_copy(update={"dir": str(base.resolve())})


def run_name(cell: Cell) -> str:
    """A tracker run's name: the cell's label as a file name, then its key (several cells of a
    training-length study share a label)."""
    slug = re.sub(r"[^A-Za-z0-9.=,+-]+", "_", cell.label).strip("_")
    return f"{slug}-{cell.key[:8]}"


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A cell's final result as flat numbers: its status, per-cell fields, per-length scores."""
    if not rows:
        return {}
    out: dict[str, Any] = {"status": cell_status(r.get("status") for r in rows)}
    errors = [str(r["error"]) for r in rows if r.get("error")]
    if errors:
        out["error"] = errors[0].strip().splitlines()[-1][:500]
    out.update({k: rows[0][k] for k in CELL_FIELDS if _number(rows[0].get(k))})
    for r in rows:
        if r.get("status") == "ok":
            for k in LENGTH_FIELDS:
                if _number(r.get(k)):
                    out[f"{k}@{r['eval_len']}"] = r[k]
    return out


def _number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and math.isfinite(v)  # bools and numpy scalars too


def _metrics(row: dict[str, Any], prefix: str) -> dict[str, float]:
    return {f"{prefix}/{k}": float(v) for k, v in row.items() if k != "step" and _number(v)}


class _WandB:
    def __init__(self, config: TrackingConfig, cell: Cell, run_id: str) -> None:
        import wandb

        Path(config.dir or ".").mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=config.project,
            entity=config.entity,
            group=config.group or run_id,
            name=run_name(cell),
            job_type="cell",
            tags=config.tags or None,
            mode=config.mode,
            dir=config.dir,
            config={"run_id": run_id, "cell": cell.key, "label": cell.label, **cell.to_dict()},
            reinit="create_new",  # a run of the user's own in this process stays open
        )

    def log(self, row: dict[str, Any]) -> None:
        self.run.log(_metrics(row, "train"), step=int(row["step"]))

    def summary(self, summary: dict[str, Any]) -> None:
        self.run.summary.update(summary)

    def close(self, failed: bool) -> None:
        self.run.finish(exit_code=1 if failed else 0)


class _TensorBoard:
    def __init__(self, config: TrackingConfig, cell: Cell, run_id: str) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(Path(config.dir or ".") / run_name(cell)))
        config_json = json.dumps({"run_id": run_id, "cell": cell.key, **cell.to_dict()}, indent=1)
        self.writer.add_text("config", f"```\n{config_json}\n```")

    def log(self, row: dict[str, Any]) -> None:
        for tag, value in _metrics(row, "train").items():
            self.writer.add_scalar(tag, value, int(row["step"]))

    def summary(self, summary: dict[str, Any]) -> None:
        self.writer.add_text("result", json.dumps(summary, indent=1, default=str))
        for key, value in summary.items():
            if not _number(value):
                continue
            name, _, length = key.partition("@")
            if length:  # eval/accuracy against the eval length on the step axis
                self.writer.add_scalar(f"eval/{name}", float(value), int(length))
            else:
                self.writer.add_scalar(f"result/{name}", float(value), 0)

    def close(self, failed: bool) -> None:
        self.writer.close()


OPENERS: dict[str, Callable[[TrackingConfig, Cell, str], Any]] = {
    "wandb": _WandB,
    "tensorboard": _TensorBoard,
}


class Tracker:
    """One cell's tracker run, or nothing when tracking is off. Never raises: a backend that
    fails warns once and is dropped, the cell goes on. A context manager: leaving it ends the
    tracker run (failed if the cell failed or an exception left the block)."""

    def __init__(
        self, config: TrackingConfig | None, cell: Cell, run_id: str, run_dir: str | Path
    ) -> None:
        self.cell, self.backend, self.failed = cell, None, False
        config = for_workers(config, run_dir) if config is not None else None
        if config is None:
            return
        self.name = config.backend
        try:
            self.backend = OPENERS[config.backend](config, cell, run_id)
        except Exception as e:  # noqa: BLE001 - tracking never fails a cell
            self._warn("start", e)

    def _call(self, what: str, fn: Callable[[Any], Any]) -> None:
        if self.backend is None:
            return
        try:
            fn(self.backend)
        except Exception as e:  # noqa: BLE001 - tracking never fails a cell
            self._warn(what, e)
            backend, self.backend = self.backend, None
            if what != "finish":
                try:
                    backend.close(True)
                except Exception:  # noqa: BLE001 - already warned
                    pass

    def _warn(self, what: str, e: Exception) -> None:
        log.warning(
            "tracking (%s) failed to %s for cell %s; the cell goes on untracked, its results "
            "are stored as always: %s: %s",
            self.name,
            what,
            self.cell.label,
            type(e).__name__,
            e,
        )

    def log(self, row: dict[str, Any]) -> None:
        self._call("log", lambda b: b.log(row))

    def summary(self, rows: list[dict[str, Any]]) -> None:
        result = summarize(rows)
        self.failed = result.get("status") != "ok"
        self._call("log the result", lambda b: b.summary(result))

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        failed = self.failed or exc_type is not None
        self._call("finish", lambda b: b.close(failed))
        self.backend = None

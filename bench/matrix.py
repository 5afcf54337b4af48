"""Matrix expansion: a config becomes independent cells, each with a stable content-hash key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from statebench.bench.config import MatrixConfig


@dataclass(frozen=True)
class Cell:
    """Everything that determines one trained model and its evaluation (and nothing else).

    The key hashes these fields, so re-running the same config finds the same cells in the
    store, and any change to what a cell computes gives it a new key. Where it runs (device,
    output dir) is not part of it.
    """

    arch: str
    arch_options: dict[str, Any]
    task: str
    task_options: dict[str, Any]
    seed: int
    lr: float
    d_model: int
    n_layers: int
    param_budget: int | None
    train: dict[str, Any]
    eval: dict[str, Any]
    dtype: str
    key: str = field(default="", compare=False)

    def content(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("key")
        # Logging cadence and wall-clock limits change no number a cell computes.
        d["train"] = {k: v for k, v in d["train"].items() if k not in ("log_every", "time_limit_s")}
        return d

    @property
    def label(self) -> str:
        opts = ",".join(f"{k}={v}" for k, v in sorted(self.arch_options.items()))
        arch = f"{self.arch}({opts})" if opts else self.arch
        return f"{arch} / {self.task} / seed {self.seed} / lr {self.lr:g}"


def cell_key(content: dict[str, Any]) -> str:
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def expand(config: MatrixConfig) -> list[Cell]:
    """archs x tasks x seeds x learning rates, in that nesting order."""
    train = config.train.model_dump(exclude={"lr"})
    eval_ = config.eval.model_dump()
    cells = []
    for arch in config.archs:
        for task in config.tasks:
            for seed in config.seeds:
                for lr in config.train.lr:
                    cell = Cell(
                        arch=arch.name,
                        arch_options=dict(arch.options),
                        task=task.name,
                        task_options=dict(task.options),
                        seed=seed,
                        lr=lr,
                        d_model=arch.d_model or config.model.d_model,
                        n_layers=arch.n_layers or config.model.n_layers,
                        param_budget=config.model.param_budget,
                        train=train,
                        eval=eval_,
                        dtype=config.dtype,
                    )
                    cells.append(_with_key(cell))
    return cells


def _with_key(cell: Cell) -> Cell:
    object.__setattr__(cell, "key", cell_key(cell.content()))
    return cell


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from any parts; distinct salts give independent streams (train vs eval)."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)

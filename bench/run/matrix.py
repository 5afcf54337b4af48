"""Matrix expansion: a config becomes independent cells, each with a stable content-hash key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any

from statebench.bench.config import CellEval, CellTrain, MatrixConfig
from statebench.bench.run.source_hash import cell_code

# Settings that change no number a trained cell computes: logging cadence, wall-clock limits.
NOT_IDENTITY = {"lr", "log_every", "time_limit_s"}


@dataclass(frozen=True)
class Cell:
    """Everything that determines one trained model, and how the run evaluates it.

    The key hashes what decides the trained weights, so re-running the same config finds the
    same cells in the store, and any change to what a cell trains gives it a new key. Where it
    runs (device, output dir) and how it is evaluated (`eval`: `statebench eval` adds lengths to
    a stored cell) are not part of it. `lr` is the cell's one learning rate (also `train.lr`).
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
    train: CellTrain
    eval: CellEval
    dtype: str
    code: dict[str, str] = field(default_factory=dict)  # source hashes of outside arch/task
    key: str = field(default="", compare=False)

    def content(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("key", "eval")}
        d["train"] = self.train.model_dump(mode="json", exclude=NOT_IDENTITY)
        if not self.code:  # built-in code: its version is on every row, not in the key
            d.pop("code")
        return d

    @property
    def label(self) -> str:
        opts = ",".join(f"{k}={v}" for k, v in sorted(self.arch_options.items()))
        arch = f"{self.arch}({opts})" if opts else self.arch
        return f"{arch} / {self.task} / seed {self.seed} / lr {self.lr:g}"

    def to_dict(self) -> dict[str, Any]:
        """The resolved cell as plain values (stored in its checkpoint); `from_dict` inverts."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["train"] = self.train.model_dump(mode="json")
        d["eval"] = self.eval.model_dump(mode="json")
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cell:
        data = dict(data)
        data["train"] = CellTrain.model_validate(data["train"])
        data["eval"] = CellEval.model_validate(data["eval"])
        data.pop("key", None)
        return _with_key(cls(**data))


def cell_key(content: dict[str, Any]) -> str:
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def expand(config: MatrixConfig) -> list[Cell]:
    """archs x tasks x seeds x learning rates (x training lengths), in that nesting order."""
    base = config.train.model_dump()
    lengths = [None] if not config.train_lengths else list(config.train_lengths)
    trains = {
        (lr, n): CellTrain.model_validate(
            {**base, "lr": [lr]} | ({"len_min": n, "len_max": n} if n else {})
        )
        for lr in {x for arch in config.archs for x in arch.lr or config.train.lr}
        for n in lengths
    }
    eval_ = CellEval.model_validate(config.eval.model_dump())
    codes = {
        (a.name, t.name): cell_code(a.name, t.name) for a in config.archs for t in config.tasks
    }
    cells = []
    for arch in config.archs:
        for task in config.tasks:
            for seed in config.seeds:
                for lr, n in [(x, n) for x in arch.lr or config.train.lr for n in lengths]:
                    cell = Cell(
                        arch=arch.name,
                        arch_options=dict(arch.options),
                        task=task.name,
                        task_options=dict(task.options),
                        seed=seed,
                        lr=lr,
                        d_model=arch.d_model or config.model.d_model,
                        n_layers=arch.n_layers or config.model.n_layers,
                        param_budget=(
                            config.model.param_budget
                            if arch.param_budget is None
                            else arch.param_budget
                        )
                        or None,  # 0: none
                        train=trains[lr, n],
                        eval=eval_,
                        dtype=config.dtype,
                        code=codes[arch.name, task.name],
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

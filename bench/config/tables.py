"""The tables of a matrix config that say what a cell is: `[[archs]]`, `[[tasks]]`, `[model]`,
`[train]`, `[eval]`, `[score]`, and the frozen per-cell forms of `[train]` and `[eval]`.

Each table checks its own values; checks that need several tables at once live on
`bench.config.MatrixConfig`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator
from statebench.bench.config.typed import Strict as _Strict


class ArchSpec(_Strict):
    """One architecture of the matrix, with its options and optional per-arch size."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    d_model: int | None = Field(default=None, ge=1)
    n_layers: int | None = Field(default=None, ge=1)
    # This arch's learning rates (default: train.lr); the best is chosen on validation accuracy.
    lr: list[float] | None = None
    # This arch's parameter budget (default: model.param_budget); 0 means none: use d_model.
    param_budget: int | None = Field(default=None, ge=0)

    @field_validator("lr", mode="before")
    @classmethod
    def _lr_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, (int, float)) else v

    @field_validator("lr")
    @classmethod
    def _lr_positive(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and (not v or any(x <= 0 for x in v)):
            raise ValueError(f"learning rates must be a non-empty list of values > 0, got {v}")
        return v

    @model_validator(mode="after")
    def _known(self) -> ArchSpec:
        import statebench.models as models

        try:
            allowed = models.arch_option_names(self.name)
        except ValueError as e:
            raise ValueError(str(e)) from None
        bad = [k for k in self.options if k not in allowed]
        if bad:
            raise ValueError(
                f"architecture {self.name!r}: unknown option(s) {', '.join(map(repr, bad))}; "
                f"allowed: {', '.join(allowed)}"
            )
        return self

    @property
    def label(self) -> str:
        from statebench.bench.config.labels import with_options

        return with_options(self.name, self.options)


class TaskSpec(_Strict):
    """One task of the matrix with its options (readout among them)."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> TaskSpec:
        import statebench.tasks as tasks

        task = tasks.get_task(self.name, **self.options)  # raises ValueError naming what is allowed
        # What the task declares sizes the model: a bad value is the task's, not the arch's.
        for name, least in (("vocab_size", 1), ("num_classes", 2)):
            value = getattr(task, name, None)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(
                    f"task {self.name!r} declares {name}={value!r}; a task declares {name} as "
                    f"an integer >= {least}"
                )
        return self


class ModelConfig(_Strict):
    """Model size: d_model and n_layers, or a parameter budget that fixes d_model per arch
    (0 means none: a layer over a preset with a budget sizes by d_model again)."""

    d_model: int = Field(default=64, ge=1)
    n_layers: int = Field(default=2, ge=1)
    param_budget: int | None = Field(default=None, ge=0)


MAX_TABLE_LENGTHS = 100_000  # lengths one {start, stop, step} table may make


def _length_range(v: Any) -> Any:
    """`{start = 41, stop = 500, step = 1}` is every length in [start, stop]; else v as given.

    A table missing start or stop, with other keys, non-integer values, a step below 1 or
    more than MAX_TABLE_LENGTHS lengths is refused, before any list is built."""
    if not isinstance(v, dict):
        return v
    shown = "{" + ", ".join(f"{k} = {x!r}" for k, x in v.items()) + "}"
    extra = sorted(set(v) - {"start", "stop", "step"})
    missing = [k for k in ("start", "stop") if k not in v]
    if extra or missing:
        what = f"unknown key(s) {', '.join(extra)}" if extra else f"no {' or '.join(missing)}"
        raise ValueError(
            f"a length table has start and stop (step optional, default 1), e.g. "
            f"{{start = 16, stop = 512, step = 16}}; {shown} has {what}"
        )
    start, stop, step = v["start"], v["stop"], v.get("step", 1)
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in (start, stop, step)):
        raise ValueError(f"a length table's start, stop and step are integers; got {shown}")
    if step < 1 or start < 1 or stop < start:
        raise ValueError(f"a length table needs 1 <= start <= stop and step >= 1; got {shown}")
    count = (stop - start) // step + 1
    if count > MAX_TABLE_LENGTHS:
        raise ValueError(
            f"the table {shown} makes {count} lengths, each its own evaluation; at most "
            f"{MAX_TABLE_LENGTHS} (raise its step)"
        )
    return list(range(start, stop + 1, step))


class TrainConfig(_Strict):
    steps: int = Field(default=1000, ge=0)
    batch_size: int = Field(default=64, ge=1)
    lr: list[float] = Field(default_factory=lambda: [1e-3])
    optimizer: Literal["adamw", "adam"] = "adamw"
    weight_decay: float = Field(default=0.01, ge=0)
    warmup_steps: int = Field(default=100, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    min_lr_ratio: float = Field(default=0.1, ge=0, le=1)
    grad_clip: float | None = Field(default=1.0, gt=0)
    len_min: int = Field(default=1, ge=1)
    len_max: int = Field(default=40, ge=1)
    # Training to competence: `learned` means the validation check was at or above
    # target_accuracy at each of the last `hold_checks` checks (the model that is evaluated holds
    # the target, it did not touch it once); `steps_to_target` is the first check of that run.
    # With stop_at_target, training stops as soon as the target has held that long (or the step /
    # time budget ends); without it, every step is trained (fixed-budget protocols).
    target_accuracy: float = Field(default=0.99, gt=0, le=1)
    hold_checks: int = Field(default=3, ge=1)  # consecutive checks at the target
    stop_at_target: bool = True
    val_every: int = Field(default=100, ge=1)  # steps between validation checks
    val_samples: int = Field(default=256, ge=1)  # held-out sequences, split over val lengths
    # Fixed held-out lengths (e.g. one set across cells of a training-length study); default:
    # up to 8 lengths spread over [len_min, len_max].
    val_lengths: list[int] | None = None
    # A length curriculum: over the first `curriculum_steps` steps the longest drawn length grows
    # linearly from len_min to len_max (0: every step draws from the whole range).
    curriculum_steps: int = Field(default=0, ge=0)
    time_budget_s: float | None = Field(default=None, gt=0)  # soft: stop training, still evaluate
    early_stop_accuracy: float | None = Field(default=None, gt=0, le=1)  # legacy: train-batch EMA
    time_limit_s: float | None = Field(default=None, gt=0)  # hard: the cell becomes a timeout
    log_every: int = Field(default=50, ge=1)

    @field_validator("val_lengths", mode="before")
    @classmethod
    def _val_range(cls, v: Any) -> Any:
        return _length_range(v)

    @field_validator("val_lengths")
    @classmethod
    def _val_positive(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(x < 1 for x in v)):
            raise ValueError(f"val_lengths must be a non-empty list of integers >= 1, got {v}")
        return sorted(set(v)) if v is not None else None

    @field_validator("lr", mode="before")
    @classmethod
    def _lr_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, (int, float)) else v

    @field_validator("lr")
    @classmethod
    def _lr_positive(cls, v: list[float]) -> list[float]:
        if not v or any(x <= 0 for x in v):
            raise ValueError(f"learning rates must be a non-empty list of values > 0, got {v}")
        return v

    @model_validator(mode="after")
    def _range(self) -> TrainConfig:
        if self.len_min > self.len_max:
            raise ValueError(f"len_min={self.len_min} exceeds len_max={self.len_max}")
        return self


class EvalConfig(_Strict):
    lengths: list[int] = Field(default_factory=lambda: [16, 32, 64, 128, 256])
    samples: int = Field(default=256, ge=1)
    seed: int = Field(default=1234, ge=0)
    batch_size: int = Field(default=128, ge=1)
    max_tokens_per_batch: int = Field(default=1 << 17, ge=1)

    @field_validator("lengths", mode="before")
    @classmethod
    def _range_table(cls, v: Any) -> Any:
        return _length_range(v)

    @field_validator("lengths")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        bad = [x for x in v if x < 1]
        if not v or bad:
            raise ValueError(f"eval lengths must be a non-empty list of integers >= 1; bad: {bad}")
        return sorted(set(v))


class CellTrain(TrainConfig):
    """One cell's training settings: the `[train]` table with the cell's one learning rate,
    frozen, so the typed values (and their defaults) reach the training loop unchanged."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CellEval(EvalConfig):
    """One cell's evaluation settings, frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ScoreConfig(_Strict):
    """How the headline number is summarised (the Deletang protocol reports max over seeds)."""

    aggregate: Literal["mean", "max"] = "mean"
    # score over eval lengths >= min_len (default: beyond training)
    min_len: int | None = Field(default=None, ge=1)

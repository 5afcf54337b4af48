"""The typed configuration tree: TOML or a shipped preset -> validated `MatrixConfig`.

Bad input fails here, before any training, with a message naming the field, the bad value and
what is allowed.
"""

from __future__ import annotations

import difflib
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import tomli_w
from statebench.bench.errors import ConfigError
from statebench.bench.probe.config import ProbeConfig
from statebench.bench.typed import Strict as _Strict


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
        from statebench.bench.labels import with_options

        return with_options(self.name, self.options)


class TaskSpec(_Strict):
    """One task of the matrix with its options (readout among them)."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> TaskSpec:
        import statebench.tasks as tasks

        tasks.get_task(self.name, **self.options)  # raises ValueError naming what is allowed
        return self


def _coerce_specs(value: Any) -> Any:
    """Accept `["lstm", {name = "mamba", options = {...}}]` as well as full tables."""
    if isinstance(value, list):
        return [{"name": v} if isinstance(v, str) else v for v in value]
    return value


class ModelConfig(_Strict):
    """Model size: d_model and n_layers, or a parameter budget that fixes d_model per arch."""

    d_model: int = Field(default=64, ge=1)
    n_layers: int = Field(default=2, ge=1)
    param_budget: int | None = Field(default=None, ge=1)


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
    # Training to competence: stop once the validation check reaches target_accuracy (or the
    # step / time budget ends); `learned` on every row says whether it got there.
    target_accuracy: float = Field(default=0.99, gt=0, le=1)
    stop_at_target: bool = True  # False: train every step anyway (fixed-budget protocols)
    val_every: int = Field(default=100, ge=1)  # steps between validation checks
    val_samples: int = Field(default=256, ge=1)  # held-out sequences, split over val lengths
    # Fixed held-out lengths (e.g. one set across cells of a training-length study); default:
    # up to 8 lengths spread over [len_min, len_max].
    val_lengths: list[int] | None = None
    time_budget_s: float | None = Field(default=None, gt=0)  # soft: stop training, still evaluate
    early_stop_accuracy: float | None = Field(default=None, gt=0, le=1)  # legacy: train-batch EMA
    time_limit_s: float | None = Field(default=None, gt=0)  # hard: the cell becomes a timeout
    log_every: int = Field(default=50, ge=1)

    @field_validator("val_lengths", mode="before")
    @classmethod
    def _val_range(cls, v: Any) -> Any:
        if isinstance(v, dict) and set(v) <= {"start", "stop", "step"}:
            return list(range(int(v["start"]), int(v["stop"]) + 1, int(v.get("step", 1))))
        return v

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
    seed: int = 1234
    batch_size: int = Field(default=128, ge=1)
    max_tokens_per_batch: int = Field(default=1 << 17, ge=1)

    @field_validator("lengths", mode="before")
    @classmethod
    def _range_table(cls, v: Any) -> Any:
        # `lengths = {start = 41, stop = 500}` is every length in [start, stop].
        if isinstance(v, dict) and set(v) <= {"start", "stop", "step"}:
            return list(range(int(v["start"]), int(v["stop"]) + 1, int(v.get("step", 1))))
        return v

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
    min_len: int | None = None  # score over eval lengths >= min_len (default: beyond training)


class SlurmConfig(_Strict):
    """Slurm resources per cell (via submitit); `cluster` "local" or "debug" runs without Slurm."""

    partition: str | None = None
    time_min: int = Field(default=60, ge=1)  # per job; raised to cover train.time_limit_s + grace
    mem_gb: float | None = Field(default=None, gt=0)
    cluster: Literal["slurm", "local", "debug"] | None = None  # None: Slurm if sbatch exists
    additional: dict[str, Any] = Field(default_factory=dict)  # extra #SBATCH options
    array_parallelism: int | None = Field(default=None, ge=1)  # array tasks running at once


class ExecutorConfig(_Strict):
    """Where cells run. Not part of a run's identity: any executor resumes any run.

    local: in this process. pool: worker processes on this machine (one per visible GPU when
    the device is cuda). ray: one Ray task per cell (a local cluster unless `address`).
    slurm: one submitit job per cell.
    """

    kind: Literal["local", "pool", "ray", "slurm"] = "local"
    workers: int | None = Field(default=None, ge=1)  # cells at once (default: what fits)
    address: str | None = None  # ray cluster address ("auto", "ray://host:10001")
    cpus_per_cell: int = Field(default=1, ge=1)
    gpus_per_cell: int | None = Field(default=None, ge=0)  # default: 1 on cuda, else 0
    grace_s: float = Field(default=60.0, ge=0)  # hard kill at train.time_limit_s + grace_s
    claim_stale_s: float = Field(default=600.0, gt=0)  # another driver's silent claim expires
    slurm: SlurmConfig = Field(default_factory=SlurmConfig)


RUN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


class MatrixConfig(_Strict):
    name: str = "custom"
    description: str = ""
    archs: list[ArchSpec]
    tasks: list[TaskSpec]
    seeds: list[int] = Field(default_factory=lambda: [0])
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    score: ScoreConfig = Field(default_factory=ScoreConfig)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    out_dir: str = "results"
    # A training-length study: one cell per length L, trained on exactly L tokens
    # (train.len_min = train.len_max = L); None trains every cell on [len_min, len_max].
    train_lengths: list[int] | None = None
    # Critical-time probes (bench/probe); excluded from dumps, so from the hash and manifest.
    probe: ProbeConfig = Field(default_factory=ProbeConfig, exclude=True)
    # Where cells run (bench/executors); excluded from dumps: it changes no number of a cell.
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig, exclude=True)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        # The name becomes a folder under out_dir: a path in it would put the run elsewhere.
        if not RUN_NAME.fullmatch(v):
            raise ValueError(
                "a run name is letters, digits, '.', '_' and '-' (not starting with '.' or '-'):"
                " it names the run directory under out_dir (use --out for another place)"
            )
        return v

    _coerce_archs = field_validator("archs", mode="before")(lambda cls, v: _coerce_specs(v))
    _coerce_tasks = field_validator("tasks", mode="before")(lambda cls, v: _coerce_specs(v))

    @field_validator("archs", "tasks", "seeds")
    @classmethod
    def _non_empty(cls, v: list) -> list:
        if not v:
            raise ValueError("must name at least one entry")
        return v

    @model_validator(mode="after")
    def _lengths_evaluable(self) -> MatrixConfig:
        """Every task trains within [len_min, len_max] and can make every eval length (or one
        just below it); anything else is refused here, never skipped at run time."""
        import statebench.tasks as tasks
        from statebench.bench.lengths import eval_lengths, training_range

        for spec in self.tasks:
            task = tasks.get_task(spec.name, **spec.options)
            try:
                training_range(task, self.train.len_min, self.train.len_max)
            except ValueError as e:
                raise ValueError(f"train.len_max: {e}") from None
            for field_name, lengths in (
                ("eval.lengths", self.eval.lengths),
                ("train.val_lengths", self.train.val_lengths or []),
            ):
                try:
                    eval_lengths(task, lengths)
                except ValueError as e:
                    raise ValueError(f"{field_name}: {e}") from None
        return self


# -- loading ---------------------------------------------------------------------------------


def list_presets() -> dict[str, str]:
    """Preset name -> its one-line description."""
    out = {}
    for entry in sorted(
        resources.files("statebench.bench.presets").iterdir(), key=lambda p: p.name
    ):
        if entry.name.endswith(".toml"):
            data = tomllib.loads(entry.read_text())
            out[entry.name[: -len(".toml")]] = data.get("description", "")
    return out


def preset_dict(name: str) -> dict:
    presets = list_presets()
    if name not in presets:
        close = difflib.get_close_matches(name, list(presets), n=2)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown preset {name!r}{hint}; presets: {', '.join(presets)}")
    text = resources.files("statebench.bench.presets").joinpath(f"{name}.toml").read_text()
    data = tomllib.loads(text)
    base = data.pop("base", None)  # a variant of another preset: its keys override the base's
    return {**preset_dict(base), **data} if base else data


def toml_file_dict(path: str | Path) -> dict:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read config file {str(path)!r}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"config file {str(path)!r} is not text (byte {e.object[e.start]:#04x} at offset "
            f"{e.start} is not UTF-8); a config is a TOML file"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:  # its message carries "(at line L, column C)"
        raise ConfigError(f"malformed TOML in {str(path)!r}: {e}") from None


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word is a string


def _valid_keys(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def apply_override(data: dict, assignment: str) -> None:
    """Apply one `key.path=value` (value parsed as TOML, else a string) to a config dict."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected key.path=value")
    path, _, raw = assignment.partition("=")
    keys = path.strip().split(".")
    model: type[BaseModel] | None = MatrixConfig
    node = data
    for i, key in enumerate(keys):
        if model is not None and key not in model.model_fields:
            where = ".".join(keys[:i]) or "the top level"
            raise ConfigError(
                f"--set {path}: unknown key {key!r} at {where}; valid keys: "
                f"{', '.join(_valid_keys(model))}"
            )
        if i == len(keys) - 1:
            node[key] = _parse_value(raw.strip())
            return
        annotation = model.model_fields[key].annotation if model is not None else None
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
        child = node.get(key)
        if not isinstance(child, dict):
            if model is None:
                raise ConfigError(f"--set {path}: {'.'.join(keys[: i + 1])} is not a table")
            child = {}
            node[key] = child
        node = child


def validate(data: dict) -> MatrixConfig:
    try:
        return MatrixConfig.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "config"
            msg = err["msg"].removeprefix("Value error, ")
            value = err.get("input")
            shown = "" if isinstance(value, (dict, list)) else f" (got {value!r})"
            lines.append(f"{loc}: {msg}{shown}")
        if len(lines) == 1:
            raise ConfigError(f"invalid config: {lines[0]}") from None
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines)) from None


def load_config(
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | None = None,
    **fields: Any,
) -> MatrixConfig:
    """Resolve preset or file, then `--set` overrides, then explicit CLI fields (non-None)."""
    if preset and config_file:
        raise ConfigError("give either a preset or a config file, not both")
    data = toml_file_dict(config_file) if config_file else preset_dict(preset or "quick")
    for name, value in fields.items():
        if value is not None:
            data[name] = value
    for assignment in overrides or []:
        apply_override(data, assignment)
    return validate(data)


def check_device(config: MatrixConfig) -> None:
    """Refuse `device = "cuda"` where torch sees no CUDA device, before anything is written."""
    if config.device != "cuda":
        return
    import torch

    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise ConfigError(
            f"device: 'cuda' was asked for, but torch {torch.__version__} ({build}) sees no CUDA "
            "device here; allowed on this machine: cpu, auto"
        )


def to_toml(config: MatrixConfig) -> str:
    """Every table, `[probe]` and `[executor]` included (they stay out of the run's hash), so
    `statebench show-config ... > my.toml` and `--config my.toml` give the same config."""
    data = config.model_dump(mode="json", exclude_none=True)
    for name in ("probe", "executor"):
        data[name] = getattr(config, name).model_dump(mode="json", exclude_none=True)
    return tomli_w.dumps(data)

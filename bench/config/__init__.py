"""The typed configuration tree: TOML or a shipped preset -> validated `MatrixConfig`.

Bad input fails here, before any training, with a message naming the field, the bad value and
what is allowed. Each table is its own model (`bench.config.tables`, `bench.config.probe`,
`bench.config.executor`); this module joins them and loads, overrides and dumps the whole.
"""

from __future__ import annotations

import difflib
import logging
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import tomli_w
from statebench.bench.config.errors import ConfigError
from statebench.bench.config.executor import ExecutorConfig, SlurmConfig, drop_unused
from statebench.bench.config.layers import (
    DEFAULT,
    NO_BASE,
    Resolved,
    base_name,
    origin_listing,
    table_model,
    width_warnings,
)
from statebench.bench.config.probe import ProbeConfig
from statebench.bench.config.tables import (
    ArchSpec,
    CellEval,
    CellTrain,
    EvalConfig,
    ModelConfig,
    ScoreConfig,
    TaskSpec,
    TrainConfig,
)
from statebench.bench.config.tracking import TrackingConfig
from statebench.bench.config.typed import Strict as _Strict

log = logging.getLogger(__name__)

# The config's public names, wherever each table is defined.
__all__ = [
    "ArchSpec",
    "CellEval",
    "CellTrain",
    "ConfigError",
    "EvalConfig",
    "ExecutorConfig",
    "MatrixConfig",
    "ModelConfig",
    "ProbeConfig",
    "ScoreConfig",
    "SlurmConfig",
    "TaskSpec",
    "TrainConfig",
    "apply_override",
    "check_device",
    "list_presets",
    "load_config",
    "preset_dict",
    "resolve_layers",
    "to_toml",
    "toml_file_dict",
    "validate",
]


def _coerce_specs(value: Any) -> Any:
    """Accept `["lstm", {name = "mamba", options = {...}}]` as well as full tables."""
    if isinstance(value, list):
        return [{"name": v} if isinstance(v, str) else v for v in value]
    return value


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
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, exclude=True)  # bench/tracking

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

    @field_validator("seeds")
    @classmethod
    def _seeds_in_range(cls, v: list[int]) -> list[int]:
        bad = [s for s in v if not 0 <= s < 1 << 63]
        if bad:
            raise ValueError(f"seeds are integers in [0, 2**63); bad: {bad}")
        return v

    @field_validator("train_lengths")
    @classmethod
    def _train_lengths(cls, v: list[int] | None) -> list[int] | None:
        bad = [x for x in v or [] if x < 1]
        if v is not None and (not v or bad):
            raise ValueError(
                "a training-length study trains each cell on exactly one length: give a "
                f"non-empty list of integers >= 1 (bad: {bad or v})"
            )
        return v

    @model_validator(mode="after")
    def _lengths_evaluable(self) -> MatrixConfig:
        """Every task trains within [len_min, len_max] and can make every eval length (or one
        just below it); anything else is refused here, never skipped at run time."""
        import statebench.tasks as tasks
        from statebench.bench.config.lengths import eval_lengths, training_range

        for spec in self.tasks:
            task = tasks.get_task(spec.name, **spec.options)
            try:
                training_range(task, self.train.len_min, self.train.len_max)
            except ValueError as e:
                raise ValueError(f"train.len_max: {e}") from None
            for length in self.train_lengths or []:
                try:
                    training_range(task, length, length)
                except ValueError as e:
                    raise ValueError(f"train_lengths: {length}: {e}") from None
            for field_name, lengths in (
                ("eval.lengths", self.eval.lengths),
                ("train.val_lengths", self.train.val_lengths or []),
            ):
                try:
                    eval_lengths(task, lengths)
                except ValueError as e:
                    raise ValueError(f"{field_name}: {e}") from None
        self._lengths_fit()
        return self

    def _longest_training_length(self) -> tuple[int, str]:
        if self.train_lengths:
            return max(self.train_lengths), "train_lengths"
        return self.train.len_max, "train.len_max"

    @model_validator(mode="after")
    def _probe_beyond_training(self) -> MatrixConfig:
        """A probe measures where accuracy falls beyond training: it must stream past it."""
        longest, field_name = self._longest_training_length()
        if self.probe.max_len <= longest:
            raise ValueError(
                f"probe.max_len={self.probe.max_len} does not reach past the longest training "
                f"length ({field_name} = {longest}); a probe streams beyond training to find "
                f"t*: give probe.max_len > {longest}"
            )
        return self

    def _lengths_fit(self) -> None:
        """Refuse lengths whose memory floor (bench.config.memory) exceeds this machine's."""
        import statebench.tasks as tasks
        from statebench.bench.config.memory import check_fits

        classes = max(tasks.get_task(t.name, **t.options).num_classes for t in self.tasks)
        width = max(a.d_model or self.model.d_model for a in self.archs)
        if self.model.param_budget:  # widths are fitted later; the floor counts tokens only
            width = 1
        layers = max(a.n_layers or self.model.n_layers for a in self.archs)
        for field_name, lengths in (
            ("eval.lengths", self.eval.lengths),
            ("train.val_lengths", self.train.val_lengths or []),
        ):
            if lengths:
                check_fits(field_name, max(lengths), width, classes, self.device)
        longest, field_name = self._longest_training_length()
        check_fits(field_name, longest, width, classes, self.device, self.train.batch_size,
                   layers, f"for a training batch of {self.train.batch_size}",
                   "train on shorter sequences or a smaller train.batch_size")  # fmt: skip


# -- loading ---------------------------------------------------------------------------------


def list_presets() -> dict[str, str]:
    """Preset name -> its one-line description."""
    out = {}
    for entry in sorted(
        resources.files("statebench.bench.config.presets").iterdir(), key=lambda p: p.name
    ):
        if entry.name.endswith(".toml"):
            data = tomllib.loads(entry.read_text())
            out[entry.name[: -len(".toml")]] = data.get("description", "")
    return out


def _preset_text(name: str) -> str:
    presets = list_presets()
    if name not in presets:
        close = difflib.get_close_matches(name, list(presets), n=2)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown preset {name!r}{hint}; presets: {', '.join(presets)}")
    return resources.files("statebench.bench.config.presets").joinpath(f"{name}.toml").read_text()


def _preset_layers(name: str, resolved: Resolved) -> None:
    """Lay preset `name` (over its own `base`, if it names one) onto `resolved`."""
    data = tomllib.loads(_preset_text(name))
    base = data.pop("base", None)  # a variant of another preset: its keys override the base's
    if base:
        _preset_layers(base, resolved)
    resolved.merge(data, f"preset {name}", MatrixConfig)


def preset_dict(name: str) -> dict:
    """A shipped preset as a config dict (over its base preset, table by table)."""
    resolved = Resolved()
    _preset_layers(name, resolved)
    return resolved.data


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


def apply_override(data: dict, assignment: str) -> str:
    """Apply one `key.path=value` (value parsed as TOML, else a string) to a config dict;
    returns the dotted path it set."""
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
            return ".".join(keys)
        model = table_model(model, key)
        child = node.get(key)
        if not isinstance(child, dict):
            if model is None:
                raise ConfigError(f"--set {path}: {'.'.join(keys[: i + 1])} is not a table")
            child = {}
            node[key] = child
        node = child
    return ".".join(keys)


def validate(data: dict) -> MatrixConfig:
    try:
        return MatrixConfig.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            value = err.get("input")
            shown = "" if isinstance(value, (dict, list)) else f" (got {value!r})"
            # A check across fields (of the whole config or one table) names them itself.
            named = not loc or msg.startswith(f"{loc}.")
            lines.append(msg if named else f"{loc}: {msg}{shown}")
        if len(lines) == 1:
            raise ConfigError(f"invalid config: {lines[0]}") from None
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines)) from None


CLI_FIELDS = {"archs": "--arch", "tasks": "--task", "seeds": "--seed", "device": "--device"}


def resolve_layers(
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | None = None,
    default_base: str = "quick",
    **fields: Any,
) -> Resolved:
    """The config's layers merged, lowest first: the base preset (`preset`, else the file's
    `base`, else `default_base`; "none" for no preset), the config file, the explicit CLI
    `fields` (non-None; each replaces the value below it), then every `--set` in turn."""
    file_data = toml_file_dict(config_file) if config_file else {}
    shown = str(config_file) if config_file else None
    base = base_name(preset, file_data.pop("base", None), shown, default_base)
    resolved = Resolved()
    if base != NO_BASE:
        _preset_layers(base, resolved)
    if config_file:
        # A file's run is its own: it does not take the base preset's name and description.
        for key in ("name", "description"):
            if key not in file_data and resolved.origin(key) != DEFAULT:
                resolved.data.pop(key, None)
                resolved.origins.pop(key, None)
        resolved.merge(file_data, str(config_file), MatrixConfig)
    for name, value in fields.items():
        if value is not None:
            resolved.data[name] = value
            resolved.set(name, value, CLI_FIELDS.get(name, f"--{name}"))
    base_kind = _executor_kind(resolved.data)
    for assignment in overrides or []:
        path = apply_override(resolved.data, assignment)
        value: Any = resolved.data
        for key in path.split("."):
            value = value[key]
        resolved.set(path, value, f"--set {assignment.strip()}")
    executor = resolved.data.get("executor")
    if _executor_kind(resolved.data) != base_kind and isinstance(executor, dict):
        given = {a.partition("=")[0].strip() for a in overrides or []}
        drop_unused(
            executor, {g.removeprefix("executor.") for g in given if g.startswith("executor.")}
        )
    return resolved


def load_config(
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | None = None,
    default_base: str = "quick",
    **fields: Any,
) -> MatrixConfig:
    """The validated config of these layers (`resolve_layers`). A width the user set that a
    parameter budget overrides is logged as a warning naming both values' origins."""
    resolved = resolve_layers(preset, config_file, overrides, default_base, **fields)
    config = validate(resolved.data)
    for warning in width_warnings(resolved, config):
        log.warning(warning)
    return config


def _executor_kind(data: dict) -> object:
    table = data.get("executor")
    return table.get("kind", "local") if isinstance(table, dict) else "local"


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


def side_tables() -> list[str]:
    """The tables kept out of a config's dump (and so out of the run's hash and manifest): they
    change no number of a trained cell."""
    return [name for name, field in MatrixConfig.model_fields.items() if field.exclude]


def config_dump(config: MatrixConfig) -> dict[str, Any]:
    """The config as plain values, every table included, None values left out."""
    data = config.model_dump(mode="json", exclude_none=True)
    for name in side_tables():
        data[name] = getattr(config, name).model_dump(mode="json", exclude_none=True)
    return data


def to_toml(config: MatrixConfig, resolved: Resolved | None = None) -> str:
    """Every table, `[probe]` and `[executor]` included (they stay out of the run's hash), so
    `statebench show-config ... > my.toml` and `--config my.toml` give the same config. It
    starts with `base = "none"`: every value is written out, so the file means the same
    config whatever the presets become. With `resolved` (the layers it came from), every value
    is one `dotted.key = value` line with a comment naming the layer that set it."""
    data = {"base": NO_BASE, **config_dump(config)}
    if resolved is not None:
        return origin_listing(data, resolved)
    return tomli_w.dumps(data)

"""A config as layers: a base preset, then a config file, then command-line options, then `--set`.

Each layer is a partial config dict. Tables (`[train]`, `[model]`, `[executor.slurm]` ...) merge
key by key, so a file that sets `train.steps` keeps the base's other training settings; lists
(`archs`, `tasks`, `eval.lengths`) and plain values replace the layer's below them. Where every
value came from is kept (`Resolved.origins`), for `statebench show-config --show-origin`.

A config file names its base with `base = "quick"` (or the command line's `--preset`); one that
names none builds on the command's default preset (`quick` for run and show-config, `quick-probe`
for probe): its archs and tasks then run at that preset's budget and parameter matching.
`base = "none"` starts from the built-in defaults of every field alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from statebench.bench.config.errors import ConfigError

log = logging.getLogger(__name__)

NO_BASE = "none"  # `base = "none"`: no preset underneath, only the typed defaults
DEFAULT = "default"  # the origin of a value no layer set


@dataclass
class Resolved:
    """The merged config dict and, per dotted path of a value some layer set, that layer."""

    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)

    def merge(self, layer: dict[str, Any], source: str, model: type[BaseModel]) -> None:
        """Lay `layer` over the data: tables merge key by key, anything else replaces."""
        _merge(self.data, layer, source, self.origins, model, "")

    def set(self, path: str, value: Any, source: str) -> None:
        """Record that `source` set `path` (to `value`: a table sets each of its leaves)."""
        for key in [k for k in self.origins if k == path or k.startswith(path + ".")]:
            del self.origins[key]
        for leaf in _leaves(value, path):
            self.origins[leaf] = source

    def origin(self, path: str) -> str:
        return self.origins.get(path, DEFAULT)


def table_model(model: type[BaseModel] | None, key: str) -> type[BaseModel] | None:
    """The config table (a pydantic model) at `key` of `model`, or None for a plain value."""
    if model is None or key not in model.model_fields:
        return None
    annotation = model.model_fields[key].annotation
    return (
        annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    )


def _merge(
    node: dict,
    layer: dict,
    source: str,
    origins: dict[str, str],
    model: type[BaseModel] | None,
    prefix: str,
) -> None:
    for key, value in layer.items():
        path = f"{prefix}{key}"
        sub = table_model(model, key)
        if sub is not None and isinstance(value, dict) and isinstance(node.get(key), dict):
            _merge(node[key], value, source, origins, sub, f"{path}.")
            continue
        node[key] = value
        for old in [k for k in origins if k == path or k.startswith(path + ".")]:
            del origins[old]
        for leaf in _leaves(value, path):
            origins[leaf] = source


def _leaves(value: Any, path: str) -> list[str]:
    if isinstance(value, dict) and value:
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{path}.{k}")]
    return [path]


def base_name(preset: str | None, file_base: Any, config_file: str | None, default: str) -> str:
    """Which preset a config builds on: `--preset`, else the file's `base`, else `default`."""
    if file_base is not None and not isinstance(file_base, str):
        raise ConfigError(
            f"base: {file_base!r} in {config_file!r} is not a preset name; give "
            f'base = "quick" (a shipped preset, see `statebench list`) or base = "{NO_BASE}"'
        )
    if preset and file_base is not None and file_base != preset:
        raise ConfigError(
            f"--preset {preset} and base = {file_base!r} in {config_file!r} disagree on what the "
            "file builds on; drop one of them"
        )
    return preset or file_base or default


def width_warnings(resolved: Resolved, config: Any) -> list[str]:
    """A width the user set that a parameter budget overrides: say so, and how to keep it."""
    out = []
    user_set = [p for p, s in resolved.origins.items() if not s.startswith("preset ")]
    budget = config.model.param_budget
    if budget and "model.d_model" in user_set:
        out.append(
            f"model.d_model = {config.model.d_model} ({resolved.origin('model.d_model')}) has no "
            f"effect: model.param_budget = {budget} ({resolved.origin('model.param_budget')}) "
            "chooses each arch's width; set model.param_budget = 0 to size by d_model"
        )
    if budget and "archs" in user_set:
        for arch in config.archs:
            if arch.d_model and arch.param_budget is None:
                out.append(
                    f"archs: {arch.name} d_model = {arch.d_model} has no effect: "
                    f"model.param_budget = {budget} ({resolved.origin('model.param_budget')}) "
                    "chooses its width; give that arch param_budget = 0 to keep its d_model"
                )
    return out


def origin_of(resolved: Resolved, path: str) -> str:
    """The layer that set `path`: itself, a table above it, or (a table written for a list,
    such as `lengths = {start, stop}`) the keys below it; else the built-in default."""
    if path in resolved.origins:
        return resolved.origins[path]
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        above = ".".join(parts[:i])
        if above in resolved.origins:
            return resolved.origins[above]
    below = sorted({s for p, s in resolved.origins.items() if p.startswith(path + ".")})
    return ", ".join(below) if below else DEFAULT


def inline_toml(value: Any) -> str:
    """One value as inline TOML (tables as `{k = v}`, arrays on one line)."""
    import json
    import re

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        text = repr(value)
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(text, text)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        bare = re.compile(r"[A-Za-z0-9_-]+")
        items = (
            f"{k if bare.fullmatch(k) else json.dumps(k)} = {inline_toml(v)}"
            for k, v in value.items()
        )
        return "{ " + ", ".join(items) + " }" if value else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(inline_toml(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def origin_listing(data: dict[str, Any], resolved: Resolved) -> str:
    """Every value of the resolved config dump `data` as `dotted.key = value  # origin`: valid
    TOML (dotted keys, inline tables) that reads back to the same config."""
    lines = [
        (
            f"{path} = {inline_toml(value)}",
            "every value is written out: no preset underneath"
            if path == "base"
            else origin_of(resolved, path),
        )
        for path, value in _dump_leaves(data, "")
    ]
    width = min(48, max(len(text) for text, _ in lines))  # a long list does not push all out
    return "".join(f"{text.ljust(width)}  # {origin}\n" for text, origin in lines)


def _dump_leaves(data: dict[str, Any], prefix: str):
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _dump_leaves(value, f"{path}.")
        else:
            yield path, value

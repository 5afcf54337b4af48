"""The conformance door: outside code is checked before a run, a probe or an eval uses it.

An architecture or task from outside statebench (a dotted path or an entry point) could train
and be stored as `ok` while breaking the contract: a mixer that reads the future on inputs
longer than a short check feeds it, one returning integers or nothing trainable, a negative
state size; a task whose `sample` contradicts its own `reference`, or that ignores its
generator. Every such row would be a wrong number. So before anything is written, each outside
plugin the command will use passes `models.testing.check_adapter` (tiny sizes, plus causality
at the longest length the command feeds `forward`, and for probes of `step` fed a whole chunk) or
`tasks.testing.check_task` (plus `sample` == `reference` at the longest length drawn). A
failure is a `ConformanceRefused` (one line, exit 2) naming the plugin and the check.

Built-in archs and tasks are not checked here: the test suite holds them to the same door.
Passes are cached per source hash (`bench.run.conformance_cache`), so a repeated run pays
nothing. `--skip-conformance` opens the door unchecked, and every row says so.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from statebench.bench.config import MatrixConfig
from statebench.bench.config.errors import UserError
from statebench.bench.config.lengths import eval_lengths, valid_length_at_most
from statebench.bench.run import conformance_cache as cache

log = logging.getLogger(__name__)

# What a row's `conformance` column says about the code that produced it.
BUILT_IN, PASSED, SKIPPED = "built-in", "passed", "skipped"
DOOR_D_MODEL = 16  # check_adapter's own width; a plugin that cannot build at it gets the run's


class ConformanceRefused(UserError):
    """Outside code broke its contract: nothing is run, nothing is written."""


@dataclass(frozen=True)
class Plugin:
    """One outside arch or task as a command uses it, and how long its inputs get."""

    kind: str  # "arch" or "task"
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    length: int = 0  # arch: longest sequence `forward` is fed; task: longest length drawn
    stream_len: int = 0  # arch: the chunk a probe feeds `step` at once (0: no probe)
    d_model: int = DOOR_D_MODEL  # arch: the run's width, tried if the door's does not build

    def describe(self) -> dict[str, Any]:
        """What a verdict depends on (its cache key), the module's source hash included; the
        lengths are not: a pass records the ones it covered."""
        return {
            "kind": self.kind,
            "name": self.name,
            "options": json.loads(json.dumps(self.options, sort_keys=True, default=str)),
            "source": source_hash(self),
        }


def source_hash(plugin: Plugin) -> str | None:
    """The plugin module's source hash; None when it has no readable source (never cached)."""
    import inspect

    from statebench.bench.run.source_hash import outside_source_hash
    from statebench.models.registry import arch_class
    from statebench.tasks.registry import task_class

    cls = arch_class(plugin.name) if plugin.kind == "arch" else task_class(plugin.name)
    try:
        inspect.getsource(inspect.getmodule(cls))  # type: ignore[arg-type]
    except (OSError, TypeError):
        return None
    return outside_source_hash(cls)


def is_outside(kind: str, name: str) -> bool:
    from statebench.bench.run.source_hash import outside_source_hash
    from statebench.models.registry import arch_class
    from statebench.tasks.registry import task_class

    cls = arch_class(name) if kind == "arch" else task_class(name)
    return outside_source_hash(cls) is not None


def config_plugins(config: MatrixConfig, stream_len: int | None = None) -> list[Plugin]:
    """The outside archs and tasks of a config, each with the longest length the run feeds
    it at once (and, with `stream_len`, the chunk a probe feeds `step`)."""
    import statebench.tasks as tasks

    train_max = max(config.train_lengths or [config.train.len_max])
    longest_model, task_plugins = 0, []
    for spec in config.tasks:
        task = tasks.get_task(spec.name, **spec.options)
        drawn = eval_lengths(task, [*config.eval.lengths, *(config.train.val_lengths or [])])
        made = [n for n in (valid_length_at_most(task, w) for w in [*drawn, train_max]) if n]
        longest = max(made, default=train_max)
        longest_model = max(longest_model, longest + task.extra_positions)
        if is_outside("task", spec.name):
            streamed = valid_length_at_most(task, stream_len) if stream_len else None
            task_plugins.append(
                Plugin("task", spec.name, dict(spec.options), max(longest, streamed or 0))
            )
    arch_plugins = [
        Plugin(
            "arch",
            spec.name,
            dict(spec.options),
            longest_model,
            stream_len or 0,
            spec.d_model or config.model.d_model,
        )  # fmt: skip
        for spec in config.archs
        if is_outside("arch", spec.name)
    ]
    return _unique([*arch_plugins, *task_plugins])


def _unique(plugins: Iterable[Plugin]) -> list[Plugin]:
    seen, out = set(), []
    for p in plugins:
        key = (p.kind, p.name, json.dumps(p.options, sort_keys=True, default=str))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def admit_config(config: MatrixConfig, stream_len: int | None = None) -> str:
    """Check every outside plugin of `config` (raises ConformanceRefused); the rows' verdict."""
    admit(config_plugins(config, stream_len))
    return PASSED


def admit(plugins: Iterable[Plugin]) -> None:
    """Check each plugin, or find its pass in the cache; the first failure is refused."""
    for plugin in _unique(plugins):
        what = plugin.describe()
        key = cache.verdict_key(what) if what["source"] else None
        if key:
            covered, streamed = cache.passed_up_to(key)
            if covered >= plugin.length and streamed >= plugin.stream_len:
                log.info("conformance of %s %s: cached pass", plugin.kind, plugin.name)
                continue
        start = time.perf_counter()
        check_plugin(plugin)
        seconds = time.perf_counter() - start
        log.info("conformance of %s %s: passed in %.2f s", plugin.kind, plugin.name, seconds)
        if key:
            cache.record_pass(key, what, plugin.length, plugin.stream_len, seconds)


def check_plugin(plugin: Plugin) -> None:
    """Run the conformance suite on one plugin at its lengths; ConformanceRefused if it fails.

    A declared max_length below a length caps the check there (the model refuses longer
    inputs itself), so a pass covers every length the command can feed it."""
    from statebench.models.testing import ConformanceError, check_adapter
    from statebench.tasks.testing import TaskConformanceError, check_task

    what = "architecture" if plugin.kind == "arch" else "task"
    try:
        if plugin.kind == "task":
            check_task(plugin.name, extra_lengths=(plugin.length,), **plugin.options)
        else:
            _check_arch(plugin, check_adapter, ConformanceError)
    except (ConformanceError, TaskConformanceError) as e:
        raise ConformanceRefused(
            f"conformance: {what} {one_line(str(e))}; nothing was run (fix the {what}, or "
            "pass --skip-conformance to run it unchecked, which every row then records)"
        ) from None


def _check_arch(plugin: Plugin, check_adapter, error: type) -> dict[str, Any]:
    kwargs = dict(every_option_set=False, causal_len=plugin.length,
                  stream_len=plugin.stream_len or None)  # fmt: skip
    try:
        return check_adapter(plugin.name, d_model=DOOR_D_MODEL, **kwargs, **plugin.options)
    except error as e:
        if e.check != "build" or plugin.d_model == DOOR_D_MODEL:
            raise
    # Some mixers need a width the door's tiny one is not (heads, groups): use the run's.
    return check_adapter(plugin.name, d_model=plugin.d_model, **kwargs, **plugin.options)


def one_line(text: str, limit: int = 600) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."

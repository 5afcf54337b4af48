"""The `[executor]` table of a config: where cells run (Slurm resources in `[executor.slurm]`).

It lives on `MatrixConfig.executor` but is excluded from the config's dump (and so from the run's
hash and manifest): any executor resumes any run.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator
from statebench.bench.config.typed import Strict as _Strict

KINDS = ("local", "pool", "ray", "slurm")
# Which executors read each field (claim_stale_s: every one); a field set away from its default
# for an executor that ignores it is refused, naming the executors that use it.
USED_BY: dict[str, tuple[str, ...]] = {
    "workers": ("pool", "ray", "slurm"),
    "address": ("ray",),
    "cpus_per_cell": ("ray", "slurm"),
    "gpus_per_cell": ("ray", "slurm"),
    "grace_s": ("pool", "ray", "slurm"),
    "slurm": ("slurm",),
}
FLAGS = {"workers": "--workers", "address": "--address", "slurm.partition": "--partition"}


class SlurmConfig(_Strict):
    """Slurm resources per cell (via submitit); `cluster` "local" or "debug" runs without Slurm.

    Left unset (or "slurm"), it needs Slurm (sbatch on PATH) and is refused without it."""

    partition: str | None = None
    time_min: int = Field(default=60, ge=1)  # per job; raised to cover train.time_limit_s + grace
    mem_gb: float | None = Field(default=None, gt=0)
    cluster: Literal["slurm", "local", "debug"] | None = None  # None: Slurm (refused without)
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
    # Torch's CPU threads per cell (bench/run/threads.py): None one (on ray/slurm cpus_per_cell),
    # 0 the cores shared out among the cells running at once, N exactly N.
    threads: int | None = Field(default=None, ge=0)
    gpus_per_cell: int | None = Field(default=None, ge=0)  # default: 1 on cuda, else 0
    grace_s: float = Field(default=60.0, ge=0)  # hard kill at train.time_limit_s + grace_s
    claim_stale_s: float = Field(default=600.0, gt=0)  # another driver's silent claim expires
    # Cells of one arch x task that differ only in seed and lr train as one batched model
    # (bench/run/batched.py; local executor). auto: on CUDA only, where small steps are
    # launch-bound; on a CPU batching does not pay. Rows equal those of separate training.
    batch_cells: Literal["auto", "on", "off"] = "auto"
    # Pad the members' batches to the step's longest length, so one call covers every seed
    # (faster on a GPU; results then differ from separate training in rounding only).
    pad_lengths: bool = False
    slurm: SlurmConfig = Field(default_factory=SlurmConfig)

    @model_validator(mode="after")
    def _every_field_used(self) -> ExecutorConfig:
        for name, value in unused_settings(self).items():
            flag = FLAGS.get(name)
            users = USED_BY[name.partition(".")[0]]
            named = users[0] if len(users) == 1 else f"{', '.join(users[:-1])} and {users[-1]}"
            raise ValueError(
                f"executor.{name} = {value!r}{f' ({flag})' if flag else ''} is used only by "
                f"the {named} executor{'s' if len(users) > 1 else ''}, not by {self.kind!r} "
                f"(executor.kind): drop it, or choose {'one of them' if len(users) > 1 else 'it'}"
                " with --executor"
            )
        return self


def unused_settings(config: ExecutorConfig | dict) -> dict[str, Any]:
    """The fields (dotted, `slurm.partition`) set away from their defaults that the chosen
    executor never reads."""
    data = config.model_dump() if isinstance(config, ExecutorConfig) else config
    kind = data.get("kind", "local")
    unused: dict[str, Any] = {}
    for name, users in USED_BY.items():
        if kind in users or name not in data:
            continue
        if name == "slurm":
            table = data["slurm"] if isinstance(data["slurm"], dict) else {}
            defaults = SlurmConfig().model_dump()
            unused |= {f"slurm.{k}": v for k, v in table.items() if defaults.get(k) != v}
        elif data[name] != ExecutorConfig.model_fields[name].default:
            unused[name] = data[name]
    return unused


def drop_unused(table: dict, keep: set[str]) -> None:
    """Remove from an `[executor]` dict the settings its kind never reads, except those in
    `keep` (dotted names the user gave): choosing another executor on the command line drops a
    preset's settings for the one it replaces, and still refuses what the user set."""
    for name in unused_settings(table):
        if name in keep:
            continue
        head, _, sub = name.partition(".")
        if sub:
            table[head].pop(sub, None)
        else:
            table.pop(head, None)

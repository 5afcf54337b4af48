"""The `[executor]` table of a config: where cells run (Slurm resources in `[executor.slurm]`).

It lives on `MatrixConfig.executor` but is excluded from the config's dump (and so from the run's
hash and manifest): any executor resumes any run.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from statebench.bench.config.typed import Strict as _Strict


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
    # Cells of one arch x task that differ only in seed and lr train as one batched model
    # (bench/run/batched.py; local executor). auto: on CUDA only, where small steps are
    # launch-bound; on a CPU batching does not pay. Rows equal those of separate training.
    batch_cells: Literal["auto", "on", "off"] = "auto"
    # Pad the members' batches to the step's longest length, so one call covers every seed
    # (faster on a GPU; results then differ from separate training in rounding only).
    pad_lengths: bool = False
    slurm: SlurmConfig = Field(default_factory=SlurmConfig)

"""The `[tracking]` table: where, besides the run directory, each cell is logged.

Its own module, apart from the trackers (bench.run.tracking), so the config imports no runner.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from statebench.bench.config.typed import Strict


class TrackingConfig(Strict):
    """The `[tracking]` table: where, besides the run directory, each cell is logged."""

    backend: Literal["none", "wandb", "tensorboard"] = "none"
    # Where tracker files go (default: <run dir>/tracking): TensorBoard event files, or the
    # folder W&B keeps its `wandb/` files in.
    dir: str | None = None
    project: str = "statebench"  # W&B project
    entity: str | None = None  # W&B team or user (default: yours)
    group: str | None = None  # W&B group (default: the run id, so a run's cells group together)
    mode: Literal["online", "offline"] | None = None  # W&B mode (default: WANDB_MODE or online)
    tags: list[str] = Field(default_factory=list)  # W&B tags

"""The `[tracking]` table: where, besides the run directory, each cell is logged.

Its own module, apart from the trackers (bench.run.tracking), so the config imports no runner.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from statebench.bench.config.typed import Strict

# The fields only the W&B backend reads (`dir` is read by both backends).
WANDB_ONLY = ("project", "entity", "group", "mode", "tags")


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

    @model_validator(mode="after")
    def _every_field_used(self) -> TrackingConfig:
        """A field the chosen backend never reads is refused, naming the backend that does."""
        if self.backend == "none" and self.dir is not None:
            raise ValueError(
                f"tracking.dir = {self.dir!r} is read only by a tracking backend, and "
                "tracking.backend is 'none': drop it, or set tracking.backend to wandb or "
                "tensorboard"
            )
        if self.backend != "wandb":
            for name in WANDB_ONLY:
                value = getattr(self, name)
                if value != type(self).model_fields[name].get_default(call_default_factory=True):
                    raise ValueError(
                        f"tracking.{name} = {value!r} is read only by the wandb backend, and "
                        f"tracking.backend is {self.backend!r}: drop it, or set "
                        "tracking.backend = 'wandb'"
                    )
        return self

"""Base models of every config table: unknown keys are refused, values checked on assignment."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A config table: extra keys are errors, assignments are validated, and a number is finite
    (a NaN or infinite learning rate, budget or threshold is refused, never run)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

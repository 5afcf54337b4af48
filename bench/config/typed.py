"""Base models of every config table: unknown keys are refused, values checked on assignment."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A config table: extra keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

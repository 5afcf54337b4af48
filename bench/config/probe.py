"""The `[probe]` table of a config: how far to stream, how finely to bin, what budgets to obey.

It lives on `MatrixConfig.probe` but is excluded from the config's dump (and so from its hash
and the run manifest): probe settings change no trained cell, so `statebench probe` reuses the
run directory and checkpoints of `statebench run` on the same matrix, and probing again with a
longer `max_len` retrains nothing. The settings are stored with every probe row instead.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator
from statebench.bench.config.typed import Strict as _Strict


class ProbeSweep(_Strict):
    """Depth and width grids: every arch is probed at each (n_layers, d_model) combination."""

    n_layers: list[int] = Field(default_factory=list)
    d_model: list[int] = Field(default_factory=list)

    @field_validator("n_layers", "d_model")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        bad = [x for x in v if x < 1]
        if bad:
            raise ValueError(f"sweep values must be integers >= 1; bad: {bad}")
        return sorted(set(v))


class ProbeConfig(_Strict):
    max_len: int = Field(default=1 << 16, ge=1)  # longest position probed (2^20 reachable)
    samples: int = Field(default=32, ge=2)  # eval streams; the bootstrap resamples them
    chunk: int = Field(default=4096, ge=1)  # tokens per drawn data chunk and recurrent step
    bins_per_octave: int = Field(default=8, ge=1)
    thresholds: list[str | float] = Field(default_factory=lambda: ["half", 0.9])
    persist: int = Field(default=3, ge=1)  # consecutive bins below threshold that make a drop
    # Below this in-distribution accuracy (positions <= train.len_max of the same streams) the
    # row is `not_learned` and has no t*: a model that failed inside training has no horizon.
    learned_accuracy: float = Field(default=0.9, gt=0, le=1)
    min_bin_tokens: int = Field(default=256, ge=1)  # early bins merge until they hold this many
    bootstrap: int = Field(default=1000, ge=0)
    level: float = Field(default=0.95, gt=0, lt=1)
    seed: int = Field(default=4321, ge=0)  # data seed base: every model sees the same streams
    time_budget_s: float | None = Field(default=600.0, gt=0)  # per cell's streaming pass
    memory_budget_bytes: int | None = Field(default=1 << 31, ge=1)  # carried state, all streams
    step_work: int = Field(default=1 << 22, ge=1)  # growing-state models: n_seq*step*context cap
    data_budget_bytes: int = Field(default=1 << 28, ge=1)  # tasks without a carry rule
    sweep: ProbeSweep = Field(default_factory=ProbeSweep)

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, v: list[Any]) -> list[str | float]:
        if not v:
            raise ValueError("name at least one threshold ('half' or a number in (0, 1])")
        for t in v:
            if t == "half":
                continue
            if isinstance(t, str) or not 0 < float(t) <= 1:
                raise ValueError(f"threshold {t!r} must be 'half' or a number in (0, 1]")
        return v

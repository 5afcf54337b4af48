"""When a cell counts as competent, and how its training lengths grow: the rules bench.train uses.

A model that touches the validation target at one check and drops below it at the next is not a
model whose length generalisation can be read: stopping there leaves fragile solutions (the
Deletang preset's LSTM on cycle navigation scored 0.30 over 41..500 stopped at the first 0.99
check, 0.60 trained on). So the target must *hold*: `learned` means the last `hold_checks`
validation checks were all at or above it, and `steps_to_target` is the step of the first check
of that final run, so a row is learned exactly when it has a `steps_to_target`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TargetHold:
    """The run of consecutive validation checks at or above `target` that ends at the latest one."""

    target: float
    checks: int = 1  # how many consecutive checks make the target held
    streak: int = 0
    start: int | None = None  # step of the streak's first check

    def update(self, step: int, accuracy: float) -> None:
        if accuracy >= self.target:
            if self.streak == 0:
                self.start = step
            self.streak += 1
        else:
            self.streak, self.start = 0, None

    @property
    def held(self) -> bool:
        return self.streak >= self.checks

    @property
    def steps_to_target(self) -> int | None:
        """The first check of the held run (None while the target does not hold)."""
        return self.start if self.held else None


def curriculum_high(step: int, low: int, high: int, steps: int) -> int:
    """The longest length drawn at `step` (1-based): from `low` at the first step to `high` once
    `steps` steps have passed; `high` throughout when `steps` is 0."""
    if steps <= 0 or step >= steps:
        return high
    return max(low, round(low + (high - low) * step / steps))


def accuracy_against_target(value: float, target: float, decimals: int = 3) -> str:
    """`value` with at least `decimals` decimals and as many more as it takes for the shown
    number to compare with `target` as the value does: 0.98958 against 0.99 shows as 0.9896,
    never as 0.990 (which would read as having reached it)."""
    if value != value:  # NaN
        return "nan"
    for d in range(decimals, 17):
        text = f"{value:.{d}f}"
        if (float(text) >= target) == (value >= target):
            return text
    return repr(value)

"""When a cell counts as competent, and how its training lengths grow: the rules bench.train uses.

A model that touches the validation target at one check and drops below it at the next is not a
model whose length generalisation can be read: stopping there leaves fragile solutions. So the
target must *hold*: `learned` means the last `hold_checks` validation checks were all at or
above it, and `steps_to_target` is the step of the first check of that final run, so a row is
learned exactly when it has a `steps_to_target`.
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

    def confirm_steps(self, val_every: int) -> int:
        """Steps still needed to confirm a target reached but not yet held: the missing checks
        times `val_every` (0 when the target is held or the latest check is below it)."""
        if self.held or self.streak == 0:
            return 0
        return (self.checks - self.streak) * val_every

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


def validation_checks(steps: int, val_every: int) -> int:
    """How many validation checks a run of `steps` steps makes: every `val_every` steps and at
    the last step (a run of 0 steps checks its untrained model once)."""
    return steps // val_every + (1 if steps % val_every else 0) if steps else 1


def unholdable(train) -> str | None:
    """Why no cell of a `[train]` table can count as learned, or None: fewer validation checks
    than `hold_checks` (say `train.steps=50` with the default `val_every=100`)."""
    checks = validation_checks(int(train.steps), int(train.val_every))
    if checks >= int(train.hold_checks):
        return None
    return (
        f"train.steps={train.steps} with train.val_every={train.val_every} makes {checks} "
        f"validation check(s), fewer than train.hold_checks={train.hold_checks}: no cell can "
        "count as learned (lower val_every or hold_checks)"
    )


def not_held(val_accuracy: float, train) -> str:
    """Why a cell is not learned, in words a reader cannot misread: its last validation accuracy
    shown against the target (`accuracy_against_target`) and the hold rule it missed."""
    target, checks = float(train.target_accuracy), int(train.hold_checks)
    held = f"at {checks} consecutive checks" if checks > 1 else "at a check"
    return (
        f"validation accuracy at training lengths {accuracy_against_target(val_accuracy, target)}"
        f" at the last check; train.target_accuracy={target:g} was not held {held}"
    )

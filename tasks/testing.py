"""The conformance suite every task passes: `check_task(task, **options)`.

Plain Python, no pytest, so a third-party task is checked with one line:

    python -c "from statebench.tasks.testing import check_task; check_task('mypkg.tasks:Mod3')"

It draws small batches (8 sequences) at a few short lengths, and 2 sequences at a ladder of
lengths doubling up to `LONGEST` (the longest eval length a shipped preset asks for, so a task
that breaks only on long sequences fails here, not hours into a run); a check takes about a
second. A failure raises `TaskConformanceError` (an AssertionError) naming the task and the check.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from statebench.tasks.base import READOUTS, Task
from statebench.tasks.registry import get_task, task_class

BATCH = 8
LONG_BATCH = 2  # sequences per long length: the plain-Python reference runs over each token
# The longest eval length of the shipped presets (tests/tasks/test_check_task.py holds it so);
# sample and reference are compared up to it.
LONGEST = 4096
EXTRA_ROWS = LONG_BATCH  # sequences checked against the reference at each extra length
SAMPLES_FOR_CHANCE = 512  # sequences drawn to check `chance` against the targets' frequencies


class TaskConformanceError(AssertionError):
    """A task broke the contract; `check` names the property, the message says how."""

    def __init__(self, label: str, check: str, detail: str) -> None:
        super().__init__(f"{label}: {check} check failed: {detail}")
        self.check = check


def _lengths(task: Task, count: int = 3) -> list[int]:
    """The first lengths >= min_length (and >= 2) the task accepts, then a longer one."""
    out, length = [], max(task.min_length, 2)
    while len(out) < count and length < task.min_length + 1000:
        if task._length_ok(length):
            out.append(length)
            length = length * 2 + 1 if len(out) >= 2 else length + 1
        else:
            length += 1
    return out


def _long_lengths(task: Task, after: int, longest: int) -> list[int]:
    """Lengths the task accepts, doubling from past `after` to the first one >= `longest`."""
    out, length = [], after
    while length < longest:
        wanted = length * 2 + 1
        wanted = longest if wanted * 2 + 1 > longest else wanted  # no near-twin of `longest`
        length = next((n for n in range(wanted, wanted + 1000) if task._length_ok(n)), 0)
        if not length:
            break
        out.append(length)
    return out


def check_task(
    name: str | type,
    *,
    seed: int = 0,
    longest: int = LONGEST,
    extra_lengths: tuple[int, ...] = (),
    **options: Any,
) -> dict[str, Any]:
    """Check the task `name` (a name, an entry point, a dotted path or a class) with `options`.

    Checks, in order: build, attributes (vocab_size, num_classes, readout, description),
    sample (dtypes, shapes, token and target ranges, some position scored; at short lengths
    and at lengths doubling up to `longest`), reference (every sampled row equals the
    plain-Python `reference`, at every length sampled), determinism (one generator seed, one
    batch; another seed, another batch), lengths (`check_length` refuses what `sample`
    refuses, below `min_length` included), readouts (`last` scores exactly the last scored
    position of `all`), chance (in (0, 1], and no blind guess beats it on sampled targets).
    `extra_lengths` (say the longest a run draws) are checked against `reference` too, on
    EXTRA_ROWS sequences each: a task can agree with its spec on short draws only.
    Returns the checks passed, the lengths used (`lengths`; determinism, readouts and chance
    use `lengths[2]` or the longest short one, `chance_length`) and the chance.
    """
    label = name if isinstance(name, str) else f"{name.__module__}:{name.__qualname__}"
    label += f" {options}" if options else ""
    report: dict[str, Any] = {"task": label, "checks": []}

    @contextlib.contextmanager
    def checking(check: str):
        try:
            yield
        except TaskConformanceError:
            raise
        except Exception as e:
            raise TaskConformanceError(label, check, f"raised {type(e).__name__}: {e}") from e
        report["checks"].append(check)

    def fail(check: str, detail: str) -> None:
        raise TaskConformanceError(label, check, detail)

    with checking("build"):
        cls = task_class(name)
        task = get_task(name, **options) if isinstance(name, str) else cls(**options)
    with checking("attributes"):
        for attr in ("vocab_size", "num_classes"):
            value = getattr(task, attr, None)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                fail("attributes", f"{attr} must be an integer >= 1, got {value!r}")
        if task.readout not in READOUTS:
            fail("attributes", f"readout {task.readout!r} is not one of {READOUTS}")
        if not isinstance(cls.description, str) or not cls.description:
            fail("attributes", "description must be a one-line string (statebench list shows it)")
        short = _lengths(task)
        if not short:
            fail("attributes", f"no length from min_length={task.min_length} is accepted")
        lengths = short + _long_lengths(task, short[-1], longest)
        report["lengths"] = lengths
        report["chance_length"] = short[-1]
    gen = torch.Generator().manual_seed(seed)
    batches = {}
    with checking("sample"):
        for length in lengths:
            rows = BATCH if length in short else LONG_BATCH
            b = task.sample(rows, length, gen)
            batches[length] = b
            for part, dtype in (("inputs", torch.int64), ("targets", torch.int64)):
                t = getattr(b, part)
                if t.dtype != dtype or tuple(t.shape) != (rows, length):
                    fail("sample", f"{part}: want int64 [{rows}, {length}], got {t.dtype} "
                         f"{list(t.shape)}")  # fmt: skip
            if b.mask.dtype != torch.bool or tuple(b.mask.shape) != (rows, length):
                fail("sample", f"mask: want bool [{rows}, {length}], got {b.mask.dtype}")
            if b.inputs.min() < 0 or b.inputs.max() >= task.vocab_size:
                fail("sample", f"inputs outside [0, vocab_size={task.vocab_size}) at {length=}")
            scored = b.targets[b.mask]
            if scored.numel() and (scored.min() < 0 or scored.max() >= task.num_classes):
                fail("sample", f"scored targets outside [0, num_classes={task.num_classes})")
            if not b.mask.any(dim=1).all():
                fail("sample", f"a sequence of length {length} has no scored position")
    with checking("reference"):
        for length, b in batches.items():
            _check_reference(fail, task, b, length)
        for length in sorted(set(extra_lengths) - set(batches)):
            _check_reference(fail, task, task.sample(EXTRA_ROWS, length, gen), length)
    with checking("determinism"):
        length = short[-1]
        a = task.sample(BATCH, length, torch.Generator().manual_seed(seed + 1))
        b = task.sample(BATCH, length, torch.Generator().manual_seed(seed + 1))
        c = task.sample(BATCH, length, torch.Generator().manual_seed(seed + 2))
        if not all(torch.equal(x, y) for x, y in zip(_parts(a), _parts(b), strict=True)):
            fail("determinism", "one generator seed gave two different batches")
        if torch.equal(a.inputs, c.inputs):
            fail("determinism", "two generator seeds gave the same inputs (is it seeded?)")
    with checking("lengths"):
        for bad in (task.min_length - 1, 0):
            try:
                task.check_length(bad)
            except ValueError:
                continue
            fail("lengths", f"check_length({bad}) accepted a length below min_length")
        for length in range(max(task.min_length, 1), max(task.min_length, 1) + 6):
            accepted = _accepts(task.check_length, length)
            if accepted != _accepts(lambda n: task.sample(1, n), length):
                fail("lengths", f"check_length and sample disagree on length {length}")
    with checking("readouts"):
        last = get_task(name, **{**options, "readout": "last"}) if isinstance(name, str) else (
            cls(**{**options, "readout": "last"}))  # fmt: skip
        length = short[-1]
        full = _sample_with(task, "all", options, name, cls, length, seed)
        end = last.sample(BATCH, length, torch.Generator().manual_seed(seed))
        for row in range(BATCH):
            idx = torch.nonzero(full.mask[row]).flatten()
            want = torch.zeros_like(full.mask[row])
            want[idx[-1]] = True
            if not torch.equal(end.mask[row], want):
                fail(
                    "readouts", f"readout last must score only the last scored position (row {row})"
                )
    with checking("chance"):
        chance = task.chance_at(short[-1])
        if not 0 < chance <= 1:
            fail("chance", f"chance_at({short[-1]}) = {chance!r} is not in (0, 1]")
        b = task.sample(SAMPLES_FOR_CHANCE, short[-1], torch.Generator().manual_seed(seed + 3))
        best = _best_blind_accuracy(b)
        slack = 4 * (best * (1 - best) / max(int(b.mask.sum()), 1)) ** 0.5 + 0.02
        if best > chance + slack:
            fail("chance", f"a blind guess (most frequent target per position) scores {best:.3f} "
                 f"on samples, above the declared chance {chance:.3f}")  # fmt: skip
        report["chance"] = chance
    return report


def _check_reference(fail, task: Task, b, length: int) -> None:
    """Every row of batch `b` equals the plain-Python `reference` of its inputs."""
    for row in range(b.inputs.shape[0]):
        want = task.reference(b.inputs[row].tolist())
        got = [
            int(y) if m else None
            for y, m in zip(b.targets[row].tolist(), b.mask[row].tolist(), strict=True)
        ]
        if got != want:
            at = next(
                (i for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w),
                min(len(got), len(want)),
            )
            g, w = (x[at] if at < len(x) else "<end>" for x in (got, want))
            fail("reference", f"length {length}, row {row}, position {at}: sample gives {g!r}, "
                 f"reference gives {w!r}")  # fmt: skip


def _parts(b) -> tuple:
    return b.inputs, b.targets, b.mask


def _accepts(fn, length: int) -> bool:
    try:
        fn(length)
        return True
    except ValueError:
        return False


def _sample_with(task, readout, options, name, cls, length, seed):
    t = (
        get_task(name, **{**options, "readout": readout})
        if isinstance(name, str)
        else cls(**{**options, "readout": readout})
    )
    return t.sample(BATCH, length, torch.Generator().manual_seed(seed))


def _best_blind_accuracy(b) -> float:
    """Accuracy of guessing, at each position, the target seen most often there."""
    hits = 0
    for t in range(b.targets.shape[1]):
        scored = b.targets[b.mask[:, t], t]
        if scored.numel():
            hits += int(torch.bincount(scored).max())
    return hits / max(int(b.mask.sum()), 1)

"""Shared timing helpers for the perf suite (imported by conftest, the test modules and
summarize.py; a plain module because test modules should not import conftest).

The machine is shared: wall times swing with whatever else runs. So every goal is a ratio of
two timings taken in the same run, alternating the contenders round by round and keeping each
one's minimum (the least disturbed run), never an absolute time. And the clock is this thread's
CPU time: torch runs on one thread here (`single_thread`), so all the work is on it, and a
neighbour's load, which stretches the wall clock twofold on two busy cores, hardly moves it.
(On CUDA, CPU time misses the GPU's work: use `device_clock`.)
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator

import torch

# One parameter budget for every architecture in the scaling benchmarks (2 layers, parity's
# vocabulary): the size of the suite's small cells, so the numbers speak about what is trained.
PARAM_BUDGET = 100_000
N_LAYERS = 2


CLOCK = time.thread_time


def cuda_clock() -> float:
    """Wall seconds after the GPU's queue drains: the clock for CUDA timings."""
    torch.cuda.synchronize()
    return time.perf_counter()


def device_clock(device: torch.device | str) -> Callable[[], float]:
    return cuda_clock if torch.device(device).type == "cuda" else CLOCK


def timed(fn: Callable[[], object], clock: Callable[[], float] = CLOCK) -> float:
    """Seconds of one call by `clock`: CPU time by default (see the module docstring)."""
    start = clock()
    fn()
    return clock() - start


class MinTimer:
    """Wraps fn so that each call also records its CPU time; `best` is the minimum so far. Lets
    pytest-benchmark's own rounds (wall time) yield the CPU-time minimum without extra runs."""

    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn, self.best = fn, math.inf

    def __call__(self) -> None:
        self.best = min(self.best, timed(self.fn))


def interleaved(
    fns: dict[str, Callable[[], object]],
    rounds: int,
    warmup: int = 1,
    clock: Callable[[], float] = CLOCK,
) -> dict:
    """Minimum seconds per contender, calling them in turn each round (reversing the order every
    other round), so a burst of load from a neighbour hits all of them alike."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    best = dict.fromkeys(names, math.inf)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            best[name] = min(best[name], timed(fns[name], clock))
    return best


def rounds_for(seconds_per_call: float, budget_s: float = 1.5, lo: int = 2, hi: int = 5) -> int:
    """How many timed rounds fit `budget_s`: many at short lengths, at least `lo` at long ones."""
    if seconds_per_call <= 0:
        return hi
    return max(lo, min(hi, int(budget_s / seconds_per_call)))


def fit_exponent(lengths: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(time) against log(T): time ~ T^slope (1 = linear)."""
    if len(lengths) < 2:
        return math.nan
    xs = [math.log(t) for t in lengths]
    ys = [math.log(s) for s in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """torch on one thread inside. Two shared cores make multi-thread timings a lottery;
    single-thread ratios are stable and compare like with like."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def scaling_exponents(benchmarks: list[dict]) -> dict[str, dict[str, float]]:
    """{mode: {arch: exponent}} from pytest-benchmark JSON rows of the scaling family (their
    extra_info holds family, mode, arch, T and cpu_s, the minimum CPU seconds of a call)."""
    points: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for b in benchmarks:
        info = b.get("extra_info", {})
        if info.get("family") == "scaling":
            points.setdefault((info["mode"], info["arch"]), []).append((info["T"], info["cpu_s"]))
    out: dict[str, dict[str, float]] = {}
    for (mode, arch), pts in sorted(points.items()):
        pts.sort()
        out.setdefault(mode, {})[arch] = fit_exponent([t for t, _ in pts], [s for _, s in pts])
    return out

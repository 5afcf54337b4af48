"""Torch's CPU threads per cell: one by default, because more is a trap on a shared CPU.

Torch starts one intra-op thread per core. A small model gains little from them, and when
another process holds a core (a second run, a notebook, another user) every parallel region
waits for a descheduled thread: the same quick cell took 60 s with torch's default and 3 s with
one thread on a busy 2-core machine. docs/performance.md ("CPU threads") holds the measurement
behind the default and the command that makes it. `executor.threads` / `--threads` chooses:
None (default) one per cell (on Ray and Slurm the CPUs a cell reserves), 0 the cores shared out
among the cells running at once (cores / workers), N exactly N. Every row records the count
as `cpu_threads`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

DEFAULT_THREADS = 1


def cpu_count() -> int:
    """Cores this process may use (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads_per_cell(
    setting: int | None, cells_at_once: int = 1, reserved: int | None = None
) -> int:
    """The intra-op thread count of one cell: `setting` as the `[executor]` table holds it
    (None: the default, 0: cores / cells at once, N: N); `reserved` is the CPUs a cluster
    executor reserves for the cell (it replaces both the default and the shared-out count)."""
    if setting:
        return setting
    if reserved:
        return reserved
    if setting is None:
        return DEFAULT_THREADS
    return max(1, cpu_count() // max(1, cells_at_once))


def set_threads(threads: int) -> None:
    """Set torch's intra-op threads in this process (a no-op when already so)."""
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """`threads` torch threads inside the block, the process's own count again after it (a
    notebook that runs a matrix keeps its setting)."""
    import torch

    before = torch.get_num_threads()
    set_threads(threads)
    try:
        yield
    finally:
        set_threads(before)

"""Streaming evaluation: feed a long stream through `model.step` and count hits per position bin.

Memory stays flat for recurrent models: the model carries only its state between steps, the
data comes a chunk at a time (`bench.probe.stream`), and what is kept per token is nothing:
correct and scored counts go straight into [n_seq, n_bins] accumulators (geometric bins), which
is all the estimator needs.

Models whose state grows with length (a KV cache) are fed shorter steps as the context grows, so
one step's attention scores stay near `step_work` elements per head, and they stop at the first
budget they hit: wall-clock time, memory of the carried state, their `max_length`, or the end
of the data. Where it stopped is `reached_len`, and why is `stopped_by`: the rest of the grid
is not measured, and the caller records it as skipped.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from statebench.bench.oom import is_oom
from statebench.bench.probe.stream import ChunkStream

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (position reached, positions wanted)


@dataclass
class StreamCounts:
    """Per-sequence hits per bin (bins past `reached_len` have nothing scored)."""

    edges: np.ndarray  # int64 [n_bins + 1], 1-based positions
    correct: np.ndarray  # int64 [n_seq, n_bins]
    scored: np.ndarray  # int64 [n_seq, n_bins]
    reached_len: int
    stopped_by: str = ""  # "" (reached max_len), time_budget, memory_budget, max_length, data,
    # oom, non_finite (logits became NaN/inf: the probe row is `diverged`)
    message: str = ""
    seconds: float = 0.0
    id_correct: int = 0  # hits and scored tokens at positions <= id_len (inside training)
    id_scored: int = 0

    @property
    def id_accuracy(self) -> float:
        return self.id_correct / self.id_scored if self.id_scored else math.nan

    kernel: str = ""  # the code path(s) `step` took: a probe row's own, not its training row's


def grows_with_length(model, chunk: int) -> bool:
    """True when the carried state grows with length (attention's KV cache)."""
    return int(model.state_size(2 * chunk)) > int(model.state_size(chunk))


def step_length(pos: int, wanted: int, n_seq: int, step_work: int) -> int:
    """Longest step n <= wanted with n_seq * n * (pos + n) <= step_work (at least 1)."""
    budget = step_work / n_seq
    n = int((-pos + math.sqrt(pos * pos + 4 * budget)) / 2)
    return max(1, min(wanted, n))


def fits_memory(model, pos: int, n: int, bytes_per_float: int, budget: int) -> int:
    """Longest step m <= n whose carried state after pos + m tokens fits the budget (0: none)."""
    lo, hi = 0, n  # state_size grows with length, so bisect
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if int(model.state_size(pos + mid)) * bytes_per_float <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


@torch.no_grad()
def stream_counts(
    model,
    stream: ChunkStream,
    max_len: int,
    edges: np.ndarray,
    *,
    step_work: int = 1 << 22,
    time_budget_s: float | None = None,
    memory_budget_bytes: int | None = None,
    on_progress: Progress | None = None,
    id_len: int = 0,
) -> StreamCounts:
    """Stream up to `max_len` tokens of every sequence through `model.step`; never raises OOM."""
    model.eval()
    device, n_seq = stream.device, stream.n_seq
    edges_t = torch.as_tensor(edges, dtype=torch.int64, device=device)
    n_bins = len(edges) - 1
    correct = torch.zeros(n_seq, n_bins, dtype=torch.int64, device=device)
    scored = torch.zeros_like(correct)
    growing = grows_with_length(model, stream.chunk)
    elem = next(model.parameters()).element_size()  # bytes per float of the carried state
    limit = min(max_len, stream.length)
    if model.max_length is not None:
        limit = min(limit, int(model.max_length))
    stopped_by, message = "", ""
    id_correct, id_scored = 0, 0
    state = model.init_state(n_seq, device)
    data, offset, pos = None, 0, 0
    start = time.perf_counter()
    while pos < limit:
        if data is None or offset == data.inputs.shape[1]:
            data, offset = stream.next_chunk(), 0
        n = min(data.inputs.shape[1] - offset, limit - pos)
        if growing:
            n = step_length(pos, n, n_seq, step_work)
        if memory_budget_bytes is not None:
            n = fits_memory(model, pos, n, n_seq * elem, memory_budget_bytes)
            if n == 0:
                need = int(model.state_size(pos + 1)) * n_seq * elem
                stopped_by = "memory_budget"
                message = (
                    f"carried state at {pos + 1} tokens would take {need} bytes, over the "
                    f"memory budget of {memory_budget_bytes}"
                )
                break
        inputs = data.inputs[:, offset : offset + n]
        try:
            logits, state = model.step(inputs, state)
        except Exception as e:  # noqa: BLE001 - OOM is a stop, anything else is the caller's
            if not is_oom(e):
                raise
            stopped_by, message = "oom", f"out of memory at position {pos + n}: {e}"[:500]
            break
        finite = torch.isfinite(logits).all(dim=-1).all(dim=0)
        if not bool(finite.all()):
            first = pos + 1 + int((~finite).nonzero()[0])
            stopped_by = "non_finite"
            message = f"non-finite logits from position {first} (1-based); no t* is kept"
            break
        targets = data.targets[:, offset : offset + n]
        mask = data.mask[:, offset : offset + n]
        right = (logits.argmax(-1) == targets) & mask
        positions = torch.arange(pos + 1, pos + n + 1, device=device)
        inside = positions <= id_len
        if bool(inside.any()):
            id_correct += int(right[:, inside].sum())
            id_scored += int(mask[:, inside].sum())
        bins = torch.searchsorted(edges_t, positions, right=True) - 1
        correct.index_add_(1, bins, right.to(torch.int64))
        scored.index_add_(1, bins, mask.to(torch.int64))
        pos += n
        offset += n
        if on_progress is not None:
            on_progress(pos, max_len)
        elapsed = time.perf_counter() - start
        if time_budget_s is not None and elapsed >= time_budget_s and pos < limit:
            stopped_by = "time_budget"
            message = f"time budget of {time_budget_s:g} s used up at position {pos}"
            break
    if not stopped_by and pos < max_len:  # (non_finite keeps its own reason)
        if model.max_length is not None and pos >= model.max_length:
            stopped_by = "max_length"
            message = f"the model accepts at most {model.max_length} positions"
        else:
            stopped_by = "data"
            message = f"task {stream.task.name!r} has no carry rule; its data stops at {pos} tokens"
    if stopped_by:
        log.info("probe stopped at %d of %d tokens: %s", pos, max_len, message)
    return StreamCounts(
        edges=np.asarray(edges, dtype=np.int64),
        correct=correct.cpu().numpy(),
        scored=scored.cpu().numpy(),
        reached_len=pos,
        stopped_by=stopped_by,
        message=message,
        seconds=time.perf_counter() - start,
        kernel=getattr(model, "step_kernel", ""),
        id_correct=id_correct,
        id_scored=id_scored,
    )

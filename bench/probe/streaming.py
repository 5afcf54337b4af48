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
from statebench.bench.probe.stream import ChunkStream
from statebench.bench.run.oom import is_oom

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


Stop = tuple[str, str]  # (stopped_by, message); ("", "") while the stream goes on


class _Tally:
    """Hits and scored tokens per position bin, and those inside the training lengths."""

    def __init__(self, edges: np.ndarray, n_seq: int, id_len: int, device) -> None:
        self.edges = torch.as_tensor(edges, dtype=torch.int64, device=device)
        self.correct = torch.zeros(n_seq, len(edges) - 1, dtype=torch.int64, device=device)
        self.scored = torch.zeros_like(self.correct)
        self.id_len, self.id_correct, self.id_scored = id_len, 0, 0

    def add(self, right: torch.Tensor, mask: torch.Tensor, pos: int) -> None:
        """Count one step's hits `right` and scored `mask` ([n_seq, n]) from position pos + 1."""
        positions = torch.arange(pos + 1, pos + right.shape[1] + 1, device=self.edges.device)
        inside = positions <= self.id_len
        if bool(inside.any()):
            self.id_correct += int(right[:, inside].sum())
            self.id_scored += int(mask[:, inside].sum())
        bins = torch.searchsorted(self.edges, positions, right=True) - 1
        self.correct.index_add_(1, bins, right.to(torch.int64))
        self.scored.index_add_(1, bins, mask.to(torch.int64))

    def counts(self, reached_len: int, stop: Stop, seconds: float, kernel: str) -> StreamCounts:
        return StreamCounts(
            edges=self.edges.cpu().numpy(),
            correct=self.correct.cpu().numpy(),
            scored=self.scored.cpu().numpy(),
            reached_len=reached_len,
            stopped_by=stop[0],
            message=stop[1],
            seconds=seconds,
            kernel=kernel,
            id_correct=self.id_correct,
            id_scored=self.id_scored,
        )


def _checked_step(model, inputs: torch.Tensor, state, pos: int):
    """`model.step`, with out-of-memory and non-finite logits turned into a stop."""
    try:
        logits, state = model.step(inputs, state)
    except Exception as e:  # noqa: BLE001 - OOM is a stop, anything else is the caller's
        if not is_oom(e):
            raise
        return None, state, ("oom", f"out of memory at position {pos + inputs.shape[1]}: {e}"[:500])
    finite = torch.isfinite(logits).all(dim=-1).all(dim=0)
    if not bool(finite.all()):
        first = pos + 1 + int((~finite).nonzero()[0])
        return (
            None,
            state,
            (
                "non_finite",
                f"non-finite logits from position {first} (1-based); no t* is kept",
            ),
        )
    return logits, state, ("", "")


def _memory_stop(model, pos: int, state_bytes: int, budget: int) -> Stop:
    need = int(model.state_size(pos + 1)) * state_bytes
    return "memory_budget", (
        f"carried state at {pos + 1} tokens would take {need} bytes, over the memory budget of "
        f"{budget}"
    )


def _short_stop(model, stream: ChunkStream, pos: int, max_len: int) -> Stop:
    """Why a stream that met no budget ended before max_len (nothing if it did not)."""
    if pos >= max_len:
        return "", ""
    if model.max_length is not None and pos >= model.max_length:
        return "max_length", f"the model accepts at most {model.max_length} positions"
    return "data", f"task {stream.task.name!r} has no carry rule; its data stops at {pos} tokens"


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
    n_seq = stream.n_seq
    tally = _Tally(edges, n_seq, id_len, stream.device)
    growing = grows_with_length(model, stream.chunk)
    state_bytes = n_seq * next(model.parameters()).element_size()  # per float of carried state
    limit = min(max_len, stream.length)
    if model.max_length is not None:
        limit = min(limit, int(model.max_length))
    stop: Stop = ("", "")
    state = model.init_state(n_seq, stream.device)
    data, offset, pos = None, 0, 0
    start = time.perf_counter()
    while pos < limit:
        if data is None or offset == data.inputs.shape[1]:
            data, offset = stream.next_chunk(), 0
        n = min(data.inputs.shape[1] - offset, limit - pos)
        if growing:
            n = step_length(pos, n, n_seq, step_work)
        if memory_budget_bytes is not None:
            n = fits_memory(model, pos, n, state_bytes, memory_budget_bytes)
            if n == 0:
                stop = _memory_stop(model, pos, state_bytes, memory_budget_bytes)
                break
        window = slice(offset, offset + n)
        logits, state, stop = _checked_step(model, data.inputs[:, window], state, pos)
        if stop[0]:
            break
        mask = data.mask[:, window]
        tally.add((logits.argmax(-1) == data.targets[:, window]) & mask, mask, pos)
        pos, offset = pos + n, offset + n
        if on_progress is not None:
            on_progress(pos, max_len)
        elapsed = time.perf_counter() - start
        if time_budget_s is not None and elapsed >= time_budget_s and pos < limit:
            stop = "time_budget", f"time budget of {time_budget_s:g} s used up at position {pos}"
            break
    stop = stop if stop[0] else _short_stop(model, stream, pos, max_len)
    if stop[0]:
        log.info("probe stopped at %d of %d tokens: %s", pos, max_len, stop[1])
    kernel = getattr(model, "step_kernel", "")
    return tally.counts(pos, stop, time.perf_counter() - start, kernel)

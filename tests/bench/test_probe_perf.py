"""A million-token stream with flat memory: a 2-layer LSTM that solves parity, 2^14 vs 2^20 tokens.

Run with `pytest tests/bench/test_probe_perf.py --benchmark-enable` (about a minute on one core).
Each length streams in a fresh subprocess, so its peak resident memory belongs to that pass
alone: after a warm-up chunk, the peak is reset through /proc/self/clear_refs, and VmHWM read
after the stream is the peak *of the streaming pass* (torch's allocations included, which
tracemalloc would not see). Were anything kept per token, 2^20 tokens x 8 streams would add
well over 100 MB (inputs and targets alone: 8 x 2^20 x 17 bytes = 143 MB).
"""

import json
import subprocess
import sys

import pytest
import torch
from statebench.bench.config import load_config
from statebench.bench.probe.stream import streaming_task
from statebench.bench.run.cell import build_cell_model
from statebench.bench.run.matrix import expand
from statebench.bench.run.train import train_model

pytestmark = pytest.mark.perf

SHORT, LONG = 1 << 14, 1 << 20
STREAMS, CHUNK = 8, 4096

STREAM_PASS = r"""
import json, sys, time
import torch
torch.set_num_threads(1)
from statebench.bench.run.cell import build_cell_model
from statebench.bench.config import load_config
from statebench.bench.run.matrix import expand
from statebench.bench.probe.estimator import critical_time, geometric_edges
from statebench.bench.probe.stream import ChunkStream, streaming_task
from statebench.bench.probe.streaming import stream_counts

def status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)

length, weights, streams, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
length = int(length)
cfg = load_config(preset="smoke", overrides=json.loads(sys.argv[5]))
task = streaming_task("parity", {})
model = build_cell_model(expand(cfg)[0], task)
model.load_state_dict(torch.load(weights, weights_only=True))
stream_counts(model, ChunkStream(task, streams, chunk, seed=99), chunk, geometric_edges(chunk))
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    reset = True
except OSError:
    reset = False
base = status_bytes("VmRSS")
start = time.perf_counter()
edges = geometric_edges(length, 8)
counts = stream_counts(model, ChunkStream(task, streams, chunk, seed=1), length, edges)
seconds = time.perf_counter() - start
peak = status_bytes("VmHWM")
ct = critical_time(counts.correct, counts.scored, edges, 0.75, reached_len=counts.reached_len,
                   n_boot=200)
acc = counts.correct.sum() / counts.scored.sum()
print(json.dumps({"peak": peak, "base": base, "reset": reset, "seconds": seconds,
                  "reached": counts.reached_len, "stopped_by": counts.stopped_by,
                  "censored": ct.censored, "t_star": ct.t_star, "lo": ct.lo, "accuracy": acc}))
"""

LSTM = [
    "archs=['lstm']", "tasks=['parity']", "model.d_model=32", "model.n_layers=2",
    "train.steps=400", "train.len_min=1", "train.len_max=40", "train.lr=1e-2",
    "train.log_every=10",
]  # fmt: skip


@pytest.fixture(scope="module")
def parity_lstm(tmp_path_factory):
    """A 2-layer LSTM trained on parity (it solves it in ~150 steps, a few seconds)."""
    torch.set_num_threads(1)
    cell = expand(load_config(preset="smoke", overrides=LSTM))[0]
    task = streaming_task("parity", {})
    model = build_cell_model(cell, task)
    result = train_model(model, task, cell.train, cell.lr, 1, torch.device("cpu"))
    assert result.final_accuracy >= 0.99, f"the LSTM did not learn parity: {result}"
    path = tmp_path_factory.mktemp("lstm") / "parity_lstm.pt"
    torch.save(model.state_dict(), path)
    return str(path)


def stream_in_subprocess(length: int, weights: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", STREAM_PASS, str(length), weights, str(STREAMS), str(CHUNK),
         json.dumps(LSTM)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_lstm_streams_a_million_tokens_in_flat_memory(benchmark, parity_lstm):
    short = stream_in_subprocess(SHORT, parity_lstm)
    long = benchmark.pedantic(stream_in_subprocess, args=(LONG, parity_lstm), rounds=1,
                              iterations=1)  # fmt: skip
    ratio = long["peak"] / short["peak"]
    benchmark.extra_info.update(
        peak_bytes_2_14=short["peak"],
        peak_bytes_2_20=long["peak"],
        peak_ratio=ratio,
        pass_growth_bytes_2_14=short["peak"] - short["base"],
        pass_growth_bytes_2_20=long["peak"] - long["base"],
        hwm_reset=long["reset"],
        seconds_2_14=short["seconds"],
        seconds_2_20=long["seconds"],
        tokens_per_second_2_20=STREAMS * LONG / long["seconds"],
        accuracy_2_20=long["accuracy"],
        censored_2_20=long["censored"],
    )
    assert long["reached"] == LONG and long["stopped_by"] == ""
    assert ratio <= 1.5, benchmark.extra_info
    # The ratio is loose (imports alone take ~0.5 GB), so bytes too: 64x the tokens cost
    # 10-22 MB more peak in practice (allocator noise), far below the 143 MB that keeping
    # even the 2^20 inputs and targets would take.
    assert long["peak"] - short["peak"] < 64 * 2**20, benchmark.extra_info
    assert long["censored"] and long["lo"] == LONG, long  # t* > 2^20: no drop, stated as such

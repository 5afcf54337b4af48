"""Cost against sequence length, per architecture, at matched parameters: forward + backward
(training) and streaming `step` a chunk at a time (the long-evaluation path).

Each (arch, T) is one benchmark; its minimum CPU time (extra_info cpu_s) feeds the fitted
exponent time ~ T^k that the suite's conftest writes into the JSON (`statebench.exponents`): ~1
for scans and recurrences, ~2 for full attention once its T x T work outweighs the rest.
Batch 1, so T alone moves. Full attention is capped at 4k tokens (16k would cost minutes here,
and its exponent is already clear by 4k); everything else runs to 16k.
"""

from __future__ import annotations

import pytest
import statebench.models as models
import statebench.tasks as tasks
import torch
from perfkit import N_LAYERS, PARAM_BUDGET, MinTimer, rounds_for, timed

pytestmark = pytest.mark.perf

LENGTHS = (256, 1024, 4096, 16384)
MAX_LENGTH = {"transformer": 4096}  # quadratic: see the module docstring
CHUNK = 256  # tokens per `step` call when streaming
ARCHS = models.list_archs()
CASES = [(a, t) for a in ARCHS for t in LENGTHS if t <= MAX_LENGTH.get(a, t)]
_MODELS: dict[str, models.SequenceModel] = {}


def _model(arch: str) -> models.SequenceModel:
    """The arch at PARAM_BUDGET parameters on parity's vocabulary (built once per session)."""
    if arch not in _MODELS:
        task = tasks.get_task("parity")
        v, c = task.vocab_size, task.num_classes
        d = models.match_params(arch, PARAM_BUDGET, v, c, N_LAYERS)
        _MODELS[arch] = models.build_model(arch, v, c, d, N_LAYERS, seed=0)
    return _MODELS[arch]


def _run(benchmark, fn, mode: str, arch: str, length: int, model) -> None:
    """Time fn with pytest-benchmark (wall), recording the CPU-time minimum and the setting."""
    timer = MinTimer(fn)
    rounds = rounds_for(timed(fn))  # the timing doubles as the warm-up
    benchmark.pedantic(timer, rounds=rounds, iterations=1)
    benchmark.extra_info.update(
        family="scaling",
        mode=mode,
        arch=arch,
        T=length,
        d_model=model.d_model,
        params=model.num_params(),
        kernel=model.kernel,
        cpu_s=timer.best,
        tokens_per_s=length / timer.best,
    )


def _tokens(length: int) -> torch.Tensor:
    return torch.randint(0, 2, (1, length), generator=torch.Generator().manual_seed(length))


@pytest.mark.parametrize("arch,length", CASES, ids=[f"{a}-{t}" for a, t in CASES])
def test_forward_backward(benchmark, arch, length):
    model = _model(arch).train()
    x = _tokens(length)

    def step():
        model.zero_grad(set_to_none=True)
        model(x).float().logsumexp(-1).mean().backward()

    _run(benchmark, step, "fwd_bwd", arch, length, model)


@pytest.mark.parametrize("arch,length", CASES, ids=[f"{a}-{t}" for a, t in CASES])
def test_streaming_step(benchmark, arch, length):
    model = _model(arch).eval()
    x = _tokens(length)

    @torch.no_grad()
    def stream():
        state = model.init_state(1)
        for start in range(0, length, CHUNK):
            _, state = model.step(x[:, start : start + CHUNK], state)

    _run(benchmark, stream, "stream", arch, length, model)
    benchmark.extra_info["chunk"] = CHUNK

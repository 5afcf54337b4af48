"""CUDA benchmarks: fused kernels vs the reference paths per arch, tokens/s against the card's
bf16 peak, and torch.compile with CUDA graphs for the small-model regime (where a step is a
few hundred tiny launches). They skip on a CPU; on a GPU machine run

    pytest tests/perf/test_perf_cuda.py --benchmark-only --benchmark-json=results/perf/cuda.json

The reference runs hide the fused imports (`models.ops.fused.torch_paths`: the module attributes
each op's dispatch reads), so the same model, weights and inputs take the reference path. Before
anything is timed, each arch's fused and reference runs must agree (logits and gradients, bf16
tolerances): a fast kernel that computes something else is a failure, not a speedup. The speed
ratio itself is a measurement (`extra_info.speedup` in the benchmark JSON), never asserted: it
depends on the card, the sizes and what else runs.
"""

from __future__ import annotations

import contextlib
import copy

import pytest
import statebench.models as models
import statebench.tasks as tasks
import torch
from perfkit import cuda_clock, interleaved, timed
from statebench.models.ops.fused import torch_paths

pytestmark = [
    pytest.mark.perf,
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="needs CUDA: fused kernels, the card's bf16 peak and CUDA graphs exist only there",
    ),
]

# Dense bf16 tensor-core peaks from the vendors' datasheets (no sparsity), TFLOP/s.
BF16_PEAK_TFLOPS = {"H100 PCIe": 756, "H100": 989, "H200": 989, "A100": 312, "L40S": 362, "L4": 121}
ARCHS = models.list_archs()
DEVICE = torch.device("cuda")


reference_paths = torch_paths  # every op on its pure-PyTorch path


def bf16_peak() -> float | None:
    name = torch.cuda.get_device_name()
    for key, tflops in BF16_PEAK_TFLOPS.items():  # "H100 PCIe" is listed before "H100"
        if key in name:
            return tflops * 1e12
    return None


def _model(arch: str, budget: int, dtype=torch.bfloat16, **options) -> models.SequenceModel:
    task = tasks.get_task("parity")
    v, c = task.vocab_size, task.num_classes
    d = models.match_params(arch, budget, v, c, 4, multiple=64, **options)
    return models.build_model(arch, v, c, d, 4, seed=0, **options).to(DEVICE, dtype)


def _fwd_bwd(model, x):
    def go():
        model.zero_grad(set_to_none=True)
        model(x).float().logsumexp(-1).mean().backward()

    return go


def _assert_agree(model, x) -> dict[str, float]:
    """Fused and reference logits and gradients agree to bf16 precision; returns the errors."""
    runs = []
    for hide in (False, True):
        model.zero_grad(set_to_none=True)
        with torch_paths() if hide else contextlib.nullcontext():
            out = model(x).float()
            out.logsumexp(-1).mean().backward()
        grads = [p.grad.float().clone() for p in model.parameters() if p.grad is not None]
        runs.append((out.detach(), grads))
    (out, grads), (ref_out, ref_grads) = runs
    assert len(grads) == len(ref_grads), "fused and reference runs train different parameters"
    rel = ((out - ref_out).norm() / ref_out.norm()).item()
    assert rel < 2e-2, f"fused and reference logits differ: relative error {rel:.3g}"
    grad_rel = 0.0
    for g, r in zip(grads, ref_grads, strict=True):
        grad_rel = max(grad_rel, ((g - r).norm() / r.norm().clamp(min=1e-12)).item())
    assert grad_rel < 5e-2, f"fused and reference gradients differ: relative error {grad_rel:.3g}"
    return {"logits_rel_err": rel, "grad_rel_err": grad_rel}


# Each arch as built by default, and the option sets that reach another fused kernel.
FUSED_CASES = [(arch, {}) for arch in ARCHS] + [("deltanet", {"gated": True})]


def _case_id(case) -> str:
    arch, options = case
    return arch + "".join(f"-{k}={v}" for k, v in options.items())


@pytest.mark.parametrize("case", FUSED_CASES, ids=_case_id)
def test_fused_vs_reference(benchmark, case):
    arch, options = case
    batch, length = 8, 4096
    model = _model(arch, 20_000_000, **options)
    fused_kernel = model.kernel  # no call yet: the path each dispatch would pick
    with reference_paths():
        ref_kernel = model.kernel
    if fused_kernel == ref_kernel:
        pytest.skip(
            f"{arch} {options}: no fused path installed (kernel {fused_kernel!r} either way)"
        )
    x = torch.randint(0, 2, (batch, length), device=DEVICE)
    agreement = _assert_agree(model, x[:, :512])  # first: a wrong kernel is never timed

    fused = _fwd_bwd(model, x)

    def reference():
        with reference_paths():
            fused()

    best = interleaved({"fused": fused, "reference": reference}, rounds=5, clock=cuda_clock)
    benchmark.pedantic(fused, rounds=3, iterations=1)
    tokens_per_s = batch * length / best["fused"]
    peak = bf16_peak()
    benchmark.extra_info.update(
        family="cuda",
        arch=arch,
        options=options,
        device=torch.cuda.get_device_name(),
        params=model.num_params(),
        fused_kernel=fused_kernel,
        reference_kernel=ref_kernel,
        fused_s=best["fused"],
        reference_s=best["reference"],
        speedup=best["reference"] / best["fused"],  # reported, not asserted
        tokens_per_s=tokens_per_s,
        # 6 N flops per token (forward + backward, weights only: attention's T^2 term left out)
        mfu=6 * model.num_params() * tokens_per_s / peak if peak else None,
        **agreement,
    )


@pytest.mark.parametrize("arch", ARCHS)
def test_compiled_small_model(benchmark, arch):
    """The quick preset's cell (d_model 64, 2 layers, batch 32, length 32): eager vs
    torch.compile(mode="reduce-overhead") (Inductor + CUDA graphs), one training step each.
    One fixed length: the harness's varying lengths would recompile (or need dynamic=True)."""
    task = tasks.get_task("parity")
    eager = models.build_model(arch, task.vocab_size, task.num_classes, 64, 2, seed=0).cuda()
    x = torch.randint(0, 2, (32, 32), device="cuda")
    try:
        compiled_model = torch.compile(copy.deepcopy(eager), mode="reduce-overhead")
        compiled = _fwd_bwd(compiled_model, x)
        compile_s = timed(compiled, cuda_clock)
    except Exception as e:  # noqa: BLE001 - a model that does not compile is a finding
        pytest.skip(f"{arch}: torch.compile failed ({type(e).__name__}: {str(e)[:200]})")
    plain = _fwd_bwd(eager, x)
    best = interleaved(
        {"eager": plain, "compiled": compiled}, rounds=10, warmup=3, clock=cuda_clock
    )
    benchmark.pedantic(compiled, rounds=10, iterations=1)
    benchmark.extra_info.update(
        family="cuda",
        arch=arch,
        device=torch.cuda.get_device_name(),
        compile_s=compile_s,
        eager_s=best["eager"],
        compiled_s=best["compiled"],
        speedup=best["eager"] / best["compiled"],
    )

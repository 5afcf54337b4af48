"""`statebench doctor`: what this machine would run, and why each fused path is on or off.

Reports torch, CUDA and cuDNN versions, the device and its compute capability, the TF32
settings, every fused package's import status (with the real error), and for each architecture
and dtype the code path `forward` and `step` would take. It runs anywhere: on a CPU machine it
says, for each fused path, that there is no CUDA device and whether the package would import.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass

import torch
from statebench.models import build_model, list_archs
from statebench.models.ops import attention, causal_conv, fused, retention, rglru, selective_scan

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Package:
    """A fused package: its distribution name, the module our call site imports, whether that
    import (and any kernel check) succeeded, and the archs that use it."""

    name: str
    module: str
    loaded: bool
    used_by: str


def _packages() -> list[Package]:
    fla_ok = retention.fla_available() and rglru._fla() is not None
    return [
        Package(
            "flash-attn",
            "flash_attn",
            attention.flash_attn_func is not None,
            "transformer, griffin",
        ),
        Package(
            "mamba-ssm",
            selective_scan.MAMBA_MODULE,
            selective_scan._fused_selective_scan is not None,
            "mamba, mamba2 (eigen [0,1])",
        ),
        Package(
            "causal-conv1d", "causal_conv1d", causal_conv._fused_causal_conv1d is not None, "mamba"
        ),
        Package(
            "flash-linear-attention",
            retention.FLA_MODULE,
            fla_ok,
            "retnet, griffin, hawk, deltanet",
        ),
    ]


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment_lines(device: torch.device) -> list[tuple[str, str]]:
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    lines = [
        ("torch", torch.__version__),
        ("CUDA (torch build)", torch.version.cuda or "none (CPU build)"),
        ("cuDNN", str(cudnn) if cudnn else "not available"),
        ("CUDA available", str(torch.cuda.is_available())),
    ]
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        lines += [
            ("device", torch.cuda.get_device_name(device)),
            ("compute capability", f"{major}.{minor}"),
        ]
    else:
        lines.append(("device", "cpu"))
    lines += [
        ("TF32 matmul", str(torch.backends.cuda.matmul.allow_tf32)),
        ("TF32 cuDNN", str(torch.backends.cudnn.allow_tf32)),
        ("float32 matmul precision", torch.get_float32_matmul_precision()),
    ]
    return lines


def package_rows(device: torch.device) -> list[tuple[str, str, str, str]]:
    """(package, installed version, status, why off) per fused package."""
    rows = []
    for p in _packages():
        reasons = []
        if not p.loaded:
            reasons.append(fused.import_error(p.module) or f"{p.module} did not import")
        if device.type != "cuda":
            reasons.append("no CUDA device: fused kernels run on CUDA tensors only")
        elif p.name == "flash-attn":
            capability = fused.cuda_capability(device)
            if capability < attention.FLASH_MIN_CAPABILITY:
                reasons.append(f"compute capability {capability} < 8.0")
        status = "on" if not reasons else "off"
        used = f"{status} (used by {p.used_by})"
        rows.append((p.name, _version(p.name), used, "; ".join(reasons)))
    return rows


def path_rows(device: torch.device) -> list[tuple[str, str, str, str]]:
    """(arch, dtype, forward path, step path) for every registered architecture."""
    rows = []
    for arch in list_archs():
        for dtype_name, dtype in DTYPES.items():
            try:
                model = build_model(arch, 5, 3, d_model=64, n_layers=3, seed=0)
                model.to(device=device, dtype=dtype)
                forward, step = model.kernel, model.step_kernel
            except Exception as e:  # noqa: BLE001  one arch failing to build is a row, not a crash
                forward, step = f"error: {type(e).__name__}: {e}", ""
            rows.append((arch, dtype_name, forward, step))
    return rows


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def missing_fused(device: torch.device | None = None) -> list[str]:
    """One line per fused path that would not run here ("package: why"); empty when all run."""
    device = default_device() if device is None else device
    rows = package_rows(device)
    return [f"{name}: {why}" for name, _, status, why in rows if status.startswith("off")]

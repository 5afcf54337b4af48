"""Where a number came from: package, code, library and hardware versions."""

from __future__ import annotations

import platform
import socket
import subprocess
from functools import lru_cache
from pathlib import Path

import statebench
import torch


@lru_cache(maxsize=1)
def git_sha() -> str:
    """The commit of the statebench checkout ("+dirty" if it has changes), or "unknown"."""
    root = Path(__file__).resolve().parents[2]  # bench/run/provenance.py -> the checkout
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha + ("+dirty" if dirty else "")) if sha else "unknown"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine() or "cpu"


def provenance(device: torch.device) -> dict[str, str | int]:
    return {
        "statebench_version": statebench.__version__,
        "git_sha": git_sha(),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda or "",
        "device_name": device_name(device),
        "hostname": socket.gethostname(),
        # CPU float sums run in a thread-count-dependent order: the same run on 1 and 2
        # threads differs in the second decimal of some accuracies
        "cpu_threads": torch.get_num_threads(),
    }


def environment() -> dict[str, str | int]:
    """Provenance plus what a manifest should record about the Python environment."""
    info = provenance(torch.device("cpu"))
    info["python"] = platform.python_version()
    info["platform"] = platform.platform()
    info["cuda_available"] = str(torch.cuda.is_available())
    # fp32 matmuls and convolutions on CUDA may run at TF32 (~1e-3) precision; say which
    info["tf32_matmul"] = str(torch.backends.cuda.matmul.allow_tf32)
    info["tf32_cudnn"] = str(torch.backends.cudnn.allow_tf32)
    info["float32_matmul_precision"] = torch.get_float32_matmul_precision()
    return info

"""Optional fused packages, imported once each; why one is missing is kept for `statebench doctor`.

A fused package's absence is never an error: `optional_import` returns None and records the real
exception (ImportError, an ABI mismatch, Triton failing to initialise, a kernel-less build), so
the kernels fall back to their pure-PyTorch paths and `doctor` can say why.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import pkgutil
from typing import Any

import torch

log = logging.getLogger(__name__)

# module name -> "ExceptionType: message" for every optional import that failed in this process
IMPORT_ERRORS: dict[str, str] = {}


def optional_import(module: str, *names: str) -> tuple[Any, ...] | None:
    """`module`'s attributes `names`, or None if it does not import (the error is recorded)."""
    try:
        mod = importlib.import_module(module)
        found = tuple(getattr(mod, name) for name in names)
    except Exception as e:  # noqa: BLE001  an ABI mismatch raises more than ImportError
        IMPORT_ERRORS[module] = f"{type(e).__name__}: {e}".strip()
        log.debug("%s unavailable: %s", module, e)
        return None
    IMPORT_ERRORS.pop(module, None)
    return found


def record_error(module: str, error: str) -> None:
    """Say why `module`'s fused path is off although something of it imported."""
    IMPORT_ERRORS[module] = error


@functools.cache
def fla_ops(module: str, *names: str) -> tuple[Any, ...] | None:
    """fla's kernels from `module` (e.g. "fla.ops.hgrn"), imported on first use: importing fla
    initialises Triton, which costs seconds and needs a GPU, so CPU runs never pay for it."""
    return optional_import(module, *names)


def import_error(module: str) -> str | None:
    """Why `module` (or the first module of a package that failed) did not import, if known."""
    if module in IMPORT_ERRORS:
        return IMPORT_ERRORS[module]
    return next((e for m, e in IMPORT_ERRORS.items() if m.startswith(module + ".")), None)


def cuda_capability(device: torch.device | str) -> tuple[int, int] | None:
    """(major, minor) compute capability of a CUDA device, or None for any other device."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    return tuple(torch.cuda.get_device_capability(device))


# Module attributes every op's dispatch reads, and the value that makes it pick its torch path.
HIDDEN_WHEN_TORCH = {
    "flash_attn_func": None,
    "_fused_selective_scan": None,
    "_fused_causal_conv1d": None,
    "_fused_ssd": None,
    "_fla": lambda: None,
}


@contextlib.contextmanager
def torch_paths():
    """Within the block every op takes its pure-PyTorch path, as if no fused package were
    installed: the same model, weights and inputs, so fused and torch runs can be compared."""
    import statebench.models.ops as ops

    saved = []
    for info in pkgutil.iter_modules(ops.__path__):
        mod = importlib.import_module(f"{ops.__name__}.{info.name}")
        for attr, value in HIDDEN_WHEN_TORCH.items():
            if attr in vars(mod):
                saved.append((mod, attr, getattr(mod, attr)))
                setattr(mod, attr, value)
    try:
        yield
    finally:
        for mod, attr, old in reversed(saved):
            setattr(mod, attr, old)

"""Whether an exception is an allocation failure (stored as `oom`, not `error`)."""

from __future__ import annotations

import torch

# How allocation failures read: CUDA's, and the CPU allocator's ("DefaultCPUAllocator: can't
# allocate memory: you tried to allocate N bytes. Error code 12 (Cannot allocate memory)").
OOM_MESSAGES = ("out of memory", "can't allocate memory", "cannot allocate memory")


def is_oom(e: BaseException) -> bool:
    return isinstance(e, (torch.cuda.OutOfMemoryError, MemoryError)) or (
        isinstance(e, RuntimeError) and any(m in str(e).lower() for m in OOM_MESSAGES)
    )

"""Whether a sequence length can fit in memory at all: a floor, checked before anything runs.

Evaluating one sequence of length T holds its tokens (int64 inputs and targets, a bool mask:
17 bytes a token), its float32 logits, and at least a few float32 activations of width d_model
per token (the residual stream, a norm, the mixer's output, the MLP's hidden layer). A length
whose floor exceeds the machine's memory can only fail, after the run directory exists and
other cells were trained; it is refused instead, with the estimate. The floor ignores what an
architecture adds (attention's T x T scores), so lengths that pass it may still run out of
memory: that is stored as an `oom` row, as before.
"""

from __future__ import annotations

import os

from statebench.bench.config.errors import ConfigError

TOKEN_BYTES = 8 + 8 + 1  # int64 input and target, bool mask
ACTIVATIONS = 6  # float32 vectors of width d_model alive per token at least (MLP hidden: 4)


def sequence_bytes(length: int, d_model: int, num_classes: int, layers_kept: int = 1) -> int:
    """The floor, in bytes, of one sequence of `length` through a model of width `d_model`
    (`layers_kept`: layers whose activations stay alive at once; training keeps every one)."""
    per_token = TOKEN_BYTES + 4 * num_classes + 4 * d_model * ACTIVATIONS * layers_kept
    return length * per_token


def machine_bytes(device: str = "auto") -> int | None:
    """Memory the length must fit in: the GPU's on cuda, else the RAM (None: unknown)."""
    if device in ("cuda", "auto"):
        import torch

        if torch.cuda.is_available():
            return int(torch.cuda.get_device_properties(0).total_memory)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not a POSIX system
        return None


def size_text(n: float) -> str:
    """1536 -> "1.5 KiB"; beyond PiB in powers of ten ("7.04e+08 PiB")."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024:
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} PiB" if n < 1e4 else f"{n:.3g} PiB"


def check_fits(
    where: str,
    length: int,
    d_model: int,
    num_classes: int,
    device: str = "auto",
    batch: int = 1,
    layers_kept: int = 1,
    what: str = "to evaluate one sequence",
    instead: str = "",
) -> None:
    """Refuse `length` at `where` (a field or option) when even its floor exceeds memory."""
    have = machine_bytes(device)
    need = batch * sequence_bytes(length, d_model, num_classes, layers_kept)
    if have is None or need <= have:
        return
    raise ConfigError(
        f"{where}: length {length} needs at least {size_text(need)} {what} (its tokens and "
        f"float32 activations of width {d_model}), more than the {size_text(have)} of memory "
        f"here; {instead or _probe_instead(length)}"
    )


def _probe_instead(length: int) -> str:
    return (
        f"use shorter lengths, or `statebench probe --max-len {length}`, which streams long "
        "sequences in chunks"
    )

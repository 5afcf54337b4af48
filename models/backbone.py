"""The shared backbone: embedding -> pre-norm residual blocks (mixer [+ MLP]) -> norm -> head."""

from __future__ import annotations

from typing import Any

import torch
from statebench.models.base import Mixer
from torch import nn
from torch.nn import functional as F

MLP_KINDS = ("gelu", "gated", "none")


class MLP(nn.Module):
    """Position-wise MLP: plain GeLU, or the gated GeLU of Griffin/Llama-style blocks."""

    def __init__(self, d_model: int, kind: str, ratio: float) -> None:
        super().__init__()
        hidden = max(1, int(round(d_model * ratio)))
        self.kind = kind
        self.up = nn.Linear(d_model, hidden * (2 if kind == "gated" else 1))
        self.down = nn.Linear(hidden, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.up(x)
        if self.kind == "gated":
            a, b = h.chunk(2, dim=-1)
            h = F.gelu(a) * b
        else:
            h = F.gelu(h)
        return self.down(h)


class Block(nn.Module):
    """x + mixer(norm(x)) [+ mlp(norm(x))]: pre-norm keeps deep stacks trainable at any width."""

    def __init__(self, mixer: Mixer, d_model: int, mlp: str, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.RMSNorm(d_model)
        self.mixer = mixer
        self.mlp = None if mlp == "none" else MLP(d_model, mlp, mlp_ratio)
        self.norm2 = nn.RMSNorm(d_model) if self.mlp is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mixer(self.norm1(x))
        if self.mlp is not None:
            x = x + self.mlp(self.norm2(x))
        return x

    def step(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        y, state = self.mixer.step(self.norm1(x), state)
        x = x + y
        if self.mlp is not None:
            x = x + self.mlp(self.norm2(x))
        return x, state


class SequenceModel(nn.Module):
    """Tokens -> per-position class logits, with a streaming `step` for long evaluation."""

    def __init__(
        self,
        arch: str,
        mixers: list[Mixer],
        vocab_size: int,
        num_classes: int,
        d_model: int,
        mlp: str,
        mlp_ratio: float,
    ) -> None:
        super().__init__()
        self.arch = arch
        self.vocab_size = vocab_size
        self.num_classes = num_classes
        self.d_model = d_model
        self.embed = nn.Embedding(vocab_size, d_model)
        self.blocks = nn.ModuleList(Block(m, d_model, mlp, mlp_ratio) for m in mixers)
        self.norm = nn.RMSNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)
        # getattr: third-party mixers need not subclass Mixer, only honour its methods.
        lengths = [n for m in mixers if (n := getattr(m, "max_length", None)) is not None]
        self.max_length: int | None = min(lengths) if lengths else None

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))

    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> list:
        device = torch.device(device) if device is not None else self.device
        dtype = self.head.weight.dtype
        return [b.mixer.init_state(batch_size, device, dtype) for b in self.blocks]

    def step(self, tokens: torch.Tensor, state: list) -> tuple[torch.Tensor, list]:
        x = self.embed(tokens)
        new_state = []
        for block, s in zip(self.blocks, state, strict=True):
            x, s = block.step(x, s)
            new_state.append(s)
        return self.head(self.norm(x)), new_state

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def state_size(self, length: int = 1) -> int:
        """Floats carried per sequence by `step` after `length` tokens."""
        return sum(int(b.mixer.state_size(length)) for b in self.blocks)

    @property
    def kernel(self) -> str:
        """The code path(s) `forward` takes on the model's current device, e.g. "ref+sdpa"."""
        return self._kernels("kernel_name")

    @property
    def step_kernel(self) -> str:
        """The code path(s) `step` takes (streaming, as the probe runs) on the current device."""
        return self._kernels("step_kernel_name")

    def _kernels(self, method: str) -> str:
        names: list[str] = []
        for b in self.blocks:
            name_of = getattr(b.mixer, method, None) or getattr(b.mixer, "kernel_name", None)
            for k in (name_of(self.device) if name_of is not None else "ref").split("+"):
                if k not in names:
                    names.append(k)
        return "+".join(names)

"""Recurrence-complete frame model (Keiblinger, 2025): attention inside frames, an LSTM across.

Tokens are grouped into frames of `frame` tokens. A frame head (causal self-attention and an
MLP, over the frame's own tokens only) embeds each token; its output at a frame's last token,
which has seen the whole frame, is the frame's summary, and an LSTM runs over the summaries.
Each token's output combines the LSTM state after every frame it has seen whole with the frame
head's output at that token: the state after the previous frames, and for a frame's last token
the state after its own frame. So the model is causal, parallel inside a frame and serial
across frames: a true recurrence h_j = f(h_{j-1}, frame_j), the "recurrence-complete" property
the paper argues time-parallel models lack. frame=1 is an LSTM with a per-token head (attention
over one token and an MLP); large frames approach a windowed Transformer.

The paper (as we could read it) fixes a frame head and an LSTM across frames, not how a token
inside a frame reads the recurrent state. Its last token reads the state after its own frame
because a token that saw its frame whole can: without it, frame=1 answered each token from the
state before it, a linear mix that cannot XOR the token into the state, and at ~25k parameters
it did not learn parity in 1,000 steps (validation 0.58 to 0.60, one seed), where with it it
learns parity, the 2x2 torus walk and the jump sum on 3 of 3 seeds
(results/reference/rc-frame-frames/). A larger frame asks the in-frame attention
to aggregate the frame itself (parity over 8 tokens for frame=8), which is what time-parallel
models find hard: see that study for which frame sizes learn which task.

`step` streams frame by frame: the tokens of a frame not yet complete are kept in the state,
and the frame head is rerun over them as the frame fills (it is causal, so the outputs already
given do not change); the LSTM advances once per complete frame. The paper's exact layer sizes
are not public; this is our operational version.

Kernel: the frame head's attention path (`causal_attention`: SDPA, or flash-attn on CUDA) and
the LSTM's (cuDNN on CUDA, else "ref").
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from statebench.models.base import Mixer
from statebench.models.ops.attention import attention_kernel, causal_attention
from statebench.models.registry import register_arch
from statebench.models.transformer import default_heads
from torch import nn
from torch.nn import functional as F


class FrameState(NamedTuple):
    """LSTM (h, c) [1, B, D] after the complete frames, and the current frame's inputs so far."""

    h: torch.Tensor
    c: torch.Tensor
    pending: torch.Tensor  # [B, k, D], k < frame


@register_arch("rc_frame")
class RCFrameMixer(Mixer):
    """Frame head (causal attention + MLP inside a frame) and an LSTM over frame summaries."""

    description = "Recurrence-complete frames: attention inside a frame, LSTM across"

    time_parallel = False  # an LSTM across frames: a serial update, recurrence-complete

    default_mlp = "none"  # the frame head has its own MLP (as an LSTM block has none)
    conformance_options = [{}, {"frame": 1}, {"frame": 3}, {"frame": 4}]

    def __init__(
        self, d_model: int, layer_idx: int = 0, frame: int = 8, n_heads: int | None = None
    ) -> None:
        super().__init__(d_model, layer_idx)
        if not isinstance(frame, int) or isinstance(frame, bool) or frame < 1:
            raise ValueError(f"rc_frame: frame={frame!r} must be an integer >= 1")
        n_heads = default_heads(d_model) if n_heads is None else n_heads
        if not isinstance(n_heads, int) or n_heads < 1 or d_model % n_heads:
            raise ValueError(f"rc_frame: n_heads={n_heads!r} must divide d_model={d_model}")
        self.frame, self.n_heads, self.head_dim = frame, n_heads, d_model // n_heads
        self.position = nn.Parameter(torch.randn(frame, d_model) * 0.02)  # place in the frame
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.attn_out = nn.Linear(d_model, d_model, bias=False)
        self.mlp_norm = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model)
        )
        self.lstm = nn.LSTM(d_model, d_model, batch_first=True)
        self.combine = nn.Linear(2 * d_model, d_model)

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        """Frame head over frames x [N, F', D] (F' <= frame, each starting a frame)."""
        n, f, d = x.shape
        x = x + self.position[:f]
        q, k, v = self.qkv(x).view(n, f, 3, self.n_heads, self.head_dim).unbind(2)
        x = x + self.attn_out(causal_attention(q, k, v).reshape(n, f, d))
        return x + self.mlp(self.mlp_norm(x))

    def _run(
        self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Outputs for x [B, T, D] starting at a frame boundary, and (h, c) after its complete
        frames (the trailing partial frame, if any, gets outputs but no LSTM step)."""
        b, t, d = x.shape
        size = self.frame
        n_full, n = t // size, -(-t // size)
        padded = F.pad(x, (0, 0, 0, n * size - t))  # zeros after the end: causal, never seen
        heads = self._head(padded.view(b * n, size, d)).view(b, n, size, d)
        states = h[0][:, None]  # states[:, j]: the LSTM state entering frame j
        if n_full:
            after, (h, c) = self.lstm(heads[:, :n_full, -1], (h, c))
            states = torch.cat((states, after), dim=1)
        # each token reads the state after every frame it has seen whole: the frames before
        # its own, and its own frame too when it is that frame's last token
        seen = states[:, :n, None].expand(b, n, size, d)
        if n_full:
            last = torch.zeros(size, dtype=torch.bool, device=x.device)
            last[-1] = True
            own = states[:, 1 : n_full + 1, None].expand(b, n_full, size, d)
            seen = torch.cat(
                (torch.where(last[:, None], own, seen[:, :n_full]), seen[:, n_full:]), 1
            )
        y = self.combine(torch.cat((heads, seen), dim=-1)).view(b, n * size, d)
        return y[:, :t], h, c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state = self.init_state(x.shape[0], x.device, x.dtype)
        return self._run(x, state.h, state.c)[0]

    def init_state(self, batch_size, device, dtype) -> FrameState:
        z = torch.zeros(1, batch_size, self.d_model, device=device, dtype=dtype)
        pending = torch.zeros(batch_size, 0, self.d_model, device=device, dtype=dtype)
        return FrameState(z, z.clone(), pending)

    def step(self, x: torch.Tensor, state: FrameState) -> tuple[torch.Tensor, FrameState]:
        seen = state.pending.shape[1]
        frames = torch.cat((state.pending, x), dim=1)
        y, h, c = self._run(frames, state.h, state.c)
        done = frames.shape[1] // self.frame * self.frame
        return y[:, seen:], FrameState(h, c, frames[:, done:])

    def state_size(self, length: int) -> int:
        """h and c, plus the partial frame's inputs: at most frame - 1 of them (the most that any
        point of a stream this long holds, so the size never shrinks as the stream grows)."""
        return (2 + min(int(length), self.frame - 1)) * self.d_model

    def kernel_name(self, device: torch.device) -> str:
        attention = attention_kernel(device, self.qkv.weight.dtype, self.head_dim)
        cudnn = torch.backends.cudnn.enabled and torch.backends.cudnn.is_available()
        return f"{attention}+{'cudnn' if device.type == 'cuda' and cudnn else 'ref'}"

"""The `fla:<Layer>` adapter: refused on a CPU, the wrapper's contract checked on a stand-in layer
that speaks fla's cache protocol, and real fla layers through the conformance suite on CUDA."""

from __future__ import annotations

import pytest
import torch
from statebench.models import arch_class, arch_option_names, build_model, fla_layer
from statebench.models.testing import check_adapter
from torch import nn


class _Cache:
    """fla's Cache as layers use it: `len`, `cache[i]` -> state dict, `update(layer_idx=...)`."""

    def __init__(self) -> None:
        self.layers: list[dict] = []

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> dict:
        return self.layers[i]

    def update(self, layer_idx: int, offset: int = 1, **states) -> dict:
        while len(self.layers) <= layer_idx:
            self.layers.append({})
        self.layers[layer_idx].update(states)
        return self.layers[layer_idx]


class ToyLayer(nn.Module):
    """A decayed running sum with a width-2 conv, written like an fla layer (cache in place)."""

    def __init__(self, hidden_size: int = 64, decay: float = 0.9, layer_idx: int | None = None):
        super().__init__()
        self.layer_idx, self.decay = layer_idx, decay
        self.proj = nn.Linear(hidden_size, hidden_size)
        self.conv = nn.Parameter(torch.randn(2, hidden_size))

    def forward(self, hidden_states, attention_mask=None, past_key_values=None, use_cache=False):
        x = self.proj(hidden_states)
        last = past_key_values[self.layer_idx] if past_key_values and len(past_key_values) else {}
        prev = last.get("conv_state", torch.zeros_like(x[:, :1]))
        h = last.get("recurrent_state", torch.zeros_like(x[:, 0]))
        x_prev = torch.cat([prev, x[:, :-1]], dim=1)
        u = self.conv[0] * x_prev + self.conv[1] * x
        outs = []
        for t in range(u.shape[1]):
            h = self.decay * h + u[:, t]
            outs.append(h)
        if past_key_values is not None:
            if "conv_state" in last:
                last["conv_state"].copy_(x[:, -1:])  # in place, as fla's decode step does
            past_key_values.update(
                layer_idx=self.layer_idx, recurrent_state=h, conv_state=x[:, -1:].clone()
            )
        return torch.stack(outs, dim=1), None, past_key_values


@pytest.fixture
def toy_arch(monkeypatch):
    """`fla:ToyLayer` resolving to the stand-in, with fla's cache replaced by `_Cache`."""
    monkeypatch.setattr(fla_layer.FlaMixer, "new_cache", staticmethod(_Cache))
    cls = fla_layer.mixer_class_for("fla:ToyLayer", ToyLayer)
    monkeypatch.setattr(fla_layer.FlaMixer, "_check_device", lambda self, x: None)
    return cls


def test_refused_on_a_cpu_with_one_clear_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    fla_layer.fla_arch_class.cache_clear()
    with pytest.raises(ValueError) as info:
        arch_class("fla:GatedDeltaNet")
    message = str(info.value)
    assert "\n" not in message
    assert "'fla:GatedDeltaNet'" in message and "CUDA" in message and "deltanet" in message
    with pytest.raises(ValueError, match="CUDA"):
        build_model("fla:GLA", 5, 3, d_model=16)


def test_cpu_tensors_are_refused_at_call_time():
    mixer = fla_layer.mixer_class_for("fla:ToyLayer", ToyLayer)(8)
    with pytest.raises(RuntimeError, match="fla:ToyLayer runs on CUDA only"):
        mixer(torch.zeros(1, 3, 8))


def test_options_are_the_fla_layers_keywords(toy_arch):
    assert arch_option_names(toy_arch)[:1] == ["decay"]
    with pytest.raises(ValueError, match="unknown option.*'decai'"):
        build_model(toy_arch, 5, 3, d_model=8, decai=0.5)
    model = build_model(toy_arch, 5, 3, d_model=8, n_layers=2, decay=0.5)
    assert all(b.mixer.layer.decay == 0.5 and b.mixer.layer.layer_idx == 0 for b in model.blocks)
    assert model.kernel == "fla"


def test_wrapper_streams_through_the_cache_and_conforms(toy_arch):
    report = check_adapter(toy_arch)
    assert "step" in report["checks"] and "state_size" in report["checks"]
    # recurrent state + conv state, d_model 16, per layer, constant in length
    assert report["state_size"] == {1: 64, 16: 64, 64: 64}


def test_step_leaves_the_given_state_alone(toy_arch):
    mixer = toy_arch(4).eval()
    x = torch.randn(2, 1, 4)
    state = mixer.init_state(2, None, torch.float32)
    _, s1 = mixer.step(x, state)
    before = {k: v.clone() for k, v in s1[0].items()}
    y1, _ = mixer.step(x, s1)
    y2, _ = mixer.step(x, s1)  # the same state twice: the same answer
    torch.testing.assert_close(y1, y2)
    for k, v in s1[0].items():
        torch.testing.assert_close(v, before[k])


@pytest.mark.gpu
@pytest.mark.parametrize(
    "name, options",
    [
        ("fla:GatedDeltaNet", {"head_dim": 16, "num_heads": 2, "expand_v": 1}),
        ("fla:GatedDeltaNet", {"head_dim": 16, "num_heads": 2, "allow_neg_eigval": True}),
        ("fla:DeltaNet", {"num_heads": 2}),
        ("fla:GLA", {"num_heads": 2}),
    ],
)
def test_fla_layers_conform_on_cuda(name, options):
    if not torch.cuda.is_available():
        pytest.skip("fla layers need CUDA")
    pytest.importorskip("fla.layers")
    torch.backends.cuda.matmul.allow_tf32 = False
    # Triton's fp32 dots may round through TF32 and the chunked and recurrent kernels sum in
    # different orders, so step == forward holds to ~1e-3, not to fp32 precision.
    report = check_adapter(name, d_model=64, device="cuda", atol=2e-3, **options)
    assert report["kernel"] == "fla" and report["state_size"][1] > 0

"""The conformance suite, run three ways: on every registered adapter and each of its declared
option sets; on a third-party adapter found by dotted path and by entry point; and on broken
adapters, which it must reject with a message naming what broke."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import statebench.models as models
import torch
from statebench.models import Mixer, arch_class, arch_option_names, build_model, list_archs
from statebench.models.testing import ConformanceError, causal_cuts, check_adapter
from torch import nn

EXT_GRU = Path(__file__).parents[1] / "fixtures" / "ext_gru"
ALL_CHECKS = [
    "build",
    "mixer output",
    "parameters",
    "shapes",
    "determinism",
    "batch independence",
    "causality",
    "step",
    "gradients",
    "length",
    "num_params",
    "state_size",
    "kernel",
]

# Each registered arch with the option sets its mixer declares (Mixer.conformance_options).
ARCH_OPTION_SETS = {
    a: list(getattr(arch_class(a), "conformance_options", [{}])) for a in list_archs()
}


def _case_id(arch: str, options: dict) -> str:
    return "-".join([arch, *(f"{k}={v}" for k, v in options.items())])


CASES = [
    pytest.param(arch, opts, id=_case_id(arch, opts))
    for arch, option_sets in ARCH_OPTION_SETS.items()
    for opts in option_sets
]


@pytest.mark.parametrize("arch, options", CASES)
def test_registered_adapter_conforms(arch, options):
    report = check_adapter(arch, every_option_set=False, **options)
    assert report["checks"] == ALL_CHECKS
    assert report["params"] == build_model(arch, 11, 7, 16, 2, **options).num_params()


def test_builtins_are_registered_with_option_sets():
    assert {"lstm", "transformer"} <= set(ARCH_OPTION_SETS)
    pos = {opts["pos"] for opts in ARCH_OPTION_SETS["transformer"]}
    assert pos == {"none", "sinusoidal", "learned", "rope", "alibi"}


def _covered(arch: str, *keys: str) -> set[tuple]:
    """The combinations of `keys` the arch's option sets reach, defaults filled in."""
    defaults = {k: p.default for k, p in inspect.signature(arch_class(arch)).parameters.items()}
    return {tuple(o.get(k, defaults[k]) for k in keys) for o in ARCH_OPTION_SETS[arch]}


def test_every_code_path_of_the_state_tracking_archs_is_checked():
    """Each option that changes a code path is checked both ways (the conformance run above)."""
    eigens = {"[0,1]", "[-1,1]"}
    assert _covered("deltanet", "eigen", "gated") == {(e, g) for e in eigens for g in (False, True)}
    assert {e for (e,) in _covered("mamba2", "eigen")} == eigens
    assert {e for (e,) in _covered("mamba", "eigen")} == eigens
    assert {c for (c,) in _covered("xlstm", "cell")} == {"slstm", "mlstm"}


@pytest.mark.parametrize("arch", list_archs())
def test_declared_option_sets_are_valid(arch):
    """A typo in conformance_options would otherwise surface as an obscure build failure."""
    option_sets = getattr(arch_class(arch), "conformance_options", [{}])
    assert isinstance(option_sets, list) and option_sets, "need at least one option set"
    allowed = set(arch_option_names(arch))
    for opts in option_sets:
        assert isinstance(opts, dict) and set(opts) <= allowed, (opts, allowed)


# --- a third-party adapter, with no change to models/ --------------------------------------


def test_external_adapter_by_dotted_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXT_GRU))
    report = check_adapter("ext_gru:GRUMixer")
    assert report["checks"] == ALL_CHECKS
    assert report["state_size"] == {1: 32, 16: 32, 64: 32}  # d_model per layer, O(1)
    model = build_model("ext_gru:GRUMixer", vocab_size=5, num_classes=3, d_model=8, n_layers=3)
    assert model.arch == "ext_gru:GRUMixer" and model.kernel == "ref"
    assert model(torch.zeros(2, 9, dtype=torch.long)).shape == (2, 9, 3)


def test_external_adapter_by_entry_point(monkeypatch, tmp_path):
    dist = tmp_path / "ext_gru-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ext_gru\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[statebench.archs]\ngru = ext_gru:GRUMixer\n")
    monkeypatch.syspath_prepend(str(EXT_GRU))
    monkeypatch.syspath_prepend(str(tmp_path))

    assert "gru" in list_archs()
    assert arch_class("gru").__name__ == "GRUMixer"
    assert check_adapter("gru")["checks"] == ALL_CHECKS
    model = build_model("gru", vocab_size=5, num_classes=3, d_model=8, n_layers=2, seed=1)
    assert model.arch == "gru" and model.state_size(100) == 16

    monkeypatch.undo()  # uninstalled: gone again, and nothing was registered in models/
    assert "gru" not in list_archs()
    assert "gru" not in models.registry._ARCHS


# --- broken adapters are caught, and named -------------------------------------------------


class PrefixMean(Mixer):
    """A correct toy adapter: the projected mean of the prefix, carried as (sum, count)."""

    default_mlp = "none"

    def __init__(self, d_model: int, layer_idx: int = 0) -> None:
        super().__init__(d_model, layer_idx)
        self.proj = nn.Linear(d_model, d_model)

    def _mean(self, x, total, count):
        sums = total[:, None] + x.cumsum(dim=1)
        counts = count + torch.arange(1, x.shape[1] + 1, device=x.device, dtype=x.dtype)
        return self.proj(sums / counts[:, None]), sums[:, -1]

    def forward(self, x):
        return self._mean(x, torch.zeros_like(x[:, 0]), 0)[0]

    def init_state(self, batch_size, device, dtype):
        return torch.zeros(batch_size, self.d_model, device=device, dtype=dtype), 0

    def step(self, x, state):
        y, total = self._mean(x, *state)
        return y, (total, state[1] + x.shape[1])

    def state_size(self, length):
        return self.d_model + 1


class Leaky(PrefixMean):
    """Mixes in the mean over the whole sequence: sees the future."""

    def forward(self, x):
        return self.proj(x) + x.mean(dim=1, keepdim=True)

    def step(self, x, state):
        return self.forward(x), state


class Forgetful(PrefixMean):
    """Causal, but step() ignores its state and restarts every chunk."""

    def step(self, x, state):
        return self.forward(x), state


class BatchLeaky(PrefixMean):
    """Causal in time, but mixes across the batch (a batch-norm-like bug)."""

    def forward(self, x):
        return super().forward(x) + x.mean(dim=0, keepdim=True)


class Unseeded(PrefixMean):
    """Initializes from a fresh, unseeded generator."""

    def __init__(self, d_model, layer_idx=0):
        super().__init__(d_model, layer_idx)
        gen = torch.Generator()
        gen.seed()
        self.scale = nn.Parameter(1 + torch.rand(d_model, generator=gen))

    def forward(self, x):
        return super().forward(x) * self.scale


class DeadParam(PrefixMean):
    """Holds a parameter that nothing uses."""

    def __init__(self, d_model, layer_idx=0):
        super().__init__(d_model, layer_idx)
        self.unused = nn.Linear(d_model, d_model)


class UnenforcedMax(PrefixMean):
    """Declares a maximum length but runs past it anyway."""

    max_length = 8


class FloatState(PrefixMean):
    def state_size(self, length):
        return 1.5 * self.d_model


class NoStep(Mixer):
    """Implements forward only."""

    def __init__(self, d_model, layer_idx=0):
        super().__init__(d_model, layer_idx)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x):
        return self.proj(x)


class IntegerOut(PrefixMean):
    """Returns integers: the residual stream would promote them back to float unnoticed."""

    def forward(self, x):
        return super().forward(x).round().long()


class OnePosition(PrefixMean):
    """Returns [B, 1, D]: the residual stream would broadcast it over every position."""

    def forward(self, x):
        return super().forward(x)[:, -1:]


class NoWeights(PrefixMean):
    """The prefix mean without its projection: nothing in the mixer can learn."""

    def __init__(self, d_model: int, layer_idx: int = 0) -> None:
        Mixer.__init__(self, d_model, layer_idx)
        self.proj = nn.Identity()


class DeclaredNoWeights(NoWeights):
    parameter_free = True


class PeeksBeyond32(PrefixMean):
    """Causal on inputs up to 32 tokens; on longer ones every position sees the last token."""

    def forward(self, x):
        y = super().forward(x)
        return y if x.shape[1] <= 32 else y + x[:, -1:]


class StepPeeks(PrefixMean):
    """forward is causal; step mixes the end of each chunk in (a probe streams chunks)."""

    def step(self, x, state):
        y, state = super().step(x, state)
        return (y + x[:, -1:] if x.shape[1] > 8 else y), state


def test_the_control_adapter_passes():
    assert check_adapter(PrefixMean)["checks"] == ALL_CHECKS


@pytest.mark.parametrize(
    "cls, check, words",
    [
        (Leaky, "causality", ["causal", "position"]),
        (Forgetful, "step", ["step()", "forward()", "chunks of 1"]),
        (BatchLeaky, "batch independence", ["row 0"]),
        (Unseeded, "determinism", ["seed", "scale"]),
        (DeadParam, "gradients", ["unused.weight"]),
        (UnenforcedMax, "length", ["max_length=8"]),
        (FloatState, "state_size", ["not a non-negative int"]),
        (NoStep, "step", ["NotImplementedError", "init_state"]),
        (IntegerOut, "mixer output", ["torch.int64", "float"]),
        (OnePosition, "mixer output", ["shape [2, 1, 16]"]),
        (NoWeights, "parameters", ["no trainable parameter", "parameter_free"]),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_broken_adapter_is_rejected_by_name(cls, check, words):
    with pytest.raises(ConformanceError) as info:
        check_adapter(cls)
    err = info.value
    assert isinstance(err, AssertionError) and err.check == check
    message = str(err)
    assert message.startswith(f"{__name__}:{cls.__name__}: {check} check failed")
    for word in words:
        assert word in message, message


def test_check_is_deterministic_and_leaves_global_rng_alone():
    before = torch.get_rng_state()
    first, second = check_adapter(PrefixMean), check_adapter(PrefixMean)
    assert first == second
    assert torch.equal(torch.get_rng_state(), before)


class ScaledPrefixMean(PrefixMean):
    """PrefixMean with an option, listing two option sets to check."""

    conformance_options = [{}, {"scale": 2.0}]

    def __init__(self, d_model: int, layer_idx: int = 0, scale: float = 1.0) -> None:
        super().__init__(d_model, layer_idx)
        self.scale = scale


def test_check_adapter_by_name_runs_every_listed_option_set():
    report = check_adapter(ScaledPrefixMean)
    assert [r["options"] for r in report["option_sets"]] == [{}, {"scale": 2.0}]
    assert all(r["checks"] == ALL_CHECKS for r in report["option_sets"])
    assert "option_sets" not in check_adapter(ScaledPrefixMean, scale=3.0)


def test_a_declared_parameter_free_mixer_passes():
    assert check_adapter(DeclaredNoWeights)["checks"] == ALL_CHECKS


def test_causality_at_a_long_length_catches_what_the_short_check_cannot():
    assert check_adapter(PeeksBeyond32)["checks"] == ALL_CHECKS  # 16 tokens: looks causal
    with pytest.raises(ConformanceError, match="long causality check failed") as info:
        check_adapter(PeeksBeyond32, causal_len=64)
    assert "at length 64" in str(info.value) and "forward()" in str(info.value)
    report = check_adapter(PrefixMean, causal_len=64, stream_len=128)
    assert report["checks"] == [*ALL_CHECKS, "long causality", "streamed causality"]
    assert (report["causal_len"], report["stream_len"]) == (64, 128)


def test_streamed_causality_checks_step_on_a_whole_chunk():
    assert "long causality" in check_adapter(StepPeeks, causal_len=64)["checks"]
    with pytest.raises(ConformanceError, match="streamed causality check failed") as info:
        check_adapter(StepPeeks, causal_len=16, stream_len=64)
    assert "step() changed its output" in str(info.value)


def test_long_cuts_reach_past_the_short_check_and_cover_the_length():
    cuts = causal_cuts(4096)
    assert {8, 2048, 4094} <= set(cuts) and len(cuts) >= 4
    assert all(0 <= c <= 4094 for c in cuts) and cuts == causal_cuts(4096)
    assert causal_cuts(1) == [] and causal_cuts(2) == [0]

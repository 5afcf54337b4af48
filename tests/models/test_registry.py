"""The registry: name resolution, option validation, seeded builds and parameter matching."""

from __future__ import annotations

import pytest
import torch
from statebench.models import (
    Mixer,
    arch_class,
    arch_option_names,
    build_model,
    match_params,
    register_arch,
)
from statebench.models.lstm import LSTMMixer
from statebench.models.transformer import TransformerMixer
from torch import nn


def test_names_resolve_to_their_classes():
    assert arch_class("lstm") is LSTMMixer
    assert arch_class("transformer") is TransformerMixer
    assert arch_class("statebench.models.lstm:LSTMMixer") is LSTMMixer
    assert arch_class(LSTMMixer) is LSTMMixer


def test_unknown_arch_error_lists_close_names():
    with pytest.raises(
        ValueError, match=r"unknown architecture 'transfomer' \(did you mean transformer"
    ):
        build_model("transfomer", 5, 3)
    with pytest.raises(ValueError, match="known: .*lstm.*transformer.*dotted path"):
        arch_class("zzz")


@pytest.mark.parametrize(
    "path, reason",
    [
        ("no_such_module_xyz:Mixer", "cannot import"),
        ("statebench.models.lstm:Nope", "cannot import"),
        ("torch:tensor", "not an nn.Module"),
    ],
)
def test_bad_dotted_path_says_why(path, reason):
    with pytest.raises(ValueError, match=reason):
        arch_class(path)


def test_unknown_option_error_lists_allowed_ones():
    with pytest.raises(ValueError, match="unknown option.*'heads'") as info:
        build_model("transformer", 5, 3, d_model=16, n_layers=1, heads=2)
    for allowed in ("n_heads", "pos", "max_len", "mlp", "mlp_ratio"):
        assert allowed in str(info.value)
    assert arch_option_names("lstm") == ["mlp", "mlp_ratio"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"d_model": 0}, "d_model=0 must be an integer >= 1"),
        ({"n_layers": 1.5}, "n_layers=1.5"),
        ({"mlp": "relu"}, "mlp='relu' is not one of"),
        ({"pos": "xpos"}, "pos='xpos' is not one of"),
    ],
)
def test_bad_values_fail_before_building(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_model("transformer", 5, 3, **{"d_model": 16, "n_layers": 1, **kwargs})


def test_backbone_options_shape_the_blocks():
    plain = build_model("lstm", 5, 3, d_model=16, n_layers=2)
    gated = build_model("lstm", 5, 3, d_model=16, n_layers=2, mlp="gated", mlp_ratio=2.0)
    assert all(b.mlp is None for b in plain.blocks)  # LSTM's default_mlp is "none"
    assert gated.blocks[0].mlp.up.out_features == 2 * 32
    assert gated.num_params() > plain.num_params()


def test_mixer_with_var_kwargs_validates_its_own_options():
    class Open(Mixer):
        def __init__(self, d_model, layer_idx=0, **options):
            super().__init__(d_model, layer_idx)
            self.options = options
            self.proj = nn.Linear(d_model, d_model)

    model = build_model(Open, 5, 3, d_model=8, n_layers=1, anything=1)
    assert model.blocks[0].mixer.options == {"anything": 1}


def test_register_arch_refuses_to_shadow_a_name():
    class Impostor(LSTMMixer):
        pass

    with pytest.raises(ValueError, match="already registered"):
        register_arch("lstm")(Impostor)
    assert arch_class("lstm") is LSTMMixer
    assert register_arch("lstm")(LSTMMixer) is LSTMMixer  # re-registering itself is harmless


@pytest.mark.parametrize("arch", ["lstm", "transformer"])
def test_same_seed_same_params_other_seed_other_params(arch):
    before = torch.get_rng_state()
    a, b, c = (build_model(arch, 7, 3, 16, 2, seed=s) for s in (3, 3, 4))
    assert torch.equal(torch.get_rng_state(), before)  # seeding does not touch the global RNG
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


@pytest.mark.parametrize(
    "arch, options",
    [("lstm", {}), ("transformer", {}), ("transformer", {"pos": "learned", "max_len": 256})],
)
@pytest.mark.parametrize("target", [100_000, 400_000])
def test_match_params_lands_within_ten_percent(arch, options, target):
    d = match_params(arch, target, vocab_size=16, num_classes=8, n_layers=2, **options)
    assert d % 8 == 0
    got = build_model(arch, 16, 8, d, 2, **options).num_params()
    assert abs(got - target) <= 0.1 * target
    for other in (d - 8, d + 8):  # and no neighbour is closer
        if other > 0:
            size = build_model(arch, 16, 8, other, 2, **options).num_params()
            assert abs(size - target) >= abs(got - target)


def test_match_params_raises_when_no_width_fits():
    with pytest.raises(ValueError, match="within 10% .* even on a grid of 1"):
        match_params("lstm", 50, vocab_size=16, num_classes=8)
    with pytest.raises(ValueError, match="target_params"):
        match_params("lstm", 0, vocab_size=16, num_classes=8)


@pytest.mark.parametrize(
    "arch,target,n_layers",
    [("transformer", 30_000, 2), ("transformer", 50_000, 2), ("lstm", 60_000, 2)],
)
def test_match_params_refines_the_grid_when_the_budget_falls_between_widths(arch, target, n_layers):
    """The grid of 8 misses these budgets by more than 10% (LSTM at 60k: 52k or 67k)."""
    d = match_params(arch, target, vocab_size=16, num_classes=8, n_layers=n_layers)
    assert abs(build_model(arch, 16, 8, d, n_layers).num_params() - target) <= 0.1 * target


def test_match_params_skips_widths_the_arch_cannot_build():
    # griffin needs d_model divisible by 4 * n_heads; widths 8, 24, ... do not build
    d = match_params("griffin", 100_000, 5, 5, n_layers=3, n_heads=2)
    size = build_model("griffin", 5, 5, d, 3, n_heads=2).num_params()
    assert abs(size - 100_000) <= 10_000

"""Config loading, presets, overrides and the errors a user sees before any training."""

import pytest
from statebench.bench.config import (
    ConfigError,
    apply_override,
    list_presets,
    load_config,
    to_toml,
    validate,
)


def test_presets_ship_and_validate():
    presets = list_presets()
    assert {"smoke", "quick", "full", "deletang"} <= set(presets)
    assert all(presets.values()), "every preset has a one-line description"
    for name in presets:
        cfg = load_config(preset=name)
        assert cfg.name == name


@pytest.mark.parametrize("preset", ["full", "quick-probe", "quick"])
def test_presets_have_the_recurrence_complete_frame_model(preset):
    assert "rc_frame" in {a.name for a in load_config(preset=preset).archs}


@pytest.mark.parametrize("preset", ["full", "quick-probe"])
def test_presets_have_the_paper_tasks(preset):
    assert {"jumps", "maze"} <= {t.name for t in load_config(preset=preset).tasks}


def test_full_has_the_jumps_target_that_never_resynchronises():
    tasks = load_config(preset="full").tasks
    assert {"sum"} <= {t.options.get("target") for t in tasks if t.name == "jumps"}


def test_deletang_protocol():
    cfg = load_config(preset="deletang")
    assert cfg.eval.lengths == list(range(41, 501))
    assert cfg.eval.samples == 512
    assert (cfg.train.len_min, cfg.train.len_max, cfg.train.batch_size) == (1, 40, 128)
    assert cfg.train.optimizer == "adam" and cfg.train.grad_clip == 1.0
    assert sorted(cfg.train.lr) == [1e-4, 3e-4, 5e-4]
    assert all(t.options.get("readout") == "query" for t in cfg.tasks)  # the answer token
    assert cfg.score.aggregate == "max"
    sizes = {a.name: (a.d_model, a.n_layers, a.options) for a in cfg.archs}
    assert sizes["lstm"][:2] == (256, 1)
    assert sizes["transformer"] == (64, 5, {"n_heads": 8, "mlp_ratio": 4.0})
    # archs the paper did not have: the Transformer's parameter count
    import statebench.tasks as tasks
    from statebench.bench.run.cell import build_cell_model
    from statebench.bench.run.matrix import expand

    cells = {c.arch: c for c in expand(cfg) if c.task == "parity"}
    task = tasks.get_task("parity", readout="query")
    n = {a: build_cell_model(c, task).num_params() for a, c in cells.items()}
    for arch in set(n) - {"lstm", "transformer"}:
        assert abs(n[arch] - n["transformer"]) <= 0.1 * n["transformer"], (arch, n)


def test_set_overrides_compose_with_preset():
    cfg = load_config(preset="smoke", overrides=["train.steps=50", "eval.lengths=[3, 5]"])
    assert cfg.train.steps == 50
    assert cfg.eval.lengths == [3, 5]
    assert cfg.archs[0].name == "lstm"  # the rest of the preset stays


def test_set_wrong_key_names_valid_keys():
    with pytest.raises(ConfigError, match=r"unknown key 'stepz'.*valid keys:.*steps"):
        load_config(preset="smoke", overrides=["train.stepz=5"])
    with pytest.raises(ConfigError, match=r"unknown key 'trian'.*valid keys:.*train"):
        apply_override({}, "trian.steps=5")


def test_unknown_arch_names_close_matches():
    with pytest.raises(ConfigError, match=r"unknown architecture 'lstn'.*did you mean lstm"):
        load_config(preset="smoke", archs=["lstn"])


def test_unknown_task_names_close_matches():
    with pytest.raises(ConfigError, match=r"unknown task 'parityy'.*did you mean parity"):
        load_config(preset="smoke", tasks=["parityy"])


def test_unknown_option_is_an_error():
    with pytest.raises(ConfigError, match=r"unknown option.*'depth'.*allowed"):
        validate({"archs": [{"name": "lstm", "options": {"depth": 3}}], "tasks": ["parity"]})
    with pytest.raises(ConfigError, match=r"unknown option.*'kk'"):
        validate({"archs": ["lstm"], "tasks": [{"name": "parity", "options": {"kk": 3}}]})


def test_eval_length_below_one():
    with pytest.raises(ConfigError, match=r"eval\.lengths.*>= 1.*\[0\]"):
        load_config(preset="smoke", overrides=["eval.lengths=[0, 4]"])


def test_malformed_toml_names_the_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\narchs = ["lstm"\ntasks = ["parity"]\n')
    with pytest.raises(ConfigError, match=r"malformed TOML.*line 3"):
        load_config(config_file=path)


def test_unknown_preset():
    with pytest.raises(ConfigError, match=r"unknown preset 'smok'.*did you mean smoke"):
        load_config(preset="smok")


def test_field_type_error_names_field_and_value():
    with pytest.raises(ConfigError, match=r"train\.batch_size.*got 0"):
        load_config(preset="smoke", overrides=["train.batch_size=0"])


def test_toml_roundtrip(tmp_path):
    cfg = load_config(preset="smoke")
    path = tmp_path / "c.toml"
    path.write_text(to_toml(cfg))
    assert load_config(config_file=path) == cfg
    tracked = ["tracking.backend=wandb", "tracking.entity=me", "tracking.mode=offline"]
    cfg = load_config(preset="smoke", overrides=tracked)
    path.write_text(to_toml(cfg))
    again = load_config(config_file=path)
    assert again == cfg and again.tracking.entity == "me"


def test_quick_preset_covers_every_family_and_the_five_tasks():
    cfg = load_config(preset="quick")
    assert {"lstm", "transformer", "mamba", "retnet", "griffin"} <= {a.name for a in cfg.archs}
    assert [t.name for t in cfg.tasks] == [
        "parity",
        "count_mod",
        "modular_sum",
        "permutation",
        "flipflop",
    ]
    assert cfg.seeds == [0] and cfg.model.param_budget  # compared at matched size

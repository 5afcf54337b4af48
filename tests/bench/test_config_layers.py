"""Layered configuration: a config file builds on a preset (its `base`, `--preset`, or the
command's default), `--set` goes on top, and `show-config --show-origin` names the layer of
every value."""

from __future__ import annotations

import logging

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

import pytest
from statebench.bench import store
from statebench.bench.cli import app
from statebench.bench.config import ConfigError, load_config, preset_dict
from typer.testing import CliRunner

ARCHS_AND_TASKS = 'archs = ["lstm", "transformer"]\ntasks = ["parity"]\n'


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


@pytest.fixture
def my_toml(tmp_path):
    def write(text: str = ARCHS_AND_TASKS):
        path = tmp_path / "my.toml"
        path.write_text(text)
        return path

    return write


def test_a_file_of_archs_and_tasks_gets_the_quick_presets_budget(my_toml):
    cfg = load_config(config_file=my_toml())
    quick = load_config(preset="quick")
    assert [a.name for a in cfg.archs] == ["lstm", "transformer"]
    assert [t.name for t in cfg.tasks] == ["parity"]
    assert cfg.model == quick.model and cfg.model.param_budget == 100_000
    assert cfg.train == quick.train and cfg.eval == quick.eval and cfg.seeds == quick.seeds
    assert cfg.name == "custom"  # the file's run is its own, not the quick run


def test_run_with_that_file_matches_parameters_at_the_quick_budget(my_toml, tmp_path):
    out = tmp_path / "run"
    result = invoke(
        "run", "--config", my_toml(), "--set", "train.steps=1", "--set", "eval.samples=2",
        "--set", "eval.lengths=[33]", "--out", out, "--no-report", "--allow-failures",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = store.load(out).drop_duplicates("cell")
    assert set(rows["arch"]) == {"lstm", "transformer"}
    assert (rows["param_budget"] == 100_000).all()
    assert rows["params"].between(90_000, 110_000).all(), rows[["arch", "params"]]
    assert (rows["train_len_max"] == 32).all() and (rows["n_layers"] == 2).all()


def test_preset_file_and_set_layer_in_that_order(my_toml):
    path = my_toml(ARCHS_AND_TASKS + "[train]\nsteps = 70\nlr = [3e-3]\n[eval]\nsamples = 16\n")
    cfg = load_config(preset="quick", config_file=path, overrides=["train.steps=50"])
    assert cfg.train.steps == 50  # --set over the file
    assert cfg.train.lr == [3e-3] and cfg.eval.samples == 16  # the file over the preset
    assert cfg.train.batch_size == 32 and cfg.train.warmup_steps == 30  # the preset's table
    assert cfg.eval.lengths == [16, 32, 64, 128, 256] and cfg.model.param_budget == 100_000
    assert cfg.train.optimizer == "adamw"  # no layer sets it: the built-in default


def test_show_origin_names_the_layer_of_every_value_and_reads_back(my_toml, tmp_path):
    path = my_toml(ARCHS_AND_TASKS + "[train]\nsteps = 70\nlr = [3e-3]\n")
    args = ["show-config", "--preset", "quick", "--config", path, "--set", "train.steps=50"]
    result = invoke(*args, "--show-origin")
    assert result.exit_code == 0, result.output
    lines = {line.split(" = ")[0]: line for line in result.output.splitlines()}
    assert lines["train.steps"].endswith("# --set train.steps=50")
    assert lines["train.lr"].endswith(f"# {path}")
    assert lines["archs"].endswith(f"# {path}")
    assert lines["train.batch_size"].endswith("# preset quick")
    assert lines["model.param_budget"].endswith("# preset quick")
    assert lines["train.optimizer"].endswith("# default")
    assert lines["executor.kind"].endswith("# default")
    saved = tmp_path / "explained.toml"
    saved.write_text(result.output)
    tomllib.loads(result.output)  # valid TOML as printed
    plain = invoke(*args)
    assert load_config(config_file=saved) == load_config(
        preset="quick", config_file=path, overrides=["train.steps=50"]
    )
    assert plain.output.startswith('base = "none"\n')


def test_a_file_names_its_own_base(my_toml):
    cfg = load_config(config_file=my_toml('base = "smoke"\n' + ARCHS_AND_TASKS))
    smoke = load_config(preset="smoke")
    assert cfg.train == smoke.train and cfg.model == smoke.model
    bare = load_config(config_file=my_toml('base = "none"\n' + ARCHS_AND_TASKS))
    assert bare.train.steps == 1000 and bare.model.param_budget is None  # typed defaults
    same = load_config(preset="smoke", config_file=my_toml('base = "smoke"\n' + ARCHS_AND_TASKS))
    assert same == cfg


def test_a_preset_that_disagrees_with_the_files_base_is_refused_in_one_line(my_toml, tmp_path):
    path = my_toml('base = "smoke"\n' + ARCHS_AND_TASKS)
    result = invoke("run", "--preset", "quick", "--config", path, "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert "--preset quick" in result.output and "'smoke'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
    with pytest.raises(ConfigError, match=r"unknown preset 'quik'.*did you mean quick"):
        load_config(config_file=my_toml('base = "quik"\n' + ARCHS_AND_TASKS))


def test_probe_builds_a_file_on_its_own_default_preset(my_toml):
    cfg = load_config(config_file=my_toml(), default_base="quick-probe")
    assert cfg.probe.max_len == 8192 and cfg.model.param_budget == 25_000


def test_a_width_that_the_budget_overrides_is_a_warning(my_toml, caplog):
    path = my_toml(ARCHS_AND_TASKS + "[model]\nd_model = 32\n")
    with caplog.at_level(logging.WARNING):
        load_config(config_file=path)
    assert "model.d_model = 32" in caplog.text and "param_budget = 0" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        cfg = load_config(config_file=path, overrides=["model.param_budget=0"])
    assert not caplog.text
    assert cfg.model.param_budget == 0 and {c.d_model for c in _cells(cfg)} == {32}


def _cells(cfg):
    from statebench.bench.run.matrix import expand

    cells = expand(cfg)
    assert all(c.param_budget is None for c in cells)  # 0 means none: the key stays the same
    return cells


def test_a_preset_variant_merges_its_base_table_by_table():
    full, bf16 = preset_dict("full"), preset_dict("full-bf16")
    assert bf16["dtype"] == "bfloat16" and bf16["train"] == full["train"]
    assert {k: v for k, v in bf16.items() if k not in ("dtype", "name", "description")} == {
        k: v for k, v in full.items() if k not in ("dtype", "name", "description")
    }


def test_the_printed_probe_command_keeps_the_runs_base(my_toml, tmp_path):
    from statebench.bench.cli.finish import RunArgs

    def command(path, preset=None):
        return RunArgs(preset, path, [], [], [], [], None).probe_command(tmp_path / "run")

    assert "--preset quick" in command(my_toml())  # probe alone would build on quick-probe
    assert "--preset" not in command(my_toml('base = "smoke"\n' + ARCHS_AND_TASKS))
    assert "--preset smoke" in command(my_toml(), preset="smoke")

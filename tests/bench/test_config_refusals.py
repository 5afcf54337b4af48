"""Config values that would do nothing, or fail later, are refused when the config loads: one
message naming the field and what reads it or what is allowed."""

from __future__ import annotations

import shutil

import pytest
from statebench.bench.config import ConfigError, load_config
from statebench.bench.config.executor import ExecutorConfig
from statebench.bench.config.memory import check_fits, sequence_bytes, size_text
from statebench.bench.run.executors import ExecutorUnavailable, from_config

REFUSED = [
    (["eval.lengths={start=4, stop=8, step=0}"], "step >= 1"),
    (["eval.lengths={start=4, stop=8, stp=2}"], "unknown key(s) stp"),
    (["eval.lengths={start='a', stop=8}"], "are integers"),
    (["eval.lengths={start=9, stop=8}"], "1 <= start <= stop"),
    (["train.val_lengths={stop=8}"], "no start"),
    (["seeds=[9223372036854775808]"], "[0, 2**63)"),
    (["probe.seed=-1"], "probe.seed"),
    (["executor.kind='pool'", "executor.address='auto'"], "used only by the ray executor"),
    (["executor.kind='pool'", "executor.cpus_per_cell=4"], "the ray and slurm executors"),
    (["executor.grace_s=5"], "the pool, ray and slurm executors"),
    (["executor.kind='ray'", "executor.slurm.mem_gb=8"], "executor.slurm.mem_gb = 8"),
    (["tracking.backend='tensorboard'", "tracking.tags=['a']"], "read only by the wandb"),
    (["tracking.entity='me'"], "tracking.entity"),
    (["train_lengths=[16, 32]", "probe.max_len=32"], "train_lengths = 32"),
    (["train.len_max=100000000000"], "for a training batch of 32"),
]


@pytest.mark.parametrize("overrides, fragment", REFUSED, ids=[r[1] for r in REFUSED])
def test_refused_when_the_config_loads(overrides, fragment):
    with pytest.raises(ConfigError) as info:
        load_config(preset="smoke", overrides=overrides)
    message = str(info.value)
    assert fragment in message and "\n" not in message, message


def test_settings_for_the_executor_chosen_are_accepted():
    cfg = load_config(
        preset="smoke",
        overrides=["executor.kind='slurm'", "executor.workers=3", "executor.slurm.partition='gpu'",
                   "executor.cpus_per_cell=2", "executor.grace_s=5"],
    )  # fmt: skip
    assert (cfg.executor.workers, cfg.executor.slurm.partition) == (3, "gpu")
    assert load_config(preset="smoke", overrides=["probe.max_len=17"]).probe.max_len == 17


def test_choosing_another_executor_drops_the_presets_settings_for_the_old_one():
    preset = load_config(preset="seqlen-scaling")
    assert (preset.executor.kind, preset.executor.workers) == ("pool", 2)
    local = load_config(preset="seqlen-scaling", overrides=["executor.kind='local'"])
    assert (local.executor.kind, local.executor.workers) == ("local", None)
    ray = load_config(preset="seqlen-scaling", overrides=["executor.kind='ray'"])
    assert ray.executor.workers == 2  # ray reads it: kept
    with pytest.raises(ConfigError, match="executor.workers = 3"):  # given by the user: refused
        load_config(
            preset="seqlen-scaling", overrides=["executor.workers=3", "executor.kind=local"]
        )
    with pytest.raises(ValueError, match="executor.workers"):  # the table alone refuses it too
        ExecutorConfig(kind="local", workers=2)


def test_slurm_without_sbatch_is_refused_unless_local_is_asked_for(monkeypatch):
    pytest.importorskip("submitit")
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda n, *a, **k: None if n == "sbatch" else which(n))
    for cluster in ([], ["executor.slurm.cluster='slurm'"]):
        cfg = load_config(preset="smoke", overrides=["executor.kind='slurm'", *cluster])
        with pytest.raises(ExecutorUnavailable, match="no Slurm here.*cluster = 'local'"):
            from_config(cfg.executor)
    cfg = load_config(
        preset="smoke", overrides=["executor.kind=slurm", "executor.slurm.cluster=local"]
    )
    assert from_config(cfg.executor).kind == "slurm"


def test_the_memory_floor_counts_tokens_logits_and_activations():
    assert sequence_bytes(10, d_model=4, num_classes=3) == 10 * (17 + 12 + 4 * 4 * 6)
    assert sequence_bytes(10, 4, 3, layers_kept=2) == 10 * (17 + 12 + 2 * 4 * 4 * 6)
    check_fits("eval.lengths", 1 << 20, 64, 10)  # 1M tokens at width 64: about 1.6 GiB
    with pytest.raises(ConfigError, match=r"eval.lengths: length 10\*\*15|needs at least"):
        check_fits("eval.lengths", 10**15, 64, 10)
    assert size_text(1536) == "1.5 KiB" and size_text(3 * 1024**5) == "3.0 PiB"

"""Length rules: never train past len_max, never draw below a task's minimum, every preset
resolves to evaluable lengths, unevaluable ones are refused at validation."""

from __future__ import annotations

import random

import pytest
import statebench.tasks as tasks
from statebench.bench.config import ConfigError, list_presets, load_config
from statebench.bench.config.lengths import eval_lengths, nearest_valid_length, training_range
from statebench.bench.run.train import default_val_lengths


@pytest.mark.parametrize("preset", sorted(list_presets()))
def test_every_preset_resolves_to_evaluable_lengths_for_every_task(preset):
    cfg = load_config(preset=preset)  # validation refuses anything unevaluable
    for spec in cfg.tasks:
        task = tasks.get_task(spec.name, **spec.options)
        low, high = training_range(task, cfg.train.len_min, cfg.train.len_max)
        trained = {nearest_valid_length(task, n) for n in range(low, high + 1)}
        assert max(trained) <= cfg.train.len_max and min(trained) >= task.min_length
        lengths = eval_lengths(task, cfg.eval.lengths)
        assert lengths, (preset, spec.name)
        for n in lengths:
            assert task.check_length(n) == n


@pytest.mark.parametrize("name", tasks.list_tasks())
def test_all_tasks_at_the_full_preset_lengths(name):
    cfg = load_config(preset="full")
    task = tasks.get_task(name)
    assert len(eval_lengths(task, cfg.eval.lengths)) == len(cfg.eval.lengths)


def test_odd_only_task_trains_below_len_max_and_evaluates_below_each_length():
    task = tasks.get_task("modular_arithmetic")
    assert nearest_valid_length(task, 40) == 39  # the deletang preset used to train on 41
    assert eval_lengths(task, [41, 42, 64]) == [41, 63]


def test_lengths_below_the_task_minimum_are_not_drawn():
    task = tasks.get_task("mqar")  # min_length 2 * n_pairs + 1
    low, high = training_range(task, 1, 32)
    assert low == task.min_length
    rng = random.Random(0)
    draws = [nearest_valid_length(task, rng.randint(low, high)) for _ in range(400)]
    assert draws.count(task.min_length) < 60  # was more than half of all draws
    assert set(default_val_lengths(task, 1, 32)) <= set(range(task.min_length, 33))


@pytest.mark.parametrize(
    "override,field",
    [
        ("eval.lengths=[3, 16]", "eval.lengths"),  # flipflop's shortest length is 4
        ("train.len_max=3", "train.len_max"),
        ("train.val_lengths=[2]", "train.val_lengths"),
    ],
)
def test_unevaluable_lengths_are_refused_at_validation(override, field):
    with pytest.raises(ConfigError, match=field):
        load_config(preset="smoke", overrides=[override, 'tasks=["flipflop"]'])

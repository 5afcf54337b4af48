"""Arch and task variants (options) stay apart in every summary, and labelling is idempotent."""

import json

import pandas as pd
from statebench.bench.analysis.scores import headline_score, prepare
from statebench.bench.config.labels import with_options


def test_with_options():
    assert with_options("mamba", {}) == "mamba"
    assert with_options("mamba", '{"eigen": "[-1,1]"}') == "mamba(eigen=[-1,1])"
    assert with_options("t", {"b": 1, "a": 2}) == "t(a=2,b=1)"


def _rows():
    base = dict(task="parity", seed=0, lr=1e-3, d_model=8, n_layers=2, train_len_max=4,
                status="ok", eval_len=8, params=10, chance=0.5)  # fmt: skip
    return pd.DataFrame(
        [
            {
                **base,
                "arch": "mamba",
                "arch_options": "{}",
                "task_options": "{}",
                "scaled_accuracy": 0.0,
            },  # fmt: skip
            {
                **base,
                "arch": "mamba",
                "arch_options": json.dumps({"eigen": "[-1,1]"}),
                "task_options": json.dumps({"readout": "all"}),
                "scaled_accuracy": 1.0,
            },  # fmt: skip
        ]
    )


def test_variants_are_separate_archs_not_a_sweep():
    scores = headline_score(_rows()).set_index("arch")["score"]
    assert scores.to_dict() == {"mamba": 0.0, "mamba(eigen=[-1,1])": 1.0}


def test_prepare_twice_is_prepare_once():
    once = prepare(_rows())
    assert prepare(once)[["arch", "task"]].equals(once[["arch", "task"]])
    assert set(once["task"]) == {"parity"}  # readout is not part of the name

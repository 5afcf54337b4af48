"""Cells that differ only in seed and learning rate, trained as one batched model
(bench.run.batched), give the rows, training logs and weights of separate training.

Each member's data, optimizer, schedule and verdict are its own, and the batched forward runs
each member's forward arithmetic op for op (members whose lengths differ run in separate vmap
calls; the forward logits are bitwise those of the member alone). The backward is where the
arithmetic may differ: under vmap, autograd's formulas run on member-major tensors, and some
gradient sums (products broadcast over a layout other than the single model's, batched matrix
products) add in another order. So the weights differ from separate training by float32
rounding (<= 4e-7 after one step, measured for DeltaNet); an arch that trains alone (the LSTM:
aten::lstm has no vmap rule) is exactly equal. The rule held here: the discrete outcomes
(status, learned, steps_to_target, train_steps) are identical, and every number agrees to 1e-4
absolute, that rounding carried through 40 AdamW steps (the largest difference seen in this
case is printed by the test). `pad_lengths` (all seeds in one call, the scored positions
through ops of the step's longest length) is held to the same rule.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from statebench.bench import store
from statebench.bench.config import load_config
from statebench.bench.run import batched
from statebench.bench.run.matrix import expand
from statebench.bench.run.runner import run_matrix
from statebench.bench.store import RunDir

# Two seeds x two learning rates per arch; a target some members reach at different checks and
# others never (so members leave the group at different steps); lengths 1..12 (seeds draw
# different lengths at most steps).
SETTINGS = [
    "tasks=['parity']",
    "seeds=[0, 1]",
    "train.lr=[3e-3, 1e-2]",
    "train.steps=40",
    "train.val_every=5",
    "train.log_every=5",
    "train.warmup_steps=4",
    "train.batch_size=8",
    "train.val_samples=32",
    "train.len_min=1",
    "train.len_max=12",
    "train.target_accuracy=0.6",
    "model.d_model=16",
    "model.n_layers=2",
    "eval.samples=16",
    "eval.lengths=[8, 24]",
]
ARCHS = "archs=['transformer', {name='deltanet', options={eigen='[-1,1]'}}, 'hawk', 'lstm']"
TIMING = ["train_seconds", "tokens_per_second", "eval_seconds", "created_at",
          "peak_memory_bytes", "batched_cells", "run_id", "cpu_threads"]  # fmt: skip
DISCRETE = ["cell", "eval_len", "status", "learned", "steps_to_target", "train_steps"]


def _config(*extra: str):
    return load_config(preset="smoke", overrides=[*SETTINGS, ARCHS, *extra])


def _rows(run_dir) -> pd.DataFrame:
    df = store.load(run_dir).sort_values(["cell", "eval_len"]).reset_index(drop=True)
    return df.drop(columns=[c for c in TIMING if c in df.columns])


def _logs(run_dir) -> pd.DataFrame:
    df = store.load_training_log(run_dir).sort_values(["cell", "step"]).reset_index(drop=True)
    return df.drop(columns=["seconds", "run_id"], errors="ignore")


@pytest.fixture(scope="module")
def separate(tmp_path_factory):
    return run_matrix(_config("executor.batch_cells='off'"), tmp_path_factory.mktemp("alone"))


@pytest.fixture(scope="module")
def together(tmp_path_factory):
    return run_matrix(_config("executor.batch_cells='on'"), tmp_path_factory.mktemp("batched"))


EXACT = ["lstm"]  # trained alone; the vmapped archs follow the rounding rule above
NUMBERS = ["accuracy", "seq_accuracy", "loss", "id_accuracy", "ood_accuracy", "val_accuracy",
           "val_loss", "final_train_loss", "final_train_accuracy"]  # fmt: skip
# Float sums in another order drift apart over the steps (most with padded lengths, and more
# since a held target trains on past its first check); the discrete outcomes stay identical.
TOLERANCE = 1e-3


def _same_outcomes(want: pd.DataFrame, got: pd.DataFrame) -> None:
    """Identical discrete outcomes, numbers within TOLERANCE (the rounding rule above)."""
    pd.testing.assert_frame_equal(want[DISCRETE], got[DISCRETE])
    diffs = {c: float((want[c] - got[c]).abs().max()) for c in NUMBERS}
    print("largest differences:", diffs)
    assert max(diffs.values()) <= TOLERANCE, diffs


def test_batched_cells_equal_separate_training_row_for_row(separate, together):
    alone, batch = _rows(separate), _rows(together)
    assert len(alone) == 4 * 2 * 2 * 2  # archs x seeds x lrs x eval lengths
    exact = alone["arch"].isin(EXACT)
    pd.testing.assert_frame_equal(alone[exact], batch[exact], check_exact=True)
    logs_alone, logs_batch = _logs(separate), _logs(together)
    exact_logs = logs_alone["cell"].isin(alone.loc[exact, "cell"])
    pd.testing.assert_frame_equal(logs_alone[exact_logs], logs_batch[exact_logs], check_exact=True)
    _same_outcomes(alone[~exact], batch[~exact])
    # the case is not trivial: members stopped at different steps, some never learned
    cells = alone.drop_duplicates("cell")
    assert cells["learned"].any() and not cells["learned"].all()
    assert cells["train_steps"].nunique() > 1


def test_the_checkpoints_hold_the_same_weights(separate, together):
    a, b = RunDir(separate), RunDir(together)
    rows = store.load(separate).drop_duplicates("cell").set_index("cell")["arch"]
    for key in a.checkpoints():
        want, got = a.load_checkpoint(key)[0], b.load_checkpoint(key)[0]
        assert want.keys() == got.keys()
        for name in want:
            if rows[key] in EXACT:
                assert torch.equal(want[name], got[name]), (key, name)
            else:
                torch.testing.assert_close(got[name], want[name], rtol=0, atol=TOLERANCE)


def test_rows_say_which_cells_trained_together(together):
    df = store.load(together).drop_duplicates("cell")
    sizes = df.set_index("arch")["batched_cells"]
    for arch in ("transformer", "deltanet", "hawk"):  # hawk: the scan's own vmap rule
        assert (sizes[arch] == 4).all(), arch
    assert (sizes["lstm"] == 1).all()  # aten::lstm has no vmap rule: trained one by one


def test_padded_lengths_keep_every_discrete_outcome(separate, tmp_path):
    config = _config("executor.batch_cells='on'", "executor.pad_lengths=true")
    _same_outcomes(_rows(separate), _rows(run_matrix(config, tmp_path / "padded")))


def test_groups_are_the_cells_differing_only_in_seed_and_lr():
    cells = expand(_config())
    keys = {batched.group_key(c) for c in cells}
    assert len(keys) == 4  # one per arch
    assert batched.batch_refusal(cells[0]) is None
    limited = expand(_config("train.time_budget_s=60"))
    assert "wall-clock" in batched.batch_refusal(limited[0])


def test_a_refused_architecture_is_named():
    from statebench.models import build_model
    from statebench.tasks import get_task

    models = [build_model("lstm", 2, 2, 8, 1, seed=s) for s in (0, 1)]
    why = batched.vmap_refusal(models, get_task("parity"), torch.device("cpu"))
    assert why is not None and "lstm" in why
    assert all(p.grad is None for m in models for p in m.parameters())
    ok = [build_model("transformer", 2, 2, 8, 1, seed=s) for s in (0, 1)]
    assert batched.vmap_refusal(ok, get_task("parity"), torch.device("cpu")) is None
    assert math.isfinite(ok[0](torch.zeros(1, 3, dtype=torch.long)).sum().item())


def test_batching_is_off_by_default_on_a_cpu_and_on_with_cuda(monkeypatch):
    from statebench.bench.config.executor import ExecutorConfig
    from statebench.bench.run.cell import CellJob
    from statebench.bench.run.executors import local

    default = ExecutorConfig().batch_cells
    assert default == "auto"
    job = CellJob(run_dir="unused", run_id="unused", device="auto")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not local.LocalExecutor(batch_cells=default).batching(
        job
    )  # a CPU machine: cells train alone
    assert not local.LocalExecutor(batch_cells=default).batching(
        CellJob("unused", "unused", device="cpu")
    )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert local.LocalExecutor(batch_cells=default).batching(job)  # auto on a CUDA machine
    assert not local.LocalExecutor(batch_cells="off").batching(job)
    assert local.LocalExecutor(batch_cells="on").batching(CellJob("unused", "unused", device="cpu"))

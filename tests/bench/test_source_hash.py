"""An outside adapter's or task's source is part of its cells' identity (editing it reruns
them); built-in cells keep their keys."""

from __future__ import annotations

import sys
from pathlib import Path

from statebench.bench.config import load_config, validate
from statebench.bench.run.matrix import expand

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _keys(arch: str) -> dict[str, str]:
    cfg = load_config(preset="smoke")
    cfg = validate({**cfg.model_dump(mode="json"), "archs": [arch, "lstm"]})
    return {f"{c.arch}/{c.task}": c.key for c in expand(cfg)}


def test_editing_an_outside_adapter_changes_its_cells_keys_only(tmp_path, monkeypatch):
    module = tmp_path / "outside_mixer.py"
    module.write_text((FIXTURES / "bench_archs.py").read_text())
    monkeypatch.syspath_prepend(str(tmp_path))
    before = _keys("outside_mixer:NaNMixer")
    module.write_text(module.read_text() + "\n# edited: a different adapter now\n")
    sys.modules.pop("outside_mixer", None)
    after = _keys("outside_mixer:NaNMixer")
    outside = [k for k in before if k.startswith("outside_mixer")]
    assert outside and all(before[k] != after[k] for k in outside)
    assert all(before[k] == after[k] for k in before if k.startswith("lstm"))
    assert all(not c.code for c in expand(load_config(preset="smoke")))


TASK = """
import torch
from statebench.tasks import Batch, Task


class Mod3(Task):
    description = "digits 0..2; target is the prefix sum mod 3"
    vocab_size = 3
    num_classes = 3

    def _sample(self, batch_size, length, generator, device):
        x = torch.randint(0, 3, (batch_size, length), generator=generator, device=device)
        return Batch(x, torch.cumsum(x, dim=1) % 3, torch.ones_like(x, dtype=torch.bool))

    def _reference(self, tokens):
        return [sum(tokens[: i + 1]) % 3 for i in range(len(tokens))]
"""


def test_editing_an_outside_task_reruns_its_cells(tmp_path, monkeypatch):
    from statebench.bench import store
    from statebench.bench.run.runner import run_matrix

    module = tmp_path / "outside_task.py"
    module.write_text(TASK)
    monkeypatch.syspath_prepend(str(tmp_path))
    tiny = ["archs=['lstm']", "tasks=['outside_task:Mod3', 'parity']", "train.steps=2"]
    tiny += ["eval.samples=4", "eval.lengths=[8]"]
    cfg = load_config(preset="smoke", overrides=tiny)
    run_dir = run_matrix(cfg, tmp_path / "run")
    first = {c.task: c.key for c in expand(cfg)}
    assert {c.task: set(c.code) for c in expand(cfg)} == {
        "outside_task:Mod3": {"task"},
        "parity": set(),
    }
    parity_file = store.file_version(run_dir, first["parity"])

    module.write_text(TASK + "\n# edited: a different task now\n")
    sys.modules.pop("outside_task", None)
    cfg = load_config(preset="smoke", overrides=tiny)
    second = {c.task: c.key for c in expand(cfg)}
    assert second["parity"] == first["parity"]
    assert second["outside_task:Mod3"] != first["outside_task:Mod3"]
    run_matrix(cfg, run_dir)
    assert set(store.stored_keys(run_dir)) >= {*first.values(), *second.values()}
    assert store.file_version(run_dir, first["parity"]) == parity_file  # not rerun

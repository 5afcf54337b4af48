"""An outside adapter's source is part of its cells' identity; built-in cells keep their keys."""

from __future__ import annotations

import sys
from pathlib import Path

from statebench.bench.config import load_config, validate
from statebench.bench.matrix import expand

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

"""The minimal example (docs/architecture.md: the core in one page) runs and its score means
what it says."""

from __future__ import annotations

import math
import runpy
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "minimal.py"


def test_minimal_example_trains_evaluates_and_scores(capsys):
    main = runpy.run_path(str(EXAMPLE))["main"]
    score = main(arch="lstm", steps=300)
    out = capsys.readouterr().out
    assert "lstm: learned=" in out
    assert math.isfinite(score) and -1.0 <= score <= 1.0

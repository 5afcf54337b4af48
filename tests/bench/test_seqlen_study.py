"""The training-length study: its preset, the power-law fit with an interval, both figures and
the exponents in the report."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from statebench.bench.analysis.learning import label_training_log
from statebench.bench.analysis.seqlen import final_losses, scaling_exponents
from statebench.bench.analysis.stats import fit_power_law_ci
from statebench.bench.config import MatrixConfig, preset_dict
from statebench.bench.plots import make_figure, output
from statebench.bench.report import report_blocks
from statebench.bench.run.matrix import expand

LENGTHS = (16, 32, 64, 128, 256)


@pytest.fixture(autouse=True)
def _small_figures(monkeypatch):
    monkeypatch.setattr(output, "DPI", 40)


def test_preset_trains_every_arch_and_task_at_each_length_exactly():
    cells = expand(MatrixConfig.model_validate(preset_dict("seqlen-scaling")))
    assert {c.arch for c in cells} == {"rc_frame", "lstm", "transformer", "mamba"}
    assert {c.task for c in cells} == {"maze", "jumps"}
    assert sorted({(c.train.len_min, c.train.len_max) for c in cells}) == [(n, n) for n in LENGTHS]
    assert len({c.key for c in cells}) == len(cells) == 4 * 2 * len(LENGTHS)
    assert {c.train.time_budget_s for c in cells} == {10}  # equal wall clock
    assert {tuple(c.train.val_lengths) for c in cells} == {(16, 64, 256)}  # one held-out set


def test_power_law_fit_recovers_the_exponent_with_an_interval():
    x = np.array(LENGTHS, dtype=float)
    noise = np.array([1.02, 0.97, 1.03, 0.98, 1.0])
    fit = fit_power_law_ci(x, 3.0 * x**-0.5 * noise)
    assert fit.lo < -0.5 < fit.hi and fit.hi - fit.lo < 0.2
    assert abs(fit.law.exponent + 0.5) < 0.05
    assert math.isnan(fit_power_law_ci(x[:2], x[:2]).lo)  # two points: no interval


def _study(exponents: dict[str, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    results, logs = [], []
    for arch, b in exponents.items():
        for n in LENGTHS:
            cell = f"{arch}-{n}"
            results.append(
                {"cell": cell, "arch": arch, "task": "jumps", "seed": 0, "train_len_max": n}
                | {"eval_len": 256, "status": "ok", "scaled_accuracy": 0.5}
            )
            for step in range(10, 101, 10):
                loss = 2.0 * n**b * (1 + 5 / step)
                logs.append(
                    {"cell": cell, "step": step, "seconds": step * n / 1000, "loss": loss}
                    | {"val_loss": loss if step % 20 == 0 else np.nan}
                )
    return pd.DataFrame(results), pd.DataFrame(logs)


def test_exponents_per_arch_and_both_figures():
    results, logs = _study({"lstm": -0.8, "transformer": -0.2})
    labelled = label_training_log(logs, results)
    fits = scaling_exponents(final_losses(labelled)).set_index("arch")
    assert fits.loc["lstm", "exponent"] == pytest.approx(-0.8, abs=1e-6)
    assert fits.loc["transformer", "exponent"] == pytest.approx(-0.2, abs=1e-6)
    fig = make_figure("seqlen_scaling", results, logs=logs)
    labels = [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]
    assert any(t.startswith("lstm: b = -0.80") for t in labels)
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_yscale() == "log"
    time_fig = make_figure("seqlen_time", results, logs=logs)
    panels = [ax for ax in time_fig.axes if ax.get_visible()]
    assert len(panels) == 2 and all(len(ax.get_lines()) == len(LENGTHS) for ax in panels)
    blocks = report_blocks(results, None, {}, logs=logs)
    heading = [b.text for b in blocks if b.kind == "heading"]
    assert "Training-length study" in heading
    table = next(b.table for b in blocks if b.kind == "table" and "exponent b" in b.table)
    assert list(table["exponent b"]) == ["-0.20", "-0.80"]


def test_one_loss_spike_at_the_end_does_not_decide_a_point():
    results, logs = _study({"lstm": -0.5})
    spiked = logs.copy()
    last = spiked[spiked["cell"] == "lstm-128"].index[-1]  # the final check, step 100
    spiked.loc[last, "val_loss"] = 100.0
    clean, hit = (
        final_losses(label_training_log(frame, results)).set_index("train_len").loc[128.0, "loss"]
        for frame in (logs, spiked)
    )
    assert clean == pytest.approx(2.0 * 128**-0.5 * (1 + 5 / 60))  # median of the last five
    assert clean <= hit < 1.05 * clean  # the spike moves the median one rank, no more

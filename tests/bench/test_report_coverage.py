"""Report honesty: expected vs stored cells, out-of-distribution scores, "not learned", the
conjecture table, censored t* medians and the learning figure."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from statebench.bench.analysis.coverage import coverage, with_absent_cells
from statebench.bench.analysis.grouping import RECURRENCE_COMPLETE, TIME_PARALLEL, arch_group
from statebench.bench.analysis.scores import headline_score
from statebench.bench.plots import make_figure, output
from statebench.bench.report import leaderboards, report_blocks
from statebench.bench.report.tables import conjecture_table, critical_time_table


@pytest.fixture(autouse=True)
def _small_figures(monkeypatch):
    monkeypatch.setattr(output, "DPI", 40)


def _manifest(results: pd.DataFrame, extra: dict[str, str]) -> dict:
    cells = results.drop_duplicates("cell")
    labels = {
        c: f"{a} / {t} / seed {s} / lr {lr:g}"
        for c, a, t, s, lr in zip(
            cells["cell"], cells["arch"], cells["task"], cells["seed"], cells["lr"], strict=True
        )
    }
    labels.update(extra)
    return {"run_id": "r", "cells": list(labels), "labels": labels}


def test_a_missing_cell_is_listed_and_ranks_as_failed(synthetic_results_factory):
    results = synthetic_results_factory(
        archs=("transformer", "lstm"), tasks=("parity",), seeds=(0,)
    )
    # the transformer's cell vanished: alone it would not rank; with it counted it scores 0
    stored = results[~results["cell"].str.startswith("transformer")]
    manifest = _manifest(results, {})
    cells = coverage(stored, manifest)
    assert cells.set_index("cell").loc["transformer-parity-0-0.001", "state"] == "missing"
    mean, _ = leaderboards(with_absent_cells(stored, cells))
    row = mean.set_index("arch").loc["transformer"]
    assert row["parity"] == "missing" and row["average"] == "0.00"
    text = "\n".join(b.text for b in report_blocks(stored, None, manifest) if b.kind == "text")
    assert "stored 1 / expected 2 cells (missing 1)" in text


def test_unreadable_cells_are_named_as_such(synthetic_results_factory):
    results = synthetic_results_factory(archs=("lstm",), tasks=("parity",), seeds=(0, 1))
    manifest = _manifest(results, {})
    stored = results[results["seed"] == 0]
    cells = coverage(stored, manifest, unreadable=["lstm-parity-1-0.001"])
    assert list(cells["state"]) == ["stored", "unreadable"]
    blocks = report_blocks(stored, None, manifest, unreadable=("lstm-parity-1-0.001",))
    tables = [b.table for b in blocks if b.kind == "table"]
    assert any("unreadable" in set(t.get("state", [])) for t in tables)


def test_headline_uses_the_out_of_distribution_part_and_skips_unlearned_cells():
    row = {"arch": "mamba", "task": "parity", "seed": 0, "train_len_max": 32, "eval_len": 64}
    rows = pd.DataFrame(
        [
            # pooled score 0.25 would read as partial extrapolation; beyond training it is 0
            {
                **row,
                "cell": "a",
                "scaled_accuracy": 0.25,
                "ood_scaled_accuracy": 0.0,
                "learned": True,
            },
            {
                **row,
                "cell": "b",
                "arch": "lstm",
                "scaled_accuracy": 0.1,
                "ood_scaled_accuracy": 0.05,
                "learned": False,
            },
        ]
    )
    scores = headline_score(rows).set_index("arch")
    assert scores.loc["mamba", "score"] == 0.0
    assert math.isnan(scores.loc["lstm", "score"]) and scores.loc["lstm", "status"] == "not_learned"


def test_arch_groups_come_from_the_arch_classes():
    for arch in ("transformer", "mamba", "mamba2", "retnet", "griffin", "hawk", "deltanet"):
        assert arch_group(arch) == TIME_PARALLEL, arch
    assert arch_group("lstm") == RECURRENCE_COMPLETE
    assert arch_group("rc_frame") == RECURRENCE_COMPLETE
    assert arch_group("rc_frame", {"frame": 1}) == RECURRENCE_COMPLETE
    assert arch_group("xlstm", {"cell": "slstm"}) == RECURRENCE_COMPLETE
    assert arch_group("xlstm", '{"cell": "mlstm"}') == TIME_PARALLEL
    assert arch_group("somepkg.mod:Mixer") == "undeclared"  # never imported


def test_conjecture_table_groups_archs_and_shows_not_learned(
    synthetic_probes_factory, synthetic_results_factory
):
    archs = ("lstm", "transformer", "rc_frame", "mamba")
    probes = synthetic_probes_factory(archs=archs, tasks=("parity", "jumps"))
    probes.loc[probes["arch"] == "mamba", ["status", "t_star", "censored"]] = [
        "not_learned",
        np.nan,
        False,
    ]
    table = conjecture_table(probes)
    groups = table.set_index("arch")["group"]
    assert list(table["group"]) == [TIME_PARALLEL] * 2 + [RECURRENCE_COMPLETE] * 2
    assert groups["rc_frame"] == groups["lstm"] == RECURRENCE_COMPLETE
    by_arch = table.set_index("arch")["parity"]
    assert by_arch["mamba"] == "not learned"
    assert by_arch["lstm"].startswith(">")
    assert "[" in by_arch["transformer"]  # median with its interval
    assert critical_time_table(probes).set_index("arch").loc["mamba", "parity"] == "not learned"
    # in the report, a column for every task the probe ran
    results = synthetic_results_factory(archs=archs, tasks=("parity", "jumps"), seeds=(0,))
    blocks = report_blocks(results, probes, _manifest(results, {}))
    at = next(i for i, b in enumerate(blocks) if b.text.startswith("Conjecture"))
    shown = next(b.table for b in blocks[at:] if b.kind == "table")
    assert {"group", "parity", "jumps"} <= set(shown.columns) and len(shown) == len(archs)


def test_learning_figure_draws_a_line_per_cell(synthetic_results_factory):
    results = synthetic_results_factory(
        archs=("lstm", "transformer"), tasks=("parity",), seeds=(0,)
    )
    logs = pd.DataFrame(
        [
            {
                "cell": c,
                "step": s,
                "tokens": 64 * s,
                "seconds": 0.1 * s,
                "loss": 1.0 / s,
                "lr": 1e-3,
                "val_loss": 1.2 / s if s % 100 == 0 else np.nan,
            }
            for c in results["cell"].unique()
            for s in range(50, 501, 50)
        ]
    )
    fig = make_figure("learning", results, logs=logs)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2
    assert len(axes[0].get_lines()) == 4  # two cells x (training, validation)
    empty = make_figure("learning", results, logs=pd.DataFrame())
    assert "no training logs" in " ".join(t.get_text() for ax in empty.axes for t in ax.texts)


def test_learning_figure_names_the_lr_of_each_line_of_a_sweep(synthetic_results_factory):
    """Three lrs of one arch share its colour: each line ends with its lr (one tag for lines
    ending together); an arch at one lr gets no tag."""
    runs = [
        synthetic_results_factory(archs=("lstm",), tasks=("parity",), seeds=(0,)),
        synthetic_results_factory(archs=("transformer",), tasks=("parity",), seeds=(0,)),
    ]
    sweep = [runs[0].assign(cell=runs[0]["cell"] + f"-{i}", lr=lr) for i, lr in
             enumerate((1e-4, 3e-4, 1.5e-3))]  # fmt: skip
    results = pd.concat([*sweep, runs[1]], ignore_index=True)

    def logs(final_loss):  # each cell's last training loss, from its index in the results
        return pd.DataFrame(
            [{"cell": c, "step": s, "seconds": 0.1 * s, "loss": final_loss(i) * 200 / s,
              "val_loss": np.nan}
             for i, c in enumerate(results["cell"].unique()) for s in (100, 200)]
        )  # fmt: skip

    def tags(fig):
        step_axis = next(ax for ax in fig.axes if ax.get_visible())
        return sorted(t.get_text() for t in step_axis.texts)

    apart = logs(lambda i: 10.0**-i)  # lines ending a decade apart: a tag each
    fig = make_figure("learning", results, logs=apart)
    assert tags(fig) == ["lr 1.5e-3", "lr 1e-4", "lr 3e-4"]
    single = make_figure("learning", runs[1], logs=apart)
    assert not any(t.get_text().startswith("lr ") for ax in single.axes for t in ax.texts)
    # lines of one arch ending at one loss (runs that learned nothing) share one readable tag
    together = make_figure("learning", results, logs=logs(lambda i: 0.7))
    assert tags(together) == ["lr 1e-4, 3e-4, 1.5e-3"]


def test_a_sweep_keeps_the_lr_chosen_on_validation_not_on_the_test_lengths(
    synthetic_results_factory,
):
    from statebench.bench.analysis.scores import select_best_config
    from statebench.bench.analysis.summary import summarize_headline

    results = synthetic_results_factory(archs=("lstm",), tasks=("parity",), lrs=(1e-3, 1e-2))
    # 1e-3 scores better at the test lengths; 1e-2 is better on the held-out validation set
    results["val_accuracy"] = np.where(results["lr"] == 1e-2, 0.99, 0.95)
    assert set(select_best_config(results)["lr"]) == {1e-2}
    test_best = headline_score(results).groupby("lr")["score"].mean().idxmax()
    assert test_best == 1e-3  # so the choice above did not look at the test lengths
    summary = summarize_headline(results).iloc[0]
    expected = headline_score(results[results["lr"] == 1e-2])["score"].mean()
    assert summary["mean"] == pytest.approx(expected)


def test_a_missing_seed_in_a_sweep_still_counts_as_failed(synthetic_results_factory):
    from statebench.bench.analysis.summary import summarize_headline

    results = synthetic_results_factory(
        archs=("lstm",), tasks=("parity",), seeds=(0, 1), lrs=(1e-3, 1e-2)
    )
    results["val_accuracy"] = np.where(results["lr"] == 1e-3, 0.99, 0.9)
    manifest = _manifest(results, {})
    stored = results[results["cell"] != "lstm-parity-1-0.001"]  # a seed of the chosen lr
    full = with_absent_cells(stored, coverage(stored, manifest))
    summary = summarize_headline(full).iloc[0]
    assert (summary["n_cells"], summary["n_failed"]) == (2, 1)
    without_sweep = synthetic_results_factory(archs=("lstm",), tasks=("parity",), seeds=(0, 1))
    stored = without_sweep[without_sweep["seed"] == 0]
    full = with_absent_cells(stored, coverage(stored, _manifest(without_sweep, {})))
    summary = summarize_headline(full).iloc[0]
    assert (summary["n_cells"], summary["n_failed"]) == (2, 1)


def test_t_star_tables_never_pool_learning_rates_or_options(synthetic_probes_factory):
    one = synthetic_probes_factory(archs=("transformer",), tasks=("parity",))
    other = one.assign(t_star=one["t_star"] * 10, t_star_lo=one["t_star_lo"] * 10,
                       t_star_hi=one["t_star_hi"] * 10, lr=1e-2)  # fmt: skip
    probes = pd.concat([one.assign(lr=1e-3), other], ignore_index=True)
    table = critical_time_table(probes).set_index("arch")["parity"]
    assert list(table.index) == ["transformer (lr 0.001)", "transformer (lr 0.01)"]
    low, high = (float(table[k].split()[0]) for k in table.index)
    assert high == pytest.approx(10 * low, rel=0.02)  # each lr's own median, not one pooled
    conjecture = conjecture_table(probes).set_index("arch")
    assert len(conjecture) == 2 and set(conjecture["group"]) == {TIME_PARALLEL}
    s3 = one.assign(task_options='{"group": "S3"}', task="permutation")
    s5 = one.assign(task_options='{"group": "S5"}', task="permutation")
    table = critical_time_table(pd.concat([s3, s5], ignore_index=True))
    assert {"permutation(group=S3)", "permutation(group=S5)"} <= set(table.columns)


def _coverage_note(fig) -> str:
    return " ".join(t.get_text() for t in fig.texts if t.get_gid() == "coverage")


def test_every_figure_of_an_incomplete_run_says_how_many_cells_it_shows(
    synthetic_results_factory, tmp_path, monkeypatch
):
    import statebench.bench.report as report_module
    from statebench.bench import store

    results = synthetic_results_factory(archs=("lstm",), tasks=("parity",), seeds=(0, 1))
    manifest = _manifest(results, {})
    stored = results[results["seed"] == 0]
    figures = [b.figure for b in report_blocks(stored, None, manifest) if b.kind == "figure"]
    assert figures and all("stored 1 / expected 2" in _coverage_note(f) for f in figures)
    complete = report_blocks(results, None, manifest)
    assert not any(_coverage_note(b.figure) for b in complete if b.kind == "figure")

    run_dir = tmp_path / "run"  # the same through `statebench plot`
    store.write_manifest(run_dir, manifest)
    for cell, rows in stored.groupby("cell"):
        store.write_cell(run_dir, cell, rows.to_dict("records"))
    drawn = []
    monkeypatch.setattr(report_module, "save_figure", lambda fig, path: drawn.append(fig) or [])
    report_module.plot_command(run_dir, "all", tmp_path / "figs")
    assert drawn and all("stored 1 / expected 2" in _coverage_note(f) for f in drawn)
    texts = [t.get_text() for f in drawn for ax in f.axes for t in ax.texts]
    assert any("(1/2 ok)" in t for t in texts), "the heatmap counts the missing seed as failed"

"""What the report says, in order, as format-free blocks (headings, text, tables, figures, code)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd
from statebench.bench.analysis.baseline import Baseline
from statebench.bench.analysis.coverage import (
    ABSENT_STATUSES,
    coverage,
    coverage_summary,
    incomplete_note,
    with_absent_cells,
)
from statebench.bench.analysis.learning import label_training_log
from statebench.bench.analysis.measured_lengths import LengthHistory, length_history
from statebench.bench.analysis.scores import HEADLINE_DEFINITION, headline_lengths, prepare
from statebench.bench.analysis.seqlen import (
    FINAL_CHECKS,
    final_losses,
    is_length_study,
    scaling_exponents,
)
from statebench.bench.analysis.verdict import conjecture_verdicts
from statebench.bench.plots import (
    FIGURE_CAPTIONS,
    FIGURES,
    figure_applies,
    make_figure,
    nothing_to_draw,
)
from statebench.bench.plots.output import note_below
from statebench.bench.report.tables import (
    _missing,
    config_text,
    conjecture_table,
    critical_time_table,
    failures_table,
    leaderboards,
    provenance_tables,
)

log = logging.getLogger(__name__)


@dataclass
class Block:
    """One piece of the report: kind is heading | text | table | figure | code."""

    kind: str
    text: str = ""
    level: int = 2
    table: pd.DataFrame | None = None
    figure: Any = None
    name: str = ""


def _run_summary(results: pd.DataFrame, cells: pd.DataFrame) -> str:
    rows = prepare(results)
    stored = rows[~rows["status"].isin(ABSENT_STATUSES)]
    identity = ["arch", "task", "seed", "lr", "d_model", "n_layers", "train_len_max"]
    keys = stored.drop_duplicates("cell" if (stored["cell"] != "").all() else identity)
    statuses = keys["status"].value_counts()
    parts = [
        coverage_summary(cells),
        f"{len(keys)} stored cells ({rows['arch'].nunique()} archs x {rows['task'].nunique()} "
        f"tasks x {rows['seed'].nunique()} seeds), {len(stored)} result rows",
        "status: " + ", ".join(f"{k} {v}" for k, v in statuses.items()) if len(statuses) else "",
    ]
    created = [v for v in results.get("created_at", []) if not _missing(v)]
    if created:
        parts.append(f"written {min(created)} to {max(created)}")
    return "; ".join(p for p in parts if p) + "."


def _coverage_blocks(cells: pd.DataFrame) -> list[Block]:
    """The cells the manifest expects and the store cannot give back, listed by name."""
    absent = cells[cells["state"] != "stored"] if not cells.empty else cells
    if absent.empty:
        return []
    table = absent[["cell", "arch", "task", "seed", "state"]].copy()
    table["seed"] = [f"{s:.0f}" if s == s else "" for s in table["seed"]]
    return [
        Block("heading", "Missing, unreadable and foreign cells"),
        Block(
            "text",
            f"This run is incomplete: {coverage_summary(cells)}. Each absent cell counts as "
            "failed below, as a diverged cell does: a mean over seeds is over the seeds that "
            "ran and says how many did (1/2 ok), and an arch x task where none ran scores 0 in "
            "the average over tasks and the ranking.",
        ),
        Block("table", table=table),
    ]


_LEADERBOARD_TEXT = (
    HEADLINE_DEFINITION + " Two summaries over seeds follow: the "
    "**mean with a 95% Student-t confidence interval** (typical behaviour), and the **best of N"
    " seeds** (what the architecture can learn at all). Rows are sorted by the average over "
    "tasks (failed, not learned, missing, unreadable and foreign cells count as 0); † marks "
    "cells where some eval lengths failed (the score averages the lengths that ran). Params: "
    "median over cells; state size: floats per sequence at the longest eval length. With a "
    "sweep, each arch x task shows the configuration (lr, width, depth) with the best "
    "validation accuracy at training lengths, never one chosen on the test lengths."
)


def headline_lengths_text(results: pd.DataFrame, history: LengthHistory) -> str:
    """Over which eval lengths this run's headline averages, and which of them `statebench
    eval` added after training (the scores then differ from the run's first report)."""
    per_train = headline_lengths(results)
    if not per_train:
        return "No cell has an ok row beyond its training length: no headline score."
    spans = [
        f"{_join(lengths)} (beyond the training length {train})"
        for train, lengths in sorted(per_train.items())
    ]
    text = "In this run the headline averages eval lengths " + "; ".join(spans) + "."
    used = {n for lengths in per_train.values() for n in lengths}
    added = [n for n in history.added if n in used]
    if added:
        text += (
            f" Of these, {_join(added)} {'were' if len(added) > 1 else 'was'} added after "
            "training by `statebench eval` "
            f"({history.evaluations_text()}): these averages are not the ones of the run's "
            "first report."
        )
    return text


def _join(values) -> str:
    texts = [str(v) for v in values]
    return ", ".join(texts[:-1]) + " and " + texts[-1] if len(texts) > 1 else "".join(texts)


def _leaderboard_blocks(results: pd.DataFrame, history: LengthHistory) -> list[Block]:
    blocks = [
        Block("heading", "Leaderboard"),
        Block("text", _LEADERBOARD_TEXT),
        Block("text", headline_lengths_text(results, history)),
    ]
    mean_table, best_table = leaderboards(results)
    if mean_table.empty:
        return [*blocks, Block("text", "No cells to rank.")]
    return [
        *blocks,
        Block("heading", "Mean over seeds ± 95% CI", level=3),
        Block("table", table=mean_table),
        Block("heading", "Best of N seeds", level=3),
        Block("table", table=best_table),
    ]


def _critical_time_blocks(probes: pd.DataFrame) -> list[Block]:
    blocks = [Block("heading", "Critical time t*")]
    t_table = critical_time_table(probes) if not probes.empty else pd.DataFrame()
    if t_table.empty:
        text = (
            "No probe results in this run, so no critical time t* was measured and no "
            "critical-time figure is drawn (`statebench probe` measures it)."
        )
        return [*blocks, Block("text", text)]
    blocks += [
        Block(
            "text",
            "Median t* over seeds (tokens) at the threshold halfway between chance and the "
            "model's in-distribution accuracy; a censored seed (no drop up to the longest "
            "length reached) counts as longer than any measured one, so `>L` once half or "
            "more seeds are censored. `not learned`: its training never reached the validation "
            "target, or its accuracy inside the training range on the probe's streams is below "
            "probe.learned_accuracy, so no t* exists.",
        ),
        Block("table", table=t_table),
    ]
    conjecture = conjecture_table(probes)
    if not conjecture.empty:
        blocks += [
            Block("heading", "Conjecture: time-parallel vs recurrence-complete", level=3),
            Block(
                "text",
                "The conjecture of Keiblinger (2025): architectures parallel over time have a "
                "critical time t beyond which they fail, while recurrence-complete models "
                "(a serial update h_t = f(h_{t-1}, x_t)) need not. t* per arch with its 95% "
                "interval (over seeds' bootstrap intervals), grouped by the `time_parallel` "
                "declaration of each arch class.",
            ),
            Block("table", table=conjecture),
            *_verdict_blocks(probes),
        ]
    return blocks


def _verdict_blocks(probes: pd.DataFrame) -> list[Block]:
    """One verdict line per task, by the rule `bench.analysis.verdict` defines."""
    verdicts = conjecture_verdicts(probes)
    if verdicts.empty:
        return []
    lines = [f"- **{row.task}**: {row.verdict} ({row.why})" for row in verdicts.itertuples()]
    return [
        Block("heading", "Verdict per task", level=3),
        Block(
            "text",
            "A model counts as learned on a task when more than half of its seeds learned "
            "it (2 of 3); its t* is the median over those seeds, censored (> L) once half or "
            "more of them held to the probe's end. **supports the conjecture**: every learned "
            "time-parallel model has a finite t* and every learned recurrence-complete one is "
            "censored; **contradicts it**: a learned time-parallel model is censored or a "
            "learned recurrence-complete one has a finite t*; **cannot tell**: fewer than two "
            "learned models on a side. A verdict holds for this run's budget and probe length "
            "only.",
        ),
        *(Block("text", line) for line in lines),  # one block each: prose keeps no newline
        Block("table", table=verdicts.drop(columns=["why"])),
    ]


def _seqlen_blocks(results: pd.DataFrame, logs: pd.DataFrame | None) -> list[Block]:
    """The training-length study's fitted exponents, when the run is one."""
    labelled = label_training_log(logs, results)
    if not is_length_study(labelled):
        return []
    fits = scaling_exponents(final_losses(labelled))
    table = pd.DataFrame(
        {
            "arch": fits["arch"],
            "task": fits["task"],
            "exponent b": [f"{b:.2f}" if b == b else "n/a" for b in fits["exponent"]],
            "95% interval": [
                f"[{lo:.2f}, {hi:.2f}]" if lo == lo else "n/a"
                for lo, hi in zip(fits["lo"], fits["hi"], strict=True)
            ],
            "lengths": fits["n"],
        }
    )
    return [
        Block("heading", "Training-length study"),
        Block(
            "text",
            "Each cell trained on exactly one length for the same wall clock; its final loss "
            f"is the median of its last {FINAL_CHECKS} validation losses on one held-out set "
            "shared by every length. Fitted by least squares in log-log space: loss ~ a * L^b. "
            "b < 0 with an interval below 0 supports the claim that loss falls as a power law "
            "in the trained length.",
        ),
        Block("table", table=table),
    ]


def _figure_blocks(results, probes, logs, note: str = "") -> list[Block]:
    """Every figure the run has data for; one that has nothing to draw is named, not drawn."""
    blocks = [Block("heading", "Figures")]
    skipped = []
    for kind in FIGURES:
        if not figure_applies(kind, results, probes, logs):
            continue
        try:
            fig = make_figure(kind, results, probes, logs=logs)
            if nothing_to_draw(fig):
                skipped.append(f"`{kind}` ({nothing_to_draw(fig)})")
                continue
            if note:
                note_below(fig, note)
        except Exception as e:  # one bad figure must not cost the whole report
            log.exception("figure %s failed", kind)
            blocks.append(Block("text", f"Figure `{kind}` could not be drawn: {e}"))
            continue
        blocks.append(Block("figure", FIGURE_CAPTIONS.get(kind, kind), figure=fig, name=kind))
    if skipped:
        blocks.append(Block("text", "Not drawn, nothing to show: " + "; ".join(skipped) + "."))
    return blocks


def _baseline_blocks(baseline: Baseline) -> list[Block]:
    """Which cells are the baseline's, how an arch in both shows, and what else differs."""
    stored = baseline.results[~baseline.results["status"].isin(("missing", "unreadable"))]
    counts = (
        f"{stored['cell'].nunique()} cells of {stored['arch'].nunique()} archs"
        if "cell" in stored and len(stored)
        else "no stored cells"
    )
    blocks = [
        Block("heading", "Baseline"),
        Block(
            "text",
            f"Rows marked `[baseline]` are the stored cells of the baseline **{baseline.name}** "
            f"(run {baseline.run_id}, {counts}, read from {baseline.where}); they were not "
            "rerun, and they appear beside this run's cells in every table and figure. An arch "
            "in both runs is shown twice, this run's `lstm` and `lstm [baseline]`, never "
            "averaged together; in the figures it keeps its colour and takes another marker.",
        ),
    ]
    if not baseline.differences:
        return [
            *blocks,
            Block("text", "The two configurations agree in everything but the archs."),
        ]
    table = pd.DataFrame(
        {
            "setting": [d.field for d in baseline.differences],
            "this run": [d.here for d in baseline.differences],
            "baseline": [d.baseline for d in baseline.differences],
        }
    )
    return [
        *blocks,
        Block(
            "text",
            "**Warning:** the two runs differ in more than the arch, so their cells were not "
            "measured alike; read a difference in score with these in mind:",
        ),
        Block("table", table=table),
    ]


def _tail_blocks(results, probes, manifest, history: LengthHistory) -> list[Block]:
    """Failures, the resolved config and provenance."""
    blocks = [Block("heading", "Failed, diverged, not learned, missing and skipped cells")]
    config = manifest.get("config")
    failures = failures_table(results, probes, (config or {}).get("train") or {})
    if failures.empty:
        blocks.append(
            Block("text", "None: every cell finished with status ok and learned its task.")
        )
    else:
        blocks.append(Block("table", table=failures))
    blocks.append(Block("heading", "Configuration"))
    if config:
        if history.note():
            blocks.append(Block("text", history.note()))
        language, text = config_text(config, history)
        blocks.append(Block("code", text, name=language))
    else:
        blocks.append(Block("text", "No resolved config in the manifest."))
    blocks.append(Block("heading", "Provenance"))
    for title, table in provenance_tables(results, manifest):
        blocks.append(Block("heading", title, level=3))
        blocks.append(Block("table", table=table))
    return blocks


def _protocol_blocks(results: pd.DataFrame, manifest: dict) -> list:
    """The protocol's own score when the config asks for one (e.g. Deletang: max over seeds)."""
    from statebench.bench.analysis.protocol import learned_table, protocol_scores, protocol_table

    config = manifest.get("config") or {}
    score_cfg = config.get("score") or {}
    if (
        not score_cfg
        or results.empty
        or (score_cfg.get("aggregate", "mean") == "mean" and not score_cfg.get("min_len"))
    ):
        return []
    train_max = int((config.get("train") or {}).get("len_max", 0))
    scores = protocol_scores(results, score_cfg, train_max)
    if scores.empty:
        return []
    min_len = scores.attrs.get("min_len")
    blocks = [Block("heading", "Protocol score")]
    blocks.append(
        Block(
            "text",
            f"Mean accuracy (%) over every eval length >= {min_len}, one number per trained "
            "model; then the **maximum over seeds and learning rates** (as Deletang et al. "
            "2023 report it) and the **mean** over them. The paper's measure scores every "
            "model; an arch x task none of whose models learned the task in distribution (the "
            'validation target held) reads "(not learned)": its number extrapolates a model '
            "that never solved the training lengths.",
        )
    )
    blocks.append(Block("heading", "Max over seeds and learning rates", level=3))
    blocks.append(Block("table", table=protocol_table(scores, "max")))
    blocks.append(Block("heading", "Mean over seeds and learning rates", level=3))
    blocks.append(Block("table", table=protocol_table(scores, "mean")))
    blocks.append(Block("heading", "Models that learned the task in distribution", level=3))
    blocks.append(Block("table", table=learned_table(scores)))
    return blocks


def report_blocks(
    results: pd.DataFrame,
    probes: pd.DataFrame | None,
    manifest: dict,
    logs: pd.DataFrame | None = None,
    unreadable: tuple[str, ...] = (),
    foreign: tuple[str, ...] = (),
    baseline: Baseline | None = None,
) -> list[Block]:
    """Everything the report says, in order, independent of the output format.

    Cells the manifest expects but the store cannot give back join the results as failed
    placeholder rows, so every table and figure counts them. A baseline's rows (already
    marked, bench.analysis.baseline) join after the summary of this run's own cells.
    """
    probes = probes if probes is not None else pd.DataFrame()
    cells = coverage(results, manifest, unreadable, foreign)
    results = with_absent_cells(results, cells)
    run_id = manifest.get("run_id") or next(
        (str(v) for v in results.get("run_id", []) if not _missing(v)), "run"
    )
    summary = _run_summary(results, cells) if len(results) else "This run has no result rows yet."
    history = length_history(results, manifest)
    note, beside = incomplete_note(cells), []
    if baseline is not None:
        results, probes, logs = baseline.join(results, probes, logs)
        note = "; ".join(n for n in (note, baseline.figure_note()) if n)
        beside = _baseline_blocks(baseline)
    return [
        Block("heading", f"statebench report: {run_id}", level=1),
        Block("text", summary),
        *beside,
        *_coverage_blocks(cells),
        *_leaderboard_blocks(results, history),
        *_protocol_blocks(results, manifest),
        *_critical_time_blocks(probes),
        *_seqlen_blocks(results, logs),
        *_figure_blocks(results, probes, logs, note),
        *_tail_blocks(results, probes, manifest, history),
    ]

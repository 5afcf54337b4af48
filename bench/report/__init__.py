"""The report of a run: leaderboard, figures, config, provenance and failures, in md or html.

The report is built as a list of blocks (headings, paragraphs, tables, figures, code) from
DataFrames, then rendered: markdown with the figures as PNG files beside it, or one
self-contained HTML file with the figures embedded. `build_report` takes preloaded tables (so
it is testable without a store); `report` loads a run directory through `bench.store`.
`plot_command` and `report_command` are what the CLI calls. With a baseline (`load_baseline`:
a shipped reference such as `quick`, or any run directory), the baseline's cells join every
table and figure, marked `[baseline]` (bench.analysis.baseline).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from statebench.bench.analysis.baseline import Baseline, make_baseline
from statebench.bench.analysis.coverage import coverage, incomplete_note, with_absent_cells
from statebench.bench.config.errors import RunDirError, UserError
from statebench.bench.plots import FIGURES, figure_applies, make_figure, save_figure
from statebench.bench.plots.output import note_below
from statebench.bench.report.blocks import Block, report_blocks
from statebench.bench.report.render import markdown_table, render_html, render_markdown
from statebench.bench.report.tables import (
    NOT_RUN,
    config_text,
    critical_time_table,
    failures_table,
    leaderboards,
    provenance_tables,
)
from statebench.bench.store import RunDir, manifest_cells
from statebench.bench.store.references import find_baseline

log = logging.getLogger(__name__)

REPORT_FORMATS = ("md", "html")
FIGURE_FORMATS = ("png", "svg", "pdf")


@dataclass
class RunTables:
    """What a report reads from a run directory."""

    results: pd.DataFrame
    probes: pd.DataFrame
    manifest: dict[str, Any]
    logs: pd.DataFrame = field(default_factory=pd.DataFrame)  # per-cell training logs
    unreadable: tuple[str, ...] = ()  # manifest cells whose result file cannot be read


def load_run(run_dir: str | Path) -> RunTables:
    """Result rows, probe rows (empty if none) and the manifest, through `bench.store.RunDir`."""
    run = RunDir(run_dir)
    manifest = run.require_manifest()  # a directory that holds no run is refused
    results = run.load()
    if results.empty:
        raise RunDirError(
            f"{str(run_dir)!r} holds no results yet (none of its "
            f"{len(manifest.get('cells') or [])} cells is stored); `statebench status` says "
            "where it stands"
        )
    stored = set(results["cell"].astype(str))
    unreadable = tuple(
        key for key in manifest_cells(manifest) if key not in stored and run.cell_file(key).exists()
    )
    return RunTables(results, run.load_probes(), manifest, run.load_training_log(), unreadable)


def load_baseline(spec: str | Path, this_manifest: dict | None = None) -> Baseline:
    """The run `spec` names (a run directory, else a shipped reference such as `quick`), read
    and marked to join a run whose manifest is `this_manifest`; RunDirError when it names
    neither or holds no results. Logs a warning when the two differ in more than the arch."""
    run = find_baseline(spec)
    try:
        tables = load_run(run.path)
    except RunDirError as e:
        raise RunDirError(f"--baseline {str(spec)!r}: {e}") from None
    baseline = make_baseline(
        str(spec),
        str(run.path),
        tables.results,
        tables.probes,
        tables.logs,
        tables.manifest,
        this_manifest or {},
        tables.unreadable,
    )
    if baseline.warning():
        log.warning("%s", baseline.warning())
    return baseline


def _baseline_of(spec: str | Path | Baseline | None, manifest: dict) -> Baseline | None:
    if spec is None or isinstance(spec, Baseline):
        return spec
    return load_baseline(spec, manifest)


def _check_format(fmt: str) -> None:
    if fmt not in REPORT_FORMATS:
        raise UserError(
            f"unknown report format {fmt!r}; choose one of: {', '.join(REPORT_FORMATS)}"
        )


def _report_path(out: str | Path, fmt: str) -> Path:
    """`out` is the report file if it ends in .md/.html, else the folder to write into."""
    out = Path(out)
    return out if out.suffix in (".md", ".html") else out / f"report.{fmt}"


def build_report(
    results: pd.DataFrame,
    probes: pd.DataFrame | None,
    manifest: dict | None,
    out: str | Path,
    fmt: str = "md",
    logs: pd.DataFrame | None = None,
    unreadable: tuple[str, ...] = (),
    baseline: Baseline | None = None,
) -> Path:
    """Write the report from preloaded tables; returns the report file's path.

    md: report.md plus figures/*.png (and .svg) beside it. html: one self-contained file.
    """
    _check_format(fmt)
    path = _report_path(out, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    blocks = report_blocks(
        results, probes, manifest or {}, logs=logs, unreadable=unreadable, baseline=baseline
    )
    text = render_markdown(blocks, path) if fmt == "md" else render_html(blocks)
    path.write_text(text, encoding="utf-8")
    log.info("wrote report %s", path)
    return path


def report(
    run_dir: str | Path,
    fmt: str = "md",
    out: str | Path | None = None,
    baseline: str | Path | Baseline | None = None,
) -> Path:
    """Load a run directory and write its report (default: RUN_DIR/report/report.<fmt>);
    `baseline` (a run directory or a shipped reference's name) joins its cells, marked."""
    _check_format(fmt)
    tables = load_run(run_dir)
    return build_report(
        tables.results,
        tables.probes,
        tables.manifest,
        out if out is not None else RunDir(run_dir).report_dir,
        fmt,
        logs=tables.logs,
        unreadable=tables.unreadable,
        baseline=_baseline_of(baseline, tables.manifest),
    )


def report_command(
    run_dir: str | Path,
    fmt: str = "md",
    out: str | Path | None = None,
    baseline: str | Path | Baseline | None = None,
) -> Path:
    """`statebench report RUN_DIR [--format md|html] [--out PATH] [--baseline RUN]`: returns
    the written file."""
    return report(run_dir, fmt, out, baseline)


def plot_command(
    run_dir: str | Path,
    kind: str,
    out: str | Path | None = None,
    baseline: str | Path | Baseline | None = None,
) -> list[Path]:
    """`statebench plot RUN_DIR --kind NAME [--out FILE] [--baseline RUN]`: returns the
    written files.

    out ending in .png/.svg/.pdf: exactly that file; any other out: a path without extension
    that gets .png and .svg; none: RUN_DIR/figures/<kind>.{png,svg}. kind "all" writes every
    figure into the folder `out` (default RUN_DIR/figures). Unknown kinds raise ValueError
    listing the known ones, before anything is loaded.
    """
    if kind != "all" and kind not in FIGURES:
        raise UserError(
            f"unknown figure kind {kind!r}; choose one of: {', '.join([*FIGURES, 'all'])}"
        )
    tables = load_run(run_dir)
    # As in the report: absent cells are failed placeholders, and an incomplete run says so.
    cells = coverage(tables.results, tables.manifest, tables.unreadable)
    results, note = with_absent_cells(tables.results, cells), incomplete_note(cells)
    probes, logs = tables.probes, tables.logs
    base = _baseline_of(baseline, tables.manifest)
    if base is not None:
        results, probes, logs = base.join(results, probes, logs)
        note = "; ".join(n for n in (note, base.figure_note()) if n)

    def draw(name: str):
        fig = make_figure(name, results, probes, logs=logs)
        if note:
            note_below(fig, note)
        return fig

    if kind == "all":
        folder = Path(out) if out is not None else RunDir(run_dir).figures_dir
        return [
            path
            for name in FIGURES
            if figure_applies(name, results)
            for path in save_figure(draw(name), folder / name)
        ]
    fig = draw(kind)
    if out is None:
        return save_figure(fig, RunDir(run_dir).figures_dir / kind)
    out = Path(out)
    if out.suffix.lstrip(".") in FIGURE_FORMATS:
        return save_figure(fig, out.with_suffix(""), formats=(out.suffix.lstrip("."),))
    return save_figure(fig, out)


__all__ = [
    "FIGURE_FORMATS",
    "Baseline",
    "NOT_RUN",
    "REPORT_FORMATS",
    "Block",
    "RunTables",
    "build_report",
    "config_text",
    "critical_time_table",
    "failures_table",
    "leaderboards",
    "load_baseline",
    "load_run",
    "markdown_table",
    "plot_command",
    "render_html",
    "render_markdown",
    "report",
    "report_blocks",
    "report_command",
    "provenance_tables",
]

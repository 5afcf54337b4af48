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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from statebench.bench.analysis.baseline import Baseline, make_baseline
from statebench.bench.analysis.coverage import coverage, incomplete_note, with_absent_cells
from statebench.bench.config.errors import OutputPathError, RunDirError, UserError
from statebench.bench.plots import (
    FIGURE_TABLES,
    FIGURES,
    figure_applies,
    make_figure,
    nothing_to_draw,
    save_figure,
)
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
from statebench.bench.store.files import atomic_write, check_inside
from statebench.bench.store.references import find_baseline
from statebench.bench.store.writable import unwritable

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
    foreign: tuple[str, ...] = ()  # manifest cells whose file is another cell's or run's


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
    absent = [
        key for key in manifest_cells(manifest) if key not in stored and run.cell_file(key).exists()
    ]
    alien = run.scan(columns=()).foreign if absent else {}
    foreign = tuple(key for key in absent if key in alien)
    unreadable = tuple(key for key in absent if key not in alien)
    logs = run.load_training_log()
    return RunTables(results, run.load_probes(), manifest, logs, unreadable, foreign)


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
    root: str | Path | None = None,
    foreign: tuple[str, ...] = (),
    baseline: Baseline | None = None,
) -> Path:
    """Write the report from preloaded tables; returns the report file's path.

    md: report.md plus figures/*.png (and .svg) beside it. html: one self-contained file.
    `root` (the run directory): a folder on the way inside it that is a symbolic link leading
    out of it is refused before anything is written; files replace links, never follow them.
    """
    _check_format(fmt)
    path = _report_path(out, fmt)
    if root is not None:  # nothing is written through a link that leads out of the run
        check_inside(root, path)
        check_inside(root, path.parent / "figures" / "figure.png")
    with writing(path, path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        blocks = report_blocks(
            results,
            probes,
            manifest or {},
            logs=logs,
            unreadable=unreadable,
            foreign=foreign,
            baseline=baseline,
        )
        text = render_markdown(blocks, path) if fmt == "md" else render_html(blocks)
        atomic_write(path, text.encode("utf-8"))
    log.info("wrote report %s", path)
    return path


@contextmanager
def writing(target: Path, folder: Path):
    """Refuse an output `folder` no file can be created in before drawing anything, and turn a
    failed write (a full disk, a folder removed meanwhile) into one line naming `target`."""
    why = unwritable(folder)
    if why:
        raise OutputPathError(f"cannot write {str(target)!r}: {why}")
    try:
        yield
    except OSError as e:
        where = e.filename or target
        raise OutputPathError(f"cannot write {str(where)!r}: {e.strerror or e}") from None


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
        root=run_dir,
        foreign=tables.foreign,
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


def why_not_drawn(kind: str, tables: RunTables) -> str:
    """Why figure `kind` has nothing to show for this run, in a few words."""
    if kind == "critical_time" and tables.probes.empty:
        return "this run has no probe results (`statebench probe` measures t*)"
    if FIGURE_TABLES.get(kind) == "logs" and (tables.logs is None or tables.logs.empty):
        return "this run has no training-log rows"
    if not figure_applies(kind, tables.results, tables.probes, tables.logs):
        if kind == "maze":
            return "this run has no maze task"
        if kind in ("seqlen_scaling", "seqlen_time"):
            return "this run is no training-length study (set train_lengths to two or more)"
    fig = make_figure(kind, tables.results, tables.probes, logs=tables.logs)
    return nothing_to_draw(fig) or "the figure is empty"


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
    figure the run has data for into the folder `out` (default RUN_DIR/figures). Unknown kinds
    raise a UserError listing the known ones, before anything is loaded; so does a kind this run
    has nothing for (a maze figure without a maze task): no empty figure file is written.
    """
    if kind != "all" and kind not in FIGURES:
        raise UserError(
            f"unknown figure kind {kind!r}; choose one of: {', '.join([*FIGURES, 'all'])}"
        )
    tables = load_run(run_dir)
    # As in the report: absent cells are failed placeholders, and an incomplete run says so.
    cells = coverage(tables.results, tables.manifest, tables.unreadable, tables.foreign)
    results, note = with_absent_cells(tables.results, cells), incomplete_note(cells)
    probes, logs = tables.probes, tables.logs
    base = _baseline_of(baseline, tables.manifest)
    if base is not None:
        results, probes, logs = base.join(results, probes, logs)
        note = "; ".join(n for n in (note, base.figure_note()) if n)

    # Refused before drawing: a folder on the way that is a symbolic link out of the run.
    where = Path(out) if out is not None else RunDir(run_dir).figures_dir
    check_inside(run_dir, where / "figure.png" if kind == "all" or out is None else where)

    def draw(name: str):
        """The figure, or None when the run has nothing for it (no empty files are written)."""
        if not figure_applies(name, results, probes, logs):
            return None
        fig = make_figure(name, results, probes, logs=logs)
        if nothing_to_draw(fig):
            return None
        if note:
            note_below(fig, note)
        return fig

    if kind == "all":
        folder = Path(out) if out is not None else RunDir(run_dir).figures_dir
        with writing(folder, folder):
            figures = {name: draw(name) for name in FIGURES}
            return [
                path
                for name, fig in figures.items()
                if fig is not None
                for path in save_figure(fig, folder / name)
            ]
    target = Path(out) if out is not None else RunDir(run_dir).figures_dir / kind
    with writing(target, target.parent):  # an unwritable --out is refused before drawing
        fig = draw(kind)
        if fig is None:
            raise UserError(f"--kind {kind}: nothing to draw: {why_not_drawn(kind, tables)}")
        if target.suffix.lstrip(".") in FIGURE_FORMATS:
            return save_figure(fig, target.with_suffix(""), formats=(target.suffix.lstrip("."),))
        return save_figure(fig, target)


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

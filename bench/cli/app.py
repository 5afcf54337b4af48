"""The `statebench` command line: run, show-config, plot, report and eval are defined here;
status, list, doctor (bench/cli/inspection.py) and probe (bench/cli/probe.py) join the same app."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from statebench.bench.cli import inspection
from statebench.bench.cli.common import console, err_console, fail, resolve, safe
from statebench.bench.cli.help import StatebenchGroup
from statebench.bench.cli.options import (
    ArchOpt,
    BaselineOpt,
    ConfigOpt,
    DeviceOpt,
    Executor,
    FigureKind,
    OutOpt,
    PresetOpt,
    ReportFormat,
    SeedsOpt,
    SetOpt,
    SkipConformanceOpt,
    TaskOpt,
    ThreadsOpt,
)
from statebench.bench.cli.probe import probe as probe_command
from statebench.bench.config import MatrixConfig, to_toml
from statebench.bench.config.errors import UserError

app = typer.Typer(
    cls=StatebenchGroup,  # flags as flags, choices wrap between choices, docstrings reflow
    add_completion=True,
    no_args_is_help=True,
    help="statebench: can this architecture track state, and up to what length?",
)


def _print_version(value: bool) -> None:
    if value:
        from statebench import __version__

        typer.echo(f"statebench {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO level.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_print_version,
            is_eager=True,
            help="Print the version, exit.",
        ),
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # The current directory is not put on sys.path: a module lying in a run directory never
    # runs. Dotted paths (mypkg.gru:GRUMixer) resolve from it all the same (statebench.dotted).


@app.command()
def run(
    preset: PresetOpt = None,
    config: ConfigOpt = None,
    arch: ArchOpt = None,
    task: TaskOpt = None,
    seeds: SeedsOpt = None,
    set_: SetOpt = None,
    out: OutOpt = None,
    device: DeviceOpt = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Run again cells stored as failed.")
    ] = False,
    allow_failures: Annotated[
        bool, typer.Option("--allow-failures", help="Exit 0 even if some cells failed.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Run every cell again.")] = False,
    require_same_code: Annotated[
        bool,
        typer.Option(
            "--require-same-code", help="Refuse to resume a run stored by another code version."
        ),
    ] = False,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="Do not write the report at the end.")
    ] = False,
    executor: Annotated[
        Executor | None,
        typer.Option(
            "--executor",
            "-e",
            help="Where cells run (default local).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", "-j", help="Cells at once (pool: default one per core/GPU).", min=1
        ),
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address (default: start one).")
    ] = None,
    partition: Annotated[
        str | None, typer.Option("--partition", help="Slurm partition (slurm executor).")
    ] = None,
    skip_conformance: SkipConformanceOpt = False,
    threads: ThreadsOpt = None,
    baseline: BaselineOpt = None,
) -> None:
    """Train and evaluate the architecture x task x seed matrix (quick preset by default).

    Ends by writing the run's report (markdown and figures) into the run directory. Interrupt
    it at any time; the same command resumes where it stopped. Several drivers may share one
    --out: each runs cells no other live driver has claimed. Exits 1 if a cell failed (unless
    --allow-failures) or is still missing. With --baseline (e.g. `--arch mypkg.gru:GRUMixer
    --baseline quick`), only the given archs train and the report shows the baseline's cells
    beside them.
    """
    from statebench.bench.cli.finish import RunArgs, executor_overrides, finish_run, warn_unstored
    from statebench.bench.run.progress import make_reporter
    from statebench.bench.run.runner import run_matrix

    extra = executor_overrides(executor, workers, address, partition, threads)
    cfg = resolve(preset, config, arch, task, seeds, [*(set_ or []), *extra], device, True)
    if baseline is not None:
        _check_baseline(baseline, cfg)
    try:
        run_dir = run_matrix(
            cfg,
            out,
            reporter=make_reporter(console),
            retry_failed=retry_failed,
            force=force,
            require_same_code=require_same_code,
            skip_conformance=skip_conformance,
        )
    except UserError as e:
        fail(str(e))
        return
    args = RunArgs(
        preset, config, arch or [], task or [], seeds or [], set_ or [], device, baseline
    )
    code = finish_run(run_dir, args, console, err_console, not no_report, allow_failures)
    if warn_unstored(run_dir, cfg.executor.claim_stale_s, err_console) or code:
        raise typer.Exit(code=1)


def _check_baseline(spec: str, cfg: MatrixConfig) -> None:
    """Refuse a --baseline that names no run, before anything trains or is written; say now,
    not only in the report at the end, where this config differs from the baseline's."""
    from statebench.bench.analysis.baseline import config_differences
    from statebench.bench.store.references import check_baseline

    try:
        manifest = check_baseline(spec).require_manifest()
    except UserError as e:
        fail(str(e))
        return
    theirs = {"config": manifest.get("config") or {}}  # the environment is known after the run
    found = config_differences({"config": cfg.model_dump(mode="json")}, theirs)
    if found:
        lines = "\n  ".join(d.text() for d in found)
        err_console.print(
            f"[bold yellow]warning:[/] this run will differ from the baseline {spec} in more "
            f"than the arch:\n  {escape(lines)}",
            highlight=False,
            soft_wrap=True,
        )


app.command("status")(inspection.status)
app.command("list")(inspection.list_cmd)


@app.command("show-config")
def show_config(
    preset: PresetOpt = None,
    config: ConfigOpt = None,
    arch: ArchOpt = None,
    task: TaskOpt = None,
    seeds: SeedsOpt = None,
    set_: SetOpt = None,
    device: DeviceOpt = None,
    show_origin: Annotated[
        bool,
        typer.Option(
            "--show-origin",
            help="Write each value on its own line with the layer that set it (preset, file, "
            "option, --set or default).",
        ),
    ] = False,
) -> None:
    """Print the resolved config as TOML: the base preset, then the file, then options and
    --set. The output is a complete config file (`--config` reads it back)."""
    from statebench.bench.config import resolve_layers

    cfg = resolve(preset, config, arch, task, seeds, set_, device)
    layers = None
    if show_origin:
        fields = {"archs": arch or None, "tasks": task or None, "seeds": seeds or None}
        layers = resolve_layers(preset, config, set_, device=device, **fields)
    typer.echo(to_toml(cfg, layers), nl=False)


RunDirArg = Annotated[
    Path, typer.Argument(help="A run directory (results/<name>-<hash>).", file_okay=False)
]


@app.command()
def plot(
    run_dir: RunDirArg,
    kind: Annotated[
        FigureKind,
        typer.Option(
            "--kind",
            "-k",
            help="Which figure.",
        ),
    ] = "accuracy",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="File (.png/.svg/.pdf) or stem for PNG+SVG."),
    ] = None,
    baseline: BaselineOpt = None,
) -> None:
    """Draw one figure from a results directory (with --baseline, beside another run's cells)."""
    from statebench.bench.report import plot_command

    try:
        paths = plot_command(run_dir, kind, out, baseline)
    except UserError as e:
        fail(str(e), e.exit_code)
        return
    for path in paths:
        console.print(f"wrote {safe(path)}")


@app.command()
def report(
    run_dir: RunDirArg,
    format_: Annotated[
        ReportFormat,
        typer.Option(
            "--format",
            "-f",
            help="Markdown + figures, or one HTML file.",
        ),
    ] = "md",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Where to write it.")] = None,
    baseline: BaselineOpt = None,
) -> None:
    """Write the leaderboard, every figure, config, provenance and failures as one report
    (with --baseline, beside another run's cells: a shipped reference or a run directory)."""
    from statebench.bench.report import report_command

    try:
        path = report_command(run_dir, format_, out, baseline)
    except UserError as e:
        fail(str(e), e.exit_code)
        return
    console.print(f"wrote {safe(path)}")


@app.command("eval")
def eval_command(
    run_dir: RunDirArg,
    lengths: Annotated[
        str, typer.Option("--lengths", "-l", help="Eval lengths to measure, e.g. 128,256.")
    ],
    samples: Annotated[
        int | None, typer.Option("--samples", help="Sequences per length (default: the run's).")
    ] = None,
    device: DeviceOpt = None,
    threads: ThreadsOpt = None,
    allow_import: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-import",
            help="A dotted path (module:Class) the run's checkpoints may import (repeat).",
        ),
    ] = None,
    skip_conformance: SkipConformanceOpt = False,
) -> None:
    """Measure a finished run's stored checkpoints at new lengths, without training.

    Prints a line as each cell is measured; the report then names the added lengths.

    A cell whose checkpoint is missing or not its own is skipped and named (its rows stay);
    exits 1 when a stored cell was skipped.
    """
    from statebench.bench.run.reevaluate import SKIPPED, parse_lengths, reevaluate_run

    if samples is not None and samples < 1:
        fail(f"--samples {samples}: give the number of sequences per length, an integer >= 1")
    try:
        wanted = parse_lengths(lengths)
        progress = eval_progress(run_dir)
        outcome = reevaluate_run(
            run_dir,
            wanted,
            samples,
            device or "auto",
            allow_import or [],
            threads=threads,
            on_cell=progress,
            skip_conformance=skip_conformance,
        )
    except ValueError as e:
        fail(str(e))
        return
    counts: dict[str, int] = {}
    for key, status in outcome.items():
        word = status.split(":", 1)[0]
        counts[word] = counts.get(word, 0) + 1
        if word == SKIPPED:
            err_console.print(
                f"[yellow]skipped[/] cell {key}: {safe(status.split(': ', 1)[1])}",
                highlight=False,
                soft_wrap=True,
            )
    summary = ", ".join(f"{s}: {n}" for s, n in sorted(counts.items()))
    console.print(f"measured {safe(run_dir)} at {wanted} ({summary})")
    if counts.get(SKIPPED):
        raise typer.Exit(code=1)


def eval_progress(run_dir: Path):
    """One flushed line per measured cell (a terminal and a redirected file alike), with the
    cell's label as the manifest stores it."""
    import time

    from statebench.bench.run.progress import plain_writer
    from statebench.bench.store import RunDir

    manifest = RunDir(run_dir).manifest() or {}
    labels = manifest.get("labels") if isinstance(manifest.get("labels"), dict) else {}
    write = plain_writer(console)
    start = last = time.monotonic()

    def line(done: int, total: int, key: str, outcome: str) -> None:
        nonlocal last
        now = time.monotonic()
        label = labels.get(key, key)
        write(f"[{now - start:7.1f}s] cell {done}/{total} {outcome}: {label} ({now - last:.1f}s)")
        last = now

    return line


# The probe command lives in bench/probe/cli.py; it never imports this module.
app.command("probe")(probe_command)
app.command()(inspection.doctor)
app.command()(inspection.wheelhouse)


if __name__ == "__main__":  # pragma: no cover
    app()

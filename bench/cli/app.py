"""The `statebench` command line: run, show-config, plot, report and eval are defined here;
status, list, doctor (bench/cli/inspection.py) and probe (bench/cli/probe.py) join the same app."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from statebench.bench.cli import inspection
from statebench.bench.cli.common import console, err_console, fail, resolve
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
    TaskOpt,
)
from statebench.bench.cli.probe import probe as probe_command
from statebench.bench.config import MatrixConfig, to_toml
from statebench.bench.config.errors import UserError

app = typer.Typer(
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
            "--version", callback=_print_version, is_eager=True, help="Print the version, exit."
        ),
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # Dotted paths (mypkg.gru:GRUMixer) resolve from the current directory, as `python -m` does.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


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

    extra = executor_overrides(executor, workers, address, partition)
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
) -> None:
    """Print the resolved config as TOML (preset or file, then overrides)."""
    cfg = resolve(preset, config, arch, task, seeds, set_, device)
    typer.echo(to_toml(cfg), nl=False)


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
        fail(str(e))
        return
    for path in paths:
        console.print(f"wrote {path}")


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
        fail(str(e))
        return
    console.print(f"wrote {path}")


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
    allow_import: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-import",
            help="A dotted path (module:Class) the run's checkpoints may import (repeat).",
        ),
    ] = None,
) -> None:
    """Measure a finished run's stored checkpoints at new lengths, without training."""
    from statebench.bench.run.reevaluate import reevaluate_run

    try:
        wanted = sorted({int(x) for x in lengths.replace(",", " ").split()})
        if not wanted or min(wanted) < 1:
            raise ValueError(f"--lengths {lengths!r}: give integers >= 1, e.g. 128,256")
        outcome = reevaluate_run(run_dir, wanted, samples, device or "auto", allow_import or [])
    except ValueError as e:
        fail(str(e))
        return
    counts: dict[str, int] = {}
    for status in outcome.values():
        counts[status] = counts.get(status, 0) + 1
    summary = ", ".join(f"{s}: {n}" for s, n in sorted(counts.items()))
    console.print(f"measured {run_dir} at {wanted} ({summary})")


# The probe command lives in bench/probe/cli.py; it never imports this module.
app.command("probe")(probe_command)
app.command()(inspection.doctor)


if __name__ == "__main__":  # pragma: no cover
    app()

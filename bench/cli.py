"""The `statebench` command line: run, status, list, show-config, plot, report, eval, probe."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from statebench.bench.cli_options import (
    ArchOpt,
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
from statebench.bench.config import (
    MatrixConfig,
    check_device,
    list_presets,
    load_config,
    to_toml,
)
from statebench.bench.errors import UserError
from statebench.bench.probe.cli import probe as probe_command
from statebench.bench.schema import is_failed

app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    help="statebench: can this architecture track state, and up to what length?",
)
console = Console()
err_console = Console(stderr=True)


def fail(message: str) -> None:
    """Print `error: message` (not wrapped, so a one-line message stays one line) and exit 2."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def resolve(
    preset: str | None,
    config: Path | None,
    arch: list[str] | None,
    task: list[str] | None,
    seeds: list[int] | None,
    overrides: list[str] | None,
    device: str | None,
    will_run: bool = False,
) -> MatrixConfig:
    """The resolved config; with `will_run`, also refuse what cannot run on this machine."""
    try:
        cfg = load_config(
            preset=preset,
            config_file=config,
            overrides=overrides,
            archs=arch or None,
            tasks=task or None,
            seeds=seeds or None,
            device=device,
        )
        if will_run:
            check_device(cfg)
        return cfg
    except ValueError as e:  # UserError, and the ValueErrors of task and arch validation
        fail(str(e))
        raise  # unreachable


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
) -> None:
    """Train and evaluate the architecture x task x seed matrix (quick preset by default).

    Ends by writing the run's report (markdown and figures) into the run directory. Interrupt
    it at any time; the same command resumes where it stopped. Several drivers may share one
    --out: each runs cells no other live driver has claimed. Exits 1 if a cell failed (unless
    --allow-failures) or is still missing.
    """
    import json

    from statebench.bench.cli_run import RunArgs, finish_run
    from statebench.bench.progress import make_reporter
    from statebench.bench.runner import run_matrix, run_status

    chosen = {"kind": executor, "workers": workers, "address": address}
    chosen["slurm.partition"] = partition
    extra = [f"executor.{k}={json.dumps(v)}" for k, v in chosen.items() if v is not None]
    cfg = resolve(preset, config, arch, task, seeds, [*(set_ or []), *extra], device, True)
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
    args = RunArgs(preset, config, arch or [], task or [], seeds or [], set_ or [], device)
    code = finish_run(run_dir, args, console, err_console, not no_report, allow_failures)
    left = run_status(run_dir, cfg.executor.claim_stale_s).pending
    if left:
        err_console.print(
            f"[yellow]{len(left)} cell(s) not stored[/] (lost with their worker, or claimed by a "
            "driver that stopped): run the same command again to resume them",
            highlight=False,
        )
    if left or code:
        raise typer.Exit(code=1)


@app.command("status")
def status(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (made by statebench run).")],
    limit: Annotated[int, typer.Option("--limit", help="Rows per list.", min=0)] = 10,
) -> None:
    """Cells done, failed, pending, in flight (claimed by a live driver) and what runs next."""
    import time

    from statebench.bench.runner import run_status

    try:
        st = run_status(run_dir)
    except UserError as e:
        fail(str(e))
        return

    def label(key: str) -> str:
        return st.labels.get(key, key)

    counts: dict[str, int] = {}
    for s in st.statuses.values():
        counts[s] = counts.get(s, 0) + 1
    summary = Table(title=f"run {st.run_id}", show_header=False)
    summary.add_column("what")
    summary.add_column("cells", justify="right")
    summary.add_row("cells", str(len(st.cells)))
    for name, n in sorted(counts.items(), key=lambda kv: (kv[0] != "ok", kv[0])):
        summary.add_row(f"done: {name}", f"[{'green' if name == 'ok' else 'yellow'}]{n}[/]")
    summary.add_row("pending", str(len(st.pending)))
    summary.add_row("  in flight (claimed)", str(len(st.in_flight)))
    summary.add_row("  stale claims (taken over next run)", str(len(st.stale & set(st.pending))))
    summary.add_row("  unreadable files (run again)", str(len(st.corrupt)))
    if st.stray:
        summary.add_row("stray or copied files (ignored)", str(len(st.stray)))
    console.print(summary)

    now = time.time()
    if st.in_flight:
        table = Table(title="in flight")
        for col in ("cell", "key", "driver", "worker", "running for"):
            table.add_column(col)
        for key in st.in_flight[:limit]:
            claim, rec = st.claims[key], st.running.get(key)
            worker = f"{rec.host}:{rec.pid}" if rec else "queued"
            since = f"{now - rec.started:.0f}s" if rec else "-"
            table.add_row(label(key), key, f"{claim.host}:{claim.pid}", worker, since)
        console.print(table)
    failed = [(k, s) for k, s in st.statuses.items() if is_failed(s)]
    if failed:
        table = Table(title="failed")
        table.add_column("status")
        table.add_column("cell")
        table.add_column("key")
        for key, s in failed[:limit]:
            table.add_row(s, label(key), key)
        console.print(table)
    if st.next_up:
        table = Table(title=f"next to run ({len(st.next_up)})")
        table.add_column("cell")
        table.add_column("key")
        table.add_column("note")
        for key in st.next_up[:limit]:
            note = "unreadable file" if key in st.corrupt else ""
            note = "stale claim" if key in st.stale else note
            table.add_row(label(key), key, note)
        console.print(table)


def _first_sentence(cls: type) -> str:
    """An adapter's one-line description: its `description`, else its docstring's first sentence."""
    text = getattr(cls, "description", None) or (cls.__doc__ or "").strip().split("\n\n")[0]
    text = " ".join(text.split())
    return text.split(". ")[0].rstrip(".") if ". " in text else text


@app.command("list")
def list_cmd() -> None:
    """Architectures, tasks and presets, with one-line descriptions."""
    import statebench.models as models
    import statebench.tasks as tasks

    table = Table(title="architectures", show_header=True)
    table.add_column("name")
    table.add_column("description")
    table.add_column("options")
    for name in models.list_archs():
        try:
            doc = _first_sentence(models.arch_class(name))
            opts = ", ".join(models.arch_option_names(name))
        except Exception as e:  # a broken third-party entry point must not hide the rest
            doc, opts = "", f"(cannot load: {e})"
        table.add_row(name, doc, opts)
    console.print(table)
    table = Table(title="tasks")
    table.add_column("name")
    table.add_column("description")
    for name in tasks.list_tasks():
        table.add_row(name, tasks.task_class(name).description)
    console.print(table)
    table = Table(title="presets")
    table.add_column("name")
    table.add_column("description")
    for name, desc in list_presets().items():
        table.add_row(name, desc)
    console.print(table)


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
) -> None:
    """Draw one figure from a results directory."""
    from statebench.bench.report import plot_command

    try:
        paths = plot_command(run_dir, kind, out)
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
) -> None:
    """Write the leaderboard, every figure, config, provenance and failures as one report."""
    from statebench.bench.report import report_command

    try:
        path = report_command(run_dir, format_, out)
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
    from statebench.bench.reevaluate import reevaluate_run

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


@app.command()
def doctor(
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the report as JSON here")
    ] = None,
) -> None:
    """Versions, device, fused packages (and why each is off), and the path every arch takes."""
    import json

    from statebench.bench import doctor as doc

    device = doc.default_device()
    env = doc.environment_lines(device)
    packages, paths = doc.package_rows(device), doc.path_rows(device)
    for title, header, rows in (
        ("Environment", ("", "value"), env),
        ("Fused packages", ("package", "version", "status", "why off"), packages),
        (
            f"Paths on {device.type}",
            ("arch", "options", "dtype", "forward", "step", "why off"),
            paths,
        ),
    ):
        table = Table(*header, title=title, title_justify="left")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    if json_out is not None:
        keys = (
            ("package", "version", "status", "why_off"),
            ("arch", "options", "dtype", "forward", "step", "why_off"),
        )
        report = {
            "environment": dict(env),
            "packages": [dict(zip(keys[0], r, strict=True)) for r in packages],
            "paths": [dict(zip(keys[1], r, strict=True)) for r in paths],
        }
        json_out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":  # pragma: no cover
    app()

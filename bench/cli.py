"""The `statebench` command line: run, list, show-config (and the commands later rooms add)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bench.config import ConfigError, MatrixConfig, list_presets, load_config, to_toml

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="statebench: can this architecture track state, and up to what length?",
)
console = Console()
err_console = Console(stderr=True)

PresetOpt = Annotated[
    str | None, typer.Option("--preset", "-p", help="A shipped preset (see `statebench list`).")
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="A TOML config file.", dir_okay=False)
]
ArchOpt = Annotated[
    list[str] | None,
    typer.Option("--arch", "-a", help="Architectures (repeat); a name or package.module:Class."),
]
TaskOpt = Annotated[list[str] | None, typer.Option("--task", "-t", help="Tasks (repeat).")]
SeedsOpt = Annotated[list[int] | None, typer.Option("--seeds", help="Seeds (repeat).")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override any field: key.path=value (TOML value)."),
]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="cpu, cuda or auto.")]


def fail(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code=2)


def resolve(
    preset: str | None,
    config: Path | None,
    arch: list[str] | None,
    task: list[str] | None,
    seeds: list[int] | None,
    overrides: list[str] | None,
    device: str | None,
) -> MatrixConfig:
    try:
        return load_config(
            preset=preset,
            config_file=config,
            overrides=overrides,
            archs=arch or None,
            tasks=task or None,
            seeds=seeds or None,
            device=device,
        )
    except (ConfigError, ValueError) as e:
        fail(str(e))
        raise  # unreachable


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO level.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@app.command()
def run(
    preset: PresetOpt = None,
    config: ConfigOpt = None,
    arch: ArchOpt = None,
    task: TaskOpt = None,
    seeds: SeedsOpt = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Override any field: key.path=value (TOML value)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Run directory (default: results/<name>-<hash>)."),
    ] = None,
    device: DeviceOpt = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Run again cells stored as failed.")
    ] = False,
) -> None:
    """Train and evaluate the architecture x task x seed matrix (quick preset by default).

    Interrupt it at any time; the same command resumes where it stopped.
    """
    from bench.progress import RichReporter
    from bench.runner import run_matrix

    cfg = resolve(preset, config, arch, task, seeds, set_, device)
    try:
        run_dir = run_matrix(cfg, out, reporter=RichReporter(console), retry_failed=retry_failed)
    except ConfigError as e:
        fail(str(e))
        return
    _print_summary(run_dir)


def _print_summary(run_dir: Path) -> None:
    from bench import store

    df = store.load(run_dir)
    console.print(f"results in [bold]{run_dir}[/] ({df['cell'].nunique()} cells, {len(df)} rows)")
    if df.empty:
        return
    ok = df[df["status"] == "ok"]
    if not ok.empty:
        pivot = ok.pivot_table(index="arch", columns="task", values="accuracy", aggfunc="mean")
        table = Table(title="mean accuracy over eval lengths", show_lines=False)
        table.add_column("arch")
        for col in pivot.columns:
            table.add_column(str(col), justify="right")
        for arch_name, row in pivot.iterrows():
            table.add_row(str(arch_name), *(f"{v:.3f}" if v == v else "-" for v in row))
        console.print(table)
    failed = df[~df["status"].isin(["ok", "skipped"])].drop_duplicates("cell")
    for _, r in failed.iterrows():
        console.print(
            f"[yellow]{r['status']}[/]: {r['arch']} / {r['task']} / seed {r['seed']}: {r['error']}"
        )


@app.command("list")
def list_cmd() -> None:
    """Architectures, tasks and presets, with one-line descriptions."""
    import models
    import tasks

    table = Table(title="architectures", show_header=True)
    table.add_column("name")
    table.add_column("options")
    for name in models.list_archs():
        try:
            opts = ", ".join(models.arch_option_names(name))
        except Exception as e:  # a broken third-party entry point must not hide the rest
            opts = f"(cannot load: {e})"
        table.add_row(name, opts)
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
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Override any field: key.path=value (TOML value)."),
    ] = None,
    device: DeviceOpt = None,
) -> None:
    """Print the resolved config as TOML (preset or file, then overrides)."""
    cfg = resolve(preset, config, arch, task, seeds, set_, device)
    typer.echo(to_toml(cfg), nl=False)


if __name__ == "__main__":  # pragma: no cover
    app()

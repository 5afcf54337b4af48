"""Command-line options shared by every command that resolves a matrix (run, show-config, probe)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, get_args

import typer
from statebench.bench.cli.help import complete_archs, complete_presets, complete_tasks

PresetOpt = Annotated[
    str | None,
    typer.Option(
        "--preset",
        "-p",
        help="A shipped preset (see `statebench list`).",
        autocompletion=complete_presets,
    ),
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="A TOML config file.", dir_okay=False)
]
ArchOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--arch",
        "-a",
        help="Architectures (repeat); a name or package.module:Class.",
        autocompletion=complete_archs,
    ),
]
TaskOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--task",
        "-t",
        help="Tasks (repeat); a name or package.module:Class.",
        autocompletion=complete_tasks,
    ),
]
SeedsOpt = Annotated[
    list[int] | None,
    typer.Option("--seed", "--seeds", help="Seeds (repeat: --seed 0 --seed 1)."),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override any field: key.path=value (TOML value)."),
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        "--threads",
        help="Torch CPU threads per cell (default 1; 0: the cores shared by the cells at once).",
        min=0,
    ),
]
# Fixed choices are Literal types, so help lists them and a typo is refused with the list.
Device = Literal["auto", "cpu", "cuda"]
Executor = Literal["local", "pool", "ray", "slurm"]
ReportFormat = Literal["md", "html"]
# bench.plots.FIGURES and "all" (a test keeps them equal; named here so that the command line
# starts without importing matplotlib).
FigureKind = Literal[
    "accuracy",
    "heatmap",
    "critical_time",
    "wallclock",
    "size",
    "maze",
    "learning",
    "seqlen_scaling",
    "seqlen_time",
    "all",
]
DEVICES, EXECUTORS = get_args(Device), get_args(Executor)
REPORT_FORMATS, FIGURE_KINDS = get_args(ReportFormat), get_args(FigureKind)
DeviceOpt = Annotated[
    Device | None,
    typer.Option(
        "--device",
        help="Where cells run (default auto).",
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Run directory (default: results/<name>-<hash>)."),
]
SkipConformanceOpt = Annotated[
    bool,
    typer.Option(
        "--skip-conformance",
        help="Use outside archs and tasks without the conformance check (rows record it).",
    ),
]
BaselineOpt = Annotated[
    str | None,
    typer.Option(
        "--baseline",
        help="A run directory, or a shipped reference (quick, quick-probe, ...), whose cells are "
        "shown beside this run's, marked [baseline], without rerunning them.",
    ),
]

"""Command-line options shared by every command that resolves a matrix (run, show-config, probe)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Run directory (default: results/<name>-<hash>)."),
]

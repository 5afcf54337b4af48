"""What the commands share: the consoles, the one-line error exit, and config resolution."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from statebench.bench.config import MatrixConfig, check_device, load_config

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    """Print `error: message` (not wrapped, so a one-line message stays one line) and exit
    with `code` (2: bad input; 1: an output that could not be written).

    The message is plain text: `pip install -e '.[ray]'` keeps its brackets."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=code)


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

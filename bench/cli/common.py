"""What the commands share: the consoles, the one-line error exit, and config resolution."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from statebench.bench.cli.help import make_console
from statebench.bench.config import MatrixConfig, check_device, load_config

console = make_console()
err_console = make_console(stderr=True)


def fail(message: str) -> None:
    """Print `error: message` (not wrapped, so a one-line message stays one line) and exit 2.

    The message is plain text: `pip install -e '.[ray]'` keeps its brackets."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
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
    default_base: str = "quick",
) -> MatrixConfig:
    """The resolved config (`default_base`: the preset underneath when neither --preset nor
    the file's `base` names one); with `will_run`, also refuse what cannot run here."""
    try:
        cfg = load_config(
            preset=preset,
            config_file=config,
            overrides=overrides,
            default_base=default_base,
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

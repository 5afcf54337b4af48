"""What the commands share: the consoles, the one-line error exit, and config resolution."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text
from statebench.bench.cli.help import make_console
from statebench.bench.config import MatrixConfig, check_device, load_config
from statebench.bench.config.labels import markup_safe, printable

console = make_console()
err_console = make_console(stderr=True)


def plain(value: object) -> Text:
    """A value read from a run directory (label, name, error), as rich shows it: never parsed
    as markup (`[/]x[` is text) and with control characters written as escapes."""
    return Text(printable(value))


def safe(value: object) -> str:
    """`plain` for an f-string that is printed with markup: markup-escaped, control characters
    written as escapes."""
    return markup_safe(value)


def fail(message: str, code: int = 2) -> None:
    """Print `error: message` (not wrapped, so a one-line message stays one line) and exit
    with `code` (2: bad input; 1: an output that could not be written).

    The message is plain text: `pip install -e '.[ray]'` keeps its brackets, and a control
    character in it (from a file name or a label) is written as its escape."""
    err_console.print(f"[bold red]error:[/] {safe(message)}", highlight=False, soft_wrap=True)
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

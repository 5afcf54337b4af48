"""How the command line reads: flags shown as flags, choice lists that wrap between choices,
completion of arch, task and preset names, and consoles that never hard-wrap redirected output.

`StatebenchGroup` is the app's click group: it touches only how options are displayed, never
what they accept, so each command keeps its plain typer declarations.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console
from typer.core import TyperGroup

# Output that is not a terminal (a file, a pipe, CI) gets lines as long as they are: rich would
# otherwise wrap them at 80 columns, splitting paths, commands and table rows.
UNWRAPPED_WIDTH = 1000


def make_console(stderr: bool = False) -> Console:
    """A rich console: a terminal's own width, or unwrapped lines when redirected (COLUMNS, if
    set, still decides)."""
    stream = sys.stderr if stderr else sys.stdout
    redirected = not (hasattr(stream, "isatty") and stream.isatty())
    if redirected and not os.environ.get("COLUMNS"):
        return Console(stderr=stderr, width=UNWRAPPED_WIDTH, soft_wrap=True)
    return Console(stderr=stderr)


def _display(param) -> None:
    """A flag shows no value type (it takes none); a choice list shows ` | ` between choices,
    so a narrow help column wraps it between choices, never inside one."""
    if getattr(param, "metavar", None) is not None:
        return
    if getattr(param, "is_bool_flag", False) and not getattr(param, "secondary_opts", None):
        param.metavar = ""
        return
    descriptor = getattr(param, "type_descriptor", None)
    choices = getattr(descriptor, "choices", None) if descriptor is not None else None
    if choices and getattr(descriptor, "is_choice", False) and not descriptor.is_list:
        param.metavar = "<" + " | ".join(str(c) for c in choices) + ">"


def reflow(text: str | None) -> str | None:
    """A docstring's paragraphs as single lines: the help wraps them to its own width, instead
    of keeping the source's line breaks."""
    if not text:
        return text
    import inspect

    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(text).split("\n\n"))


class StatebenchGroup(TyperGroup):
    """The app's group: every command's options (and the group's own) displayed as above."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            _display(param)
        return params

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            command.help = reflow(command.help)
            for param in command.get_params(ctx):
                _display(param)
        return command


def complete_presets(incomplete: str) -> list[str]:
    from statebench.bench.config import list_presets

    return [name for name in list_presets() if name.startswith(incomplete)]


def complete_archs(incomplete: str) -> list[str]:
    import statebench.models as models

    return [name for name in models.list_archs() if name.startswith(incomplete)]


def complete_tasks(incomplete: str) -> list[str]:
    import statebench.tasks as tasks

    return [name for name in tasks.list_tasks() if name.startswith(incomplete)]

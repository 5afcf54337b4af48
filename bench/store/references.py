"""The shipped reference runs, and what `--baseline` names: a run directory or a reference.

The rows of each committed reference (results/reference/<name>/: its manifest and rows/*.parquet,
`RunDir.ship`) install with the package as `statebench/reference/<name>/`: in a checkout and an
editable install that is a link to results/reference/, in a wheel a copy of the rows (package
data). So `--baseline quick` finds the quick reference wherever statebench is installed.
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path

from statebench.bench.config.errors import RunDirError
from statebench.bench.store.layout import MANIFEST, RunDir


def references_root() -> Path:
    """Where the shipped references are: statebench/reference/ (results/reference/ in a
    checkout, through the link)."""
    return Path(str(resources.files("statebench") / "reference"))


def shipped_references() -> dict[str, Path]:
    """Name -> folder of every shipped reference that holds rows (a manifest), sorted by name."""
    root = references_root()
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if (p / MANIFEST).is_file()}


def find_baseline(spec: str | Path) -> RunDir:
    """The run `--baseline` names: an existing directory (a run directory, or a shipped run
    such as results/reference/quick) first, else the name of a shipped reference. RunDirError,
    one line naming the value and what is allowed, for anything else (nothing is read yet)."""
    path = Path(spec)
    if path.is_dir():
        return RunDir(path)
    shipped = shipped_references()
    name = str(spec)
    if name in shipped:
        return RunDir(shipped[name])
    close = difflib.get_close_matches(name, list(shipped), n=2)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    names = ", ".join(shipped) if shipped else "none installed"
    raise RunDirError(
        f"--baseline {name!r}: no such run directory and no shipped reference of that name"
        f"{hint}; give a run directory (results/<name>-<hash>) or a shipped reference: {names}"
    )


def check_baseline(spec: str | Path) -> RunDir:
    """`find_baseline`, and that it holds a run (a manifest): what a command checks before it
    trains anything, so a bad `--baseline` fails first."""
    run = find_baseline(spec)
    try:
        run.require_manifest()
    except RunDirError as e:
        raise RunDirError(f"--baseline {str(spec)!r}: {e}") from None
    return run

"""The commands that look without running: `status` of a run, `list` of what is registered, and
`doctor` on this machine's packages and code paths."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text
from statebench.bench.cli.common import console, fail, plain
from statebench.bench.config import list_presets
from statebench.bench.config.errors import UserError
from statebench.bench.store.schema import is_failed

if TYPE_CHECKING:
    from statebench.bench.run.runner import RunStatus


def status(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (made by statebench run).")],
    limit: Annotated[int, typer.Option("--limit", help="Rows per list.", min=0)] = 10,
) -> None:
    """Cells done, failed, pending, in flight (claimed by a live driver) and what runs next."""
    from statebench.bench.run.runner import run_status

    try:
        st = run_status(run_dir)
    except UserError as e:
        fail(str(e))
        return
    console.print(_summary_table(st))
    tables = (_in_flight_table(st, limit), _failed_table(st, limit), _foreign_table(st, limit),
              _next_table(st, limit))  # fmt: skip
    for table in tables:
        if table is not None:
            console.print(table)


def _summary_table(st: RunStatus) -> Table:
    counts: dict[str, int] = {}
    for s in st.statuses.values():
        counts[s] = counts.get(s, 0) + 1
    summary = Table(title=plain(f"run {st.run_id}"), show_header=False)
    summary.add_column("what")
    summary.add_column("cells", justify="right")
    summary.add_row("cells", str(len(st.cells)))
    for name, n in sorted(counts.items(), key=lambda kv: (kv[0] != "ok", kv[0])):
        color = "green" if name == "ok" else "yellow"
        summary.add_row(plain(f"done: {name}"), Text(str(n), style=color))
    summary.add_row("pending", str(len(st.pending)))
    summary.add_row("  in flight (claimed)", str(len(st.in_flight)))
    summary.add_row("  stale claims (taken over next run)", str(len(st.stale & set(st.pending))))
    summary.add_row("  unreadable files (run again)", str(len(st.corrupt)))
    if st.foreign:
        summary.add_row("  foreign files: copies, other runs' (run again)", str(len(st.foreign)))
    if st.stray:
        summary.add_row("stray or copied files (ignored)", str(len(st.stray)))
    return summary


def _in_flight_table(st: RunStatus, limit: int) -> Table | None:
    if not st.in_flight:
        return None
    now = time.time()
    table = Table(title="in flight")
    for col in ("cell", "key", "driver", "worker", "running for"):
        table.add_column(col)
    for key in st.in_flight[:limit]:
        claim, rec = st.claims[key], st.running.get(key)
        worker = f"{rec.host}:{rec.pid}" if rec else "queued"
        since = f"{now - rec.started:.0f}s" if rec else "-"
        table.add_row(
            plain(st.labels.get(key, key)),
            key,
            plain(f"{claim.host}:{claim.pid}"),
            plain(worker),
            since,
        )
    return table


def _failed_table(st: RunStatus, limit: int) -> Table | None:
    failed = [(k, s) for k, s in st.statuses.items() if is_failed(s)]
    if not failed:
        return None
    table = Table(title="failed")
    table.add_column("status")
    table.add_column("cell")
    table.add_column("key")
    for key, s in failed[:limit]:
        table.add_row(plain(s), plain(st.labels.get(key, key)), key)
    return table


def _foreign_table(st: RunStatus, limit: int) -> Table | None:
    """Cell files that are not their cell's own, and why: ignored, their cells run again."""
    if not st.foreign:
        return None
    table = Table(title="foreign files (ignored; their cells run again)")
    table.add_column("key")
    table.add_column("why")
    for key, why in list(st.foreign.items())[:limit]:
        table.add_row(key, plain(why))
    return table


def _next_table(st: RunStatus, limit: int) -> Table | None:
    if not st.next_up:
        return None
    table = Table(title=f"next to run ({len(st.next_up)})")
    table.add_column("cell")
    table.add_column("key")
    table.add_column("note")
    for key in st.next_up[:limit]:
        note = "unreadable file" if key in st.corrupt else ""
        note = "foreign file" if key in st.foreign else note
        note = "stale claim" if key in st.stale else note
        table.add_row(plain(st.labels.get(key, key)), key, note)
    return table


# A sentence ends at ". " before a capital, except after an abbreviation ("et al. 2023",
# "e.g. Mamba", "cf. Griffin").
SENTENCE_END = re.compile(
    r"(?<!\bal)(?<!\be\.g)(?<!\bi\.e)(?<!\bcf)(?<!\bvs)(?<!\bFig)\.\s+(?=[A-Z])"
)


def _first_sentence(cls: type) -> str:
    """An adapter's one-line description: its `description` whole, else its docstring's first
    sentence (abbreviations such as "et al." do not end one)."""
    described = getattr(cls, "description", None)
    if described:
        return " ".join(str(described).split())
    text = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
    return SENTENCE_END.split(text, maxsplit=1)[0].rstrip(".")


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


def doctor(
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the report as JSON here")
    ] = None,
) -> None:
    """Versions, device, fused packages (and why each is off), and the path every arch takes."""
    import json

    from statebench.bench.cli import doctor as doc

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


def wheelhouse(
    dest: Annotated[Path, typer.Argument(help="folder to fill with wheels (created if missing)")],
    extra: Annotated[
        list[str] | None, typer.Option("--extra", "-e", help="extras of statebench (repeatable)")
    ] = None,
    group: Annotated[
        list[str] | None,
        typer.Option("--group", "-g", help="dependency groups, e.g. test (repeatable)"),
    ] = None,
    python: Annotated[str, typer.Option(help="the node's Python, major.minor")] = "3.12",
    platform: Annotated[
        list[str] | None,
        typer.Option(help="wheel platform tags the node runs (default manylinux x86-64)"),
    ] = None,
    provided: Annotated[
        list[str] | None,
        typer.Option(help="packages the node's image already has (default torch, triton)"),
    ] = None,
) -> None:
    """Fetch every wheel an air-gapped node needs (statebench, its extras and groups), for the
    node's Python and platform; say which packages have no wheel and need a build."""
    import re

    from statebench.bench.cli import wheelhouse as wh

    if not re.fullmatch(r"3\.\d+", python):
        fail(f"--python {python!r}: give the node's Python as major.minor, e.g. 3.12")
    extras = ["gpu"] if extra is None else extra
    target = wh.Target(python=python, platforms=tuple(platform) if platform else wh.PLATFORMS)
    image = tuple(provided) if provided else wh.IMAGE_PROVIDES
    try:
        wh.group_requirements(group or [])
    except (KeyError, FileNotFoundError) as e:
        fail(str(e).strip("'\""))
    try:
        house = wh.build(dest, extras, group or [], target, image)
    except wh.PipFailed as e:
        fail(str(e))
    table = Table("package", "version", "MB", title=f"Wheels in {dest}", title_justify="left")
    for w in house.wheels:
        table.add_row(w["name"], w["version"], f"{w['bytes'] / 1e6:.2f}")
    console.print(table)
    say = lambda text: console.print(text, markup=False, highlight=False)  # noqa: E731
    say(f"{len(house.wheels)} wheels, {house.total_bytes / 1e6:.1f} MB, for CPython {python} on "
        f"{target.platforms[0]} .. {target.platforms[-1]}; left to the node's image: "
        f"{', '.join(house.left_to_image) or 'nothing'}")  # fmt: skip
    for b in house.needs_build:
        size = "size unknown" if b["bytes"] is None else f"{b['bytes'] / 1e3:,.0f} kB"
        say(f"no wheel for this target, needs a build: {b['requirement']} (source distribution "
            f"{b['sdist'] or '?'}, {size}; its own dependencies are not fetched)")  # fmt: skip
    say(f"on the node: pip install --no-index --find-links {dest} "
        f"'state-tracking-bench[{','.join(extras)}]'"
        + (f" -r {dest}/groups.txt" if group else ""))  # fmt: skip

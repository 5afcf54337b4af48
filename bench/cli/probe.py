"""`statebench probe`: train or reuse a matrix's cells, stream them long, print t* per arch x task.

`bench.cli` registers it on the main app (`app.command("probe")(probe)`); it does not import
`bench.cli`, so that module can import this one without a cycle.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from statebench.bench.cli.common import console, err_console, fail, plain, resolve, safe
from statebench.bench.cli.help import complete_presets
from statebench.bench.cli.options import (
    ArchOpt,
    ConfigOpt,
    DeviceOpt,
    OutOpt,
    SeedsOpt,
    SetOpt,
    SkipConformanceOpt,
    TaskOpt,
    ThreadsOpt,
)

if TYPE_CHECKING:  # pandas loads with the results, not with the command line
    from pathlib import Path

    import pandas as pd
    from statebench.bench.run.matrix import Cell

from statebench.bench.config.labels import task_label, with_options
from statebench.bench.store.schema import is_failed

DEFAULT_PRESET = "quick-probe"


def probe(
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            "-p",
            help=f"A shipped preset (default {DEFAULT_PRESET}).",
            autocompletion=complete_presets,
        ),
    ] = None,
    config: ConfigOpt = None,
    arch: ArchOpt = None,
    task: TaskOpt = None,
    seeds: SeedsOpt = None,
    set_: SetOpt = None,
    out: OutOpt = None,
    device: DeviceOpt = None,
    max_len: Annotated[
        int | None,
        typer.Option("--max-len", help="Longest position to stream (probe.max_len).", min=1),
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(
            "--executor", "-e", help="Where cells train: local, pool, ray or slurm (default local)."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-j", help="Cells at once (pool: default one per core/GPU)."),
    ] = None,
    require_same_code: Annotated[
        bool,
        typer.Option(
            "--require-same-code", help="Refuse to resume a run stored by another code version."
        ),
    ] = False,
    skip_conformance: SkipConformanceOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Measure the critical time t*: where each trained model's accuracy falls along a stream.

    Trains the cells not yet stored (or reuses their checkpoints), streams `max_len` tokens
    through each, and prints t* per arch x task; censored results read "> N".
    """
    from statebench.bench.probe.progress import make_probe_reporter
    from statebench.bench.probe.runner import run_probe
    from statebench.bench.run.progress import make_reporter

    overrides = list(set_ or []) + ([f"probe.max_len={max_len}"] if max_len else [])
    overrides += [f'executor.kind="{executor}"'] if executor else []
    # `is not None`: --workers 0 is refused by the config (workers >= 1), never ignored
    overrides += [f"executor.workers={workers}"] if workers is not None else []
    overrides += [f"executor.threads={threads}"] if threads is not None else []
    cfg = resolve(preset, config, arch, task, seeds, overrides, device, True, DEFAULT_PRESET)
    try:
        run_dir, cells = run_probe(
            cfg,
            out,
            make_reporter(console),
            make_probe_reporter(console),
            require_same_code=require_same_code,
            skip_conformance=skip_conformance,
        )
    except ValueError as e:  # UserError, and the ValueErrors of a task or an arch
        fail(str(e))
        return
    df = print_probes(run_dir, cells)
    # A cell that failed (error, diverged, oom, timeout) measured nothing: the command failed.
    # `not_learned` is a result (no t* to report), not a failure of the command.
    failed = df[df["status"].astype(str).map(is_failed) & (df["status"] != "not_learned")]
    if len(failed) or df["cell"].nunique() < len({c.key for c in cells}):
        counts = failed.drop_duplicates("cell")["status"].astype(str).value_counts()
        missing = len({c.key for c in cells}) - df["cell"].nunique()
        what = [f"{n} {status}" for status, n in sorted(counts.items())]
        what += [f"{missing} without probe rows"] if missing else []
        err_console.print(
            f"[bold red]probe failed[/] for {', '.join(what)} of {len(cells)} cells: see the "
            "status column above (`statebench status` lists why)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(code=1)


def print_probes(run_dir: Path, cells: list[Cell]) -> pd.DataFrame:
    """The stored t* of these cells, one table per threshold, in the config's order (returned)."""
    from statebench.bench.store import RunDir

    order = {c.key: i for i, c in enumerate(cells)}  # the config's arch x task order
    df = RunDir(run_dir).load_probes()
    df = df[df["cell"].astype(str).isin(order)]
    df = df.assign(_order=df["cell"].astype(str).map(order)).sort_values(["_order", "seed"])
    console.print(f"probes in [bold]{safe(run_dir)}[/] ({df['cell'].nunique()} cells)")
    for name in dict.fromkeys(df["threshold_name"].astype(str)):
        console.print(t_star_table(df[df["threshold_name"].astype(str) == name], name))
    return df


def format_t_star(row: pd.Series) -> str:
    """ "412 [355, 470]"; censored "> 4096" (and why it stopped, if early); failures by status."""
    status = str(row["status"])
    if is_failed(status):
        return status
    if bool(row["censored"]):
        why = f" ({row['stopped_by']})" if status == "skipped" and row["stopped_by"] else ""
        return f"> {int(row['reached_len'])}{why}"
    hi = row["t_star_hi"]
    hi_text = "-" if hi is None or (isinstance(hi, float) and math.isnan(hi)) else f"{hi:.0f}"
    return f"{row['t_star']:.0f} [{row['t_star_lo']:.0f}, {hi_text}]"


def _arch_label(row: pd.Series, sized: bool) -> str:
    label = with_options(str(row["arch"]), row["arch_options"] or None)
    if sized:
        label += f" L{int(row['n_layers'])} d{int(row['d_model'])}"
    return label


def t_star_table(df: pd.DataFrame, threshold_name: str) -> Table:
    """One row per arch (and size, when sizes differ), one column per task; seeds joined.

    Rows and columns keep the order of `df` (the caller sorts it in config order).
    """
    title = "critical time t* [95% interval], threshold " + (
        "halfway between chance and in-distribution accuracy"
        if threshold_name == "half"
        else threshold_name
    )
    table = Table(title=title)
    sized = df.groupby("arch")[["n_layers", "d_model"]].nunique().gt(1).any().any()
    labels = df.apply(lambda r: _arch_label(r, bool(sized)), axis=1) if len(df) else []
    df = df.assign(label=labels, text=df.apply(format_t_star, axis=1) if len(df) else [])
    # tasks with their options, as the report's tables head them: dyck(k=2), not dyck
    options = df["task_options"] if "task_options" in df else [""] * len(df)
    df = df.assign(
        task=[
            task_label(str(t), o if isinstance(o, str) else "")
            for t, o in zip(df["task"], options, strict=True)
        ]
    )
    tasks = list(dict.fromkeys(df["task"].astype(str)))
    table.add_column("arch")
    for task in tasks:
        table.add_column(plain(task), justify="right")
    for label, rows in df.groupby("label", sort=False):
        cells = []
        for task in tasks:
            texts = rows.loc[rows["task"].astype(str) == task, "text"]
            cells.append(" / ".join(texts) if len(texts) else "")
        table.add_row(plain(label), *map(plain, cells))
    return table

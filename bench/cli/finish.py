"""How `statebench run` ends: the run's report written into it, the next commands, and an exit
status that says whether every cell was measured."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from statebench.bench.cli.common import safe


@dataclass(frozen=True)
class RunArgs:
    """What the user chose, to print the follow-up commands that reuse the same cells."""

    preset: str | None
    config: Path | None
    archs: list[str]
    tasks: list[str]
    seeds: list[int]
    overrides: list[str]
    device: str | None
    baseline: str | None = None  # the run the report shows beside this one (--baseline)

    def probe_command(self, run_dir: Path) -> str:
        # The probe's own default preset differs from run's: name the one that made this run.
        words = ["statebench", "probe"]
        if self.config is not None:
            words += ["--config", str(self.config)]
            if self.preset or not _names_a_base(self.config):  # probe's own default differs
                words += ["--preset", self.preset or "quick"]
        else:
            words += ["--preset", self.preset or "quick"]
        words += [w for a in self.archs for w in ("--arch", a)]
        words += [w for t in self.tasks for w in ("--task", t)]
        words += [w for s in self.seeds for w in ("--seed", str(s))]
        words += [w for o in self.overrides for w in ("--set", o)]
        if self.device:
            words += ["--device", self.device]
        return shlex.join([*words, "--out", str(run_dir)])


def _names_a_base(config: Path) -> bool:
    """Whether a config file says which preset it builds on (`base = ...`)."""
    from statebench.bench.config import toml_file_dict

    try:
        return "base" in toml_file_dict(config)
    except ValueError:
        return False


def executor_overrides(
    kind: str | None,
    workers: int | None,
    address: str | None,
    partition: str | None,
    threads: int | None = None,
) -> list[str]:
    """`--set` assignments for the executor options given on the command line."""
    chosen = {
        "kind": kind,
        "workers": workers,
        "address": address,
        "slurm.partition": partition,
        "threads": threads,
    }
    return [f"executor.{k}={json.dumps(v)}" for k, v in chosen.items() if v is not None]


def finish_run(
    run_dir: Path,
    args: RunArgs,
    console: Console,
    err_console: Console,
    write_report: bool = True,
    allow_failures: bool = False,
) -> int:
    """Summarise a finished run; returns the exit status (0 only if every cell measured)."""
    from statebench.bench.store import RunDir, manifest_cells

    run = RunDir(run_dir)
    cells = set(manifest_cells(run.manifest()))
    df = run.load()
    if cells:
        df = df[df["cell"].astype(str).isin(cells)]
    n_cells = len(cells) or df["cell"].nunique()
    failed = df[~df["status"].isin(["ok", "skipped"])].drop_duplicates("cell")
    _print_stored(console, run_dir, df, n_cells, failed)
    if write_report and not df.empty:
        _write_report(console, run_dir, args)
    if not bool((df["status"] == "ok").any()):
        err_console.print(
            "[bold red]no measurement stored:[/] no cell reached an evaluated length with status "
            "ok (every cell failed, or every eval length was skipped)",
            highlight=False,
        )
        return 1
    if len(failed) and not allow_failures:
        err_console.print(
            f"[yellow]{len(failed)} cell(s) failed[/] (listed above); --allow-failures makes "
            "this exit 0, --retry-failed runs them again",
            highlight=False,
        )
        return 1
    return 0


def _print_stored(console: Console, run_dir: Path, df, n_cells: int, failed) -> None:
    """How many cells are stored, and the last line of each failed cell's error."""
    console.print(
        f"results in [bold]{safe(run_dir)}[/] ({df['cell'].nunique()} of {n_cells} cells "
        f"stored, {len(failed)} failed)",
        highlight=False,
    )
    for _, r in failed.iterrows():
        first = str(r["error"] or "").strip().splitlines()
        console.print(
            f"[yellow]{safe(r['status'])}[/]: {safe(r['arch'])} / {safe(r['task'])} / seed "
            f"{safe(r['seed'])}: {safe(first[-1] if first else '')}",
            highlight=False,
        )


def _write_report(console: Console, run_dir: Path, args: RunArgs) -> None:
    """The run's markdown report, and the commands that read the run further."""
    from statebench.bench.report import report

    path = report(run_dir, "md", baseline=args.baseline)
    console.print(f"report: [bold]{safe(path)}[/] (figures in {safe(path.parent / 'figures')})")
    console.print("next:")
    beside = ["--baseline", args.baseline] if args.baseline else []
    html = shlex.join(["statebench", "report", str(run_dir), "--format", "html", *beside])
    console.print(f"  {safe(html)}", highlight=False, soft_wrap=True)
    console.print(f"  {safe(args.probe_command(run_dir))}", highlight=False, soft_wrap=True)
    console.print(f"  statebench status {safe(shlex.quote(str(run_dir)))}", highlight=False)


def warn_unstored(run_dir: Path, claim_stale_s: float, err_console: Console) -> int:
    """Say how many cells are still not stored (a lost worker, a stopped driver); their count."""
    from statebench.bench.run.runner import run_status

    left = run_status(run_dir, claim_stale_s).pending
    if left:
        err_console.print(
            f"[yellow]{len(left)} cell(s) not stored[/] (lost with their worker, or claimed by a "
            "driver that stopped): run the same command again to resume them",
            highlight=False,
        )
    return len(left)

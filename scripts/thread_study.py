"""How long quick-preset cells take with each torch thread setting, on an idle and a busy CPU.

Runs the same cells (the quick preset's lstm, transformer and mamba on parity, each trained
exactly 60 steps with its validation checks) once per setting, each in a fresh `statebench run`
process: `--threads 0` (one cell at a time on every core: torch's own default), `--threads 1`,
and the pool executor with one worker per core (cores / workers threads each); then the same
again while a competing CPU-bound process (`python -c "while True: pass"`) holds one core.
Prints a markdown table of training seconds per cell and the load average (`uptime`) before
each run.
docs/performance.md ("CPU threads") shows its output; it chose the default of
`executor.threads`.

    python scripts/thread_study.py --out /tmp/thread-study
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

LRS = {"lstm": 1e-2, "transformer": 1e-3, "mamba": 3e-3}  # the quick preset's
STEPS = 60
SETTINGS = {  # label -> the run's extra arguments
    "torch default (every core)": ["--threads", "0"],
    "one thread": ["--threads", "1"],
    "pool, cores / workers": ["--executor", "pool", "--threads", "0"],
}


def load_average() -> str:
    return os.getloadavg().__repr__() if hasattr(os, "getloadavg") else "n/a"


def archs_override(names: list[str]) -> str:
    return "archs=[" + ", ".join(f"{{name='{n}', lr={LRS[n]}}}" for n in names) + "]"


def run_once(out: Path, extra: list[str], archs: list[str]) -> tuple[float, dict[str, float], str]:
    """One `statebench run`; returns its wall time, seconds per arch and the load before."""
    from statebench.bench.store import load

    shutil.rmtree(out, ignore_errors=True)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    command = [
        sys.executable, "-m", "statebench", "run", "--preset", "quick", "--task", "parity",
        "--set", archs_override(archs), "--set", f"train.steps={STEPS}",
        "--set", "train.stop_at_target=false", "--out", str(out),
        "--no-report", "--allow-failures", *extra,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    rows = load(out).drop_duplicates("cell")
    seconds = {str(r.arch): float(r.train_seconds) for r in rows.itertuples()}
    threads = sorted({int(t) for t in rows["cpu_threads"]})
    return wall, seconds, f"{uptime.split('load average:')[-1].strip()} (threads {threads})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/thread-study"))
    parser.add_argument("--archs", default="lstm,transformer,mamba", help="of: " + ", ".join(LRS))
    args = parser.parse_args()
    lines = []
    for busy in (False, True):
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
        try:
            for label, extra in SETTINGS.items():
                wall, seconds, load = run_once(args.out / "run", extra, args.archs.split(","))
                per_arch = " | ".join(f"{seconds[a]:.1f}" for a in sorted(seconds))
                added = "a busy loop" if busy else "none"
                lines.append(f"| {added} | {label} | {per_arch} | {wall:.0f} | {load} |")
                print(lines[-1], flush=True)
        finally:
            if hog is not None:
                hog.kill()
    archs = sorted(seconds)
    header = f"| competing process | threads | {' | '.join(archs)} | run wall (s) | load before |"
    print(f"\n{header}")
    print("|" + "---|" * (len(archs) + 4))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

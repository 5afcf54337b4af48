"""Developer sessions; each installs what it needs (the CPU build of torch first, to stay light)."""

import shutil
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.default_venv_backend = "venv"
TORCH = "torch==2.13.0"  # the CPU build on these machines; pyproject keeps torch>=2.4


PYPROJECT = nox.project.load_toml("pyproject.toml")


def _install(session: nox.Session, extras: str = "", groups: tuple[str, ...] = ()) -> None:
    """torch first, the package (editable, with `extras`), then dependency groups (PEP 735)."""
    session.install(TORCH)
    session.install("-e", f".[{extras}]" if extras else ".")
    for group in groups:
        session.install(*nox.project.dependency_groups(PYPROJECT, group))


@nox.session
def tests(session: nox.Session) -> None:
    """The unit and integration tests (the README's test command)."""
    _install(session, groups=("test",))
    session.run("pytest", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs.yml) into site/, strict: a broken link or anchor fails."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "docs"))
    session.run("mkdocs", "build", "--strict", "--site-dir", "site", *session.posargs)


@nox.session
def quick(session: nox.Session) -> None:
    """The main job: the quick preset on the CPU."""
    _install(session)
    session.run("statebench", "run", "--preset", "quick", *session.posargs)


@nox.session
def perf(session: nox.Session) -> None:
    """Benchmarks (pytest-benchmark), JSON saved as results/perf/<device>.json, then the tables.

    Collects tests/perf plus every tests/**/*perf*.py (the benchmark files beside the unit
    tests) rather than all of tests/: importing a thousand unrelated tests costs time, and a
    collection error in one of them would stop the benchmarks. Under 15 minutes on 2 CPU cores.
    """
    _install(session, groups=("test",))
    probe = "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')"
    device = session.run("python", "-c", probe, silent=True).strip()
    Path("results/perf").mkdir(parents=True, exist_ok=True)
    out = f"results/perf/{device}.json"
    files = sorted(str(p) for p in Path("tests").rglob("test_*perf*.py") if "perf" not in p.parts)
    session.run(
        "pytest",
        "tests/perf",
        *files,
        "-m",
        "perf",
        "--benchmark-only",  # overrides addopts' --benchmark-skip (--benchmark-enable does not)
        f"--benchmark-json={out}",
        "-q",
        "-rs",
        *session.posargs,
    )
    session.run("python", "tests/perf/summarize.py", out)


# Packs a finished run's rows into a shipped reference (bench.store.RunDir.ship).
SHIP = (
    "import sys; from statebench.bench.store import RunDir; RunDir(sys.argv[1]).ship(sys.argv[2])"
)


@nox.session
def reference(session: nox.Session) -> None:
    """Regenerate results/reference/: the quick, quick-probe, seqlen-scaling and conjecture
    runs, each as its rows (manifest.json and rows/*.parquet: what `--baseline quick` reads,
    shipped in the wheel) and the report and figures made from those rows. One torch thread,
    as the committed references were made: a 2-core machine doing anything else slows
    two-thread runs of these small models many times over, and CPU float sums depend on the
    thread count (rows record it as `cpu_threads`)."""
    _install(session)
    session.env["OMP_NUM_THREADS"] = "1"
    runs = (
        ("quick", "run"),
        ("quick-probe", "probe"),
        ("seqlen-scaling", "run"),
        ("conjecture", "probe"),
    )
    for preset, command in runs:
        run_dir, report_dir = f"results/{preset}-reference", f"results/reference/{preset}"
        for stale in (run_dir, report_dir):  # regenerate: never resume an older code's run
            shutil.rmtree(stale, ignore_errors=True)
        session.run("statebench", command, "--preset", preset, "--out", run_dir)
        session.run("python", "-c", SHIP, run_dir, report_dir)
        session.run("statebench", "report", report_dir, "--out", f"{report_dir}/report.md")


@nox.session(venv_backend="none")
def gpu(session: nox.Session) -> None:
    """Fused-kernel tests and CUDA benchmarks in the current environment, where the user built
    mamba-ssm, causal-conv1d, flash-attn and fla against their torch (a fresh venv would lack
    them, and every fused test would skip). Set STATEBENCH_REQUIRE_FUSED=1 to make a missing
    package or device fail the session instead (tests/conftest.py), naming what is missing."""
    session.run("statebench", "doctor", external=True)
    session.run("python", "-m", "pytest", "-m", "gpu", "-q", "-rs", *session.posargs, external=True)
    Path("results/perf").mkdir(parents=True, exist_ok=True)
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/perf/test_perf_cuda.py",
        "--benchmark-only",  # addopts' --benchmark-skip would skip every benchmark here
        "--benchmark-json=results/perf/cuda.json",
        "-q",
        "-rs",
        external=True,
    )

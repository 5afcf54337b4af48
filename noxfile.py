"""Developer sessions; each installs what it needs (the CPU build of torch first, to stay light)."""

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.default_venv_backend = "venv"
TORCH = "torch==2.13.0"  # the CPU build on these machines; pyproject keeps torch>=2.4


def _install(session: nox.Session, extras: str) -> None:
    session.install(TORCH)
    session.install("-e", f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """The unit and integration tests (the README's test command)."""
    _install(session, "dev,ref")
    session.run("pytest", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def quick(session: nox.Session) -> None:
    """The main job: the quick preset on the CPU."""
    _install(session, "dev")
    session.run("statebench", "run", "--preset", "quick", *session.posargs)


@nox.session
def perf(session: nox.Session) -> None:
    """Benchmarks (pytest-benchmark), JSON saved under results/perf/."""
    _install(session, "dev,ref")
    session.run(
        "pytest",
        "-m",
        "perf",
        "--benchmark-enable",
        "--benchmark-only",
        "--benchmark-json=results/perf/cpu.json",
        "-q",
        *session.posargs,
    )


@nox.session
def gpu(session: nox.Session) -> None:
    """Fused-kernel tests and benchmarks on a CUDA machine (install the GPU extras first)."""
    session.install("-e", ".[dev,ref,gpu]")
    session.run("pytest", "-m", "gpu", "-q", *session.posargs)

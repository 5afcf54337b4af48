"""Suite-wide hooks. STATEBENCH_REQUIRE_FUSED=1 (set by `nox -s gpu` and scripts/gpu_check.sh
to prove that the fused kernels ran) makes a missing CUDA device or fused package fail the
session, naming what is missing. Every test still runs: those whose kernels are present run
and must pass, those whose kernels are absent skip and say why, and the session then fails
(exit 1) with one line per absent path. So a node that has fla but no mamba-ssm still runs
every fla test instead of stopping before the first one."""

import os

import pytest

REQUIRE_FUSED = "STATEBENCH_REQUIRE_FUSED"
_MISSING = pytest.StashKey[list]()


def _required() -> bool:
    return os.environ.get(REQUIRE_FUSED, "") not in ("", "0")


def pytest_configure(config):
    if not _required():
        return
    from statebench.bench.cli.doctor import missing_fused

    config.stash[_MISSING] = missing_fused()


def _missing(config) -> list[str]:
    return config.stash.get(_MISSING, [])


def pytest_sessionfinish(session, exitstatus):
    if _missing(session.config) and exitstatus in (pytest.ExitCode.OK, 5):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    missing = _missing(config)
    if missing:
        terminalreporter.section(f"{REQUIRE_FUSED}=1: fused paths missing", red=True)
        terminalreporter.line(f"{REQUIRE_FUSED}=1 but fused paths are missing:")
        for line in missing:
            terminalreporter.line(f"  {line}")


@pytest.fixture(autouse=True, scope="session")
def conformance_cache(tmp_path_factory):
    """Conformance verdicts go to a folder of this test session, never the user's cache (and
    a test that checks the cache itself points STATEBENCH_CACHE_DIR at its own folder)."""
    from statebench.bench.run.conformance_cache import CACHE_ENV

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("statebench-cache")))
        yield

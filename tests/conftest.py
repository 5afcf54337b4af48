"""Suite-wide hooks. STATEBENCH_REQUIRE_FUSED=1 (set by `nox -s gpu` users who want proof that
the fused kernels ran) turns a missing CUDA device or fused package into a failure at start,
naming what is missing, instead of a green run in which every fused test skipped."""

import os

import pytest

REQUIRE_FUSED = "STATEBENCH_REQUIRE_FUSED"


def pytest_sessionstart(session):
    if os.environ.get(REQUIRE_FUSED, "") in ("", "0"):
        return
    from statebench.bench.cli.doctor import missing_fused

    missing = missing_fused()
    if missing:
        lines = "\n  ".join(missing)
        pytest.exit(f"{REQUIRE_FUSED}=1 but fused paths are missing:\n  {lines}", returncode=3)


@pytest.fixture(autouse=True, scope="session")
def conformance_cache(tmp_path_factory):
    """Conformance verdicts go to a folder of this test session, never the user's cache (and
    a test that checks the cache itself points STATEBENCH_CACHE_DIR at its own folder)."""
    from statebench.bench.run.conformance_cache import CACHE_ENV

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("statebench-cache")))
        yield

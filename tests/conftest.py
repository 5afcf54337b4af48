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

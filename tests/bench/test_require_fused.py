"""STATEBENCH_REQUIRE_FUSED=1 runs every test (those whose kernels are present must pass) and
then fails the session, naming each fused path that is missing (the mechanism behind
`STATEBENCH_REQUIRE_FUSED=1 nox -s gpu` and scripts/gpu_check.sh)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from statebench.bench.cli.doctor import missing_fused

ROOT = Path(__file__).resolve().parents[2]
TEST = (
    "tests/models/test_fused_dispatch.py::test_conv_width_outside_2_to_4_never_reaches_the_kernel"
)


def _pytest(env: dict, *tests: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *tests]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not missing_fused(), reason="every fused path is available here")
def test_required_fused_runs_the_tests_then_fails_naming_the_missing_paths():
    env = {**os.environ, "STATEBENCH_REQUIRE_FUSED": "1", "OMP_NUM_THREADS": "1"}
    done = _pytest(env, TEST)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "2 passed" in out  # the tests ran
    assert "STATEBENCH_REQUIRE_FUSED=1 but fused paths are missing" in out
    for line in missing_fused():
        assert line in out


def test_without_the_variable_the_same_tests_run():
    env = {k: v for k, v in os.environ.items() if k != "STATEBENCH_REQUIRE_FUSED"}
    done = _pytest(env, TEST)
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout + done.stderr

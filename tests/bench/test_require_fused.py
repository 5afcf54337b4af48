"""STATEBENCH_REQUIRE_FUSED=1 makes a run without the fused kernels fail, naming what is missing
(the mechanism behind `STATEBENCH_REQUIRE_FUSED=1 nox -s gpu`)."""

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


@pytest.mark.skipif(not missing_fused(), reason="every fused path is available here")
def test_required_fused_paths_fail_the_session_and_are_named():
    env = {**os.environ, "STATEBENCH_REQUIRE_FUSED": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert "STATEBENCH_REQUIRE_FUSED=1 but fused paths are missing" in out
    for line in missing_fused():
        assert line.split(":")[0] in out
    assert "passed" not in out  # nothing ran


def test_without_the_variable_the_same_tests_run():
    env = {k: v for k, v in os.environ.items() if k != "STATEBENCH_REQUIRE_FUSED"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout + done.stderr

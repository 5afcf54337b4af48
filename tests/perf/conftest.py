"""Fixtures and hooks of the perf suite: one torch thread per benchmark, a place for tests to
say why a peer does not apply, and a `statebench` section added to the benchmark JSON (the
fitted cost exponents per architecture, and those notes), so one file holds the whole story."""

from __future__ import annotations

import pytest
import torch
from perfkit import scaling_exponents, single_thread

NOTES = pytest.StashKey[dict]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[NOTES] = {}


@pytest.fixture(autouse=True)
def _single_thread():
    with single_thread():
        yield


@pytest.fixture
def not_applicable(request):
    """Call with (peer, reason) before skipping: the reason lands in the JSON, not only in -ra."""

    def note(peer: str, reason: str) -> None:
        request.config.stash[NOTES][peer] = reason
        pytest.skip(reason)

    return note


def pytest_benchmark_update_json(config, benchmarks, output_json) -> None:
    exponents = scaling_exponents(output_json.get("benchmarks", []))
    for row in output_json.get("benchmarks", []):
        info = row.get("extra_info", {})
        if info.get("family") == "scaling":
            info["exponent"] = exponents[info["mode"]][info["arch"]]
    output_json["statebench"] = {
        "torch": torch.__version__,
        "clock": "thread CPU time, torch on 1 thread (CUDA: wall time after synchronize)",
        "exponents": exponents,
        "not_applicable": dict(config.stash.get(NOTES, {})),
    }

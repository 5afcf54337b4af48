"""Probe rows record the path streaming took, not the one training took."""

from statebench.bench import store
from statebench.bench.config import load_config
from statebench.bench.probe.runner import run_probe
from statebench.models.lstm import LSTMMixer

TINY = [
    "archs=['lstm']",
    "tasks=['parity']",
    "train.steps=4",
    "train.log_every=2",
    "train.len_max=8",
    "eval.samples=4",
    "eval.lengths=[8]",
    "probe.max_len=32",
    "probe.samples=4",
    "probe.chunk=16",
    "probe.bootstrap=20",
    "train.target_accuracy=0.01",  # counts as learned, so it is streamed
]


def test_probe_rows_record_their_own_path(tmp_path, monkeypatch):
    """A mixer whose step runs another kernel than its forward (as Mamba's does on CUDA)."""
    monkeypatch.setattr(LSTMMixer, "step_kernel_name", lambda self, device: "streamed")
    run_dir, _ = run_probe(load_config(preset="smoke", overrides=TINY), tmp_path / "run")
    assert set(store.load(run_dir)["kernel"]) == {"ref"}  # training: forward's path
    assert set(store.load_probes(run_dir)["kernel"]) == {"streamed"}

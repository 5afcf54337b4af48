"""An outside arch is a first-class citizen of every table: its class's `time_parallel` places it
in the conjecture groups, its options show in its label, and its source hash is on its rows.

The class is declared in a module written for the test and named by dotted path, as a user's
adapter is; the report is then read with that module gone, so nothing is imported to group it.
"""

from __future__ import annotations

import sys

import pytest
import torch
from statebench.bench.analysis.grouping import RECURRENCE_COMPLETE, TIME_PARALLEL
from statebench.bench.config import load_config
from statebench.bench.probe.runner import run_probe
from statebench.bench.report import leaderboards, load_run
from statebench.bench.report.tables import conjecture_table, provenance_tables
from statebench.bench.run.source_hash import outside_source_hash
from statebench.bench.store import RunDir

OUTSIDE = '''
import torch
from statebench.models import Mixer


class CumMean(Mixer):
    """The running mean of the inputs, scaled: parallel over time (a cumsum), O(1) streamed."""

    time_parallel = True
    default_mlp = "gelu"

    def __init__(self, d_model, layer_idx=0, scale=1.0):
        super().__init__(d_model, layer_idx)
        self.scale = scale
        self.proj = torch.nn.Linear(d_model, d_model)

    def forward(self, x):
        count = torch.arange(1, x.shape[1] + 1, device=x.device, dtype=x.dtype)[:, None]
        return self.proj(self.scale * x.cumsum(1) / count)

    def init_state(self, batch_size, device, dtype):
        return (torch.zeros(batch_size, self.d_model, device=device, dtype=dtype), 0)

    def step(self, x, state):
        total, seen = state
        sums = total[:, None] + x.cumsum(1)
        count = torch.arange(seen + 1, seen + x.shape[1] + 1, device=x.device, dtype=x.dtype)
        return self.proj(self.scale * sums / count[:, None]), (sums[:, -1], seen + x.shape[1])

    def state_size(self, length):
        return self.d_model + 1
'''
ARCH = "outside_cum:CumMean"
LABEL = f"{ARCH}(scale=2.0)"
TINY = [
    f"archs=[{{name='{ARCH}', options={{scale=2.0}}}}, 'lstm']",
    "tasks=['parity']",
    "train.steps=4",
    "train.len_max=8",
    "eval.samples=4",
    "eval.lengths=[8]",
    "probe.max_len=64",
    "probe.samples=4",
    "probe.chunk=32",
    "probe.bootstrap=20",
    "train.target_accuracy=0.01",  # untrained models are streamed: grouping is what is tested
]


@pytest.fixture(scope="module")
def outside_run(tmp_path_factory):
    """A probed run of the outside arch beside lstm; afterwards the outside module is gone."""
    where = tmp_path_factory.mktemp("outside")
    module = where / "outside_cum.py"
    module.write_text(OUTSIDE)
    sys.path.insert(0, str(where))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cls = __import__("outside_cum").CumMean
        source_hash = outside_source_hash(cls)
        run_dir, _ = run_probe(load_config(preset="smoke", overrides=TINY), where / "run")
    finally:
        torch.set_num_threads(threads)
        sys.path.remove(str(where))
        sys.modules.pop("outside_cum", None)
    module.unlink()  # reading the run must not need it
    return run_dir, source_hash


def test_rows_record_the_class_declaration_and_the_source_hash(outside_run):
    run_dir, source_hash = outside_run
    run = RunDir(run_dir)
    rows = run.load().drop_duplicates("cell").set_index("arch")
    assert bool(rows.loc[ARCH, "time_parallel"]) is True
    assert bool(rows.loc["lstm", "time_parallel"]) is False  # built-ins record theirs too
    assert rows.loc[ARCH, "arch_source_hash"] == source_hash is not None
    assert rows["arch_source_hash"].isna()["lstm"] and rows["task_source_hash"].isna().all()
    probes = run.load_probes().drop_duplicates("cell").set_index("arch")
    assert bool(probes.loc[ARCH, "time_parallel"]) is True
    assert probes.loc[ARCH, "label"] == LABEL


def test_an_outside_time_parallel_arch_is_in_the_time_parallel_group(outside_run):
    run_dir, _ = outside_run
    tables = load_run(run_dir)
    groups = conjecture_table(tables.probes).set_index("arch")["group"]
    assert groups[LABEL] == TIME_PARALLEL
    assert groups["lstm"] == RECURRENCE_COMPLETE
    assert "outside_cum" not in sys.modules  # grouped from the rows, nothing imported


def test_its_options_label_it_and_its_hash_is_in_the_provenance(outside_run):
    run_dir, source_hash = outside_run
    tables = load_run(run_dir)
    mean, _ = leaderboards(tables.results)
    assert LABEL in set(mean["arch"])  # as `mamba(eigen=[-1,1])` is for a built-in
    outside = dict(provenance_tables(tables.results, tables.manifest))[
        "Outside code (source hashes)"
    ]
    assert outside.to_dict("records") == [
        {"kind": "arch", "name": ARCH, "source hash": source_hash}
    ]


def test_rows_from_before_the_column_fall_back_to_built_in_classes(outside_run):
    run_dir, _ = outside_run
    probes = load_run(run_dir).probes.assign(time_parallel=None)
    groups = conjecture_table(probes).set_index("arch")["group"]
    assert groups["lstm"] == RECURRENCE_COMPLETE  # a built-in: its class is looked up
    assert groups[LABEL] == "undeclared"  # an outside name: never imported to find out

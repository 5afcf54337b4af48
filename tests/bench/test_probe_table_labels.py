"""The probe command's t* tables head a task with its options, as the report's tables do."""

from __future__ import annotations

import json

from rich.console import Console
from statebench.bench.cli.probe import t_star_table


def test_probe_tables_name_tasks_with_their_options(synthetic_probes_factory):
    probes = synthetic_probes_factory(archs=("lstm",), tasks=("permutation", "parity"), seeds=(0,))
    options = {"permutation": {"group": "S3"}, "parity": {"readout": "all"}}
    probes = probes.assign(
        task_options=[json.dumps(options[t]) for t in probes["task"]],
        arch_options="",
        lr=1e-3,
    )
    table = t_star_table(probes[probes["threshold_name"] == "half"], "half")
    headers = [str(column.header) for column in table.columns]
    assert headers == ["arch", "permutation(group=S3)", "parity"]  # the readout is implied
    console = Console(width=200, record=True)
    console.print(table)
    assert "permutation(group=S3)" in console.export_text()

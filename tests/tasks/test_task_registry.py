"""The registry lists the twelve tasks, builds them by name and round-trips their options."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import statebench.tasks as tasks
import torch
from task_cases import valid_lengths

EXPECTED = {
    "parity",
    "even_pairs",
    "cycle_navigation",
    "modular_arithmetic",
    "count_mod",
    "majority",
    "modular_sum",
    "permutation",
    "flipflop",
    "mqar",
    "jumps",
    "maze",
}


def test_list_tasks_from_a_fresh_interpreter():
    out = subprocess.run(
        [sys.executable, "-c", "import statebench.tasks as tasks; print(tasks.list_tasks())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    listed = eval(out)  # a printed list of names
    assert listed == sorted(EXPECTED)


def test_options_round_trip(task):
    """options() names every constructor option, and rebuilding from it gives the same task."""
    opts = task.options()
    assert set(opts) == set(tasks.task_option_names(task.name))
    again = tasks.get_task(task.name, **opts)
    assert again.options() == opts
    length = valid_lengths(task, range(task.min_length + 8, task.min_length + 12))[0]
    a = task.sample(4, length, torch.Generator().manual_seed(3))
    b = again.sample(4, length, torch.Generator().manual_seed(3))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.mask, b.mask)


def test_non_default_options_are_recorded():
    t = tasks.get_task("mqar", n_keys=10, n_pairs=3, n_values=5, readout="last")
    assert t.options() == {"n_keys": 10, "n_pairs": 3, "n_values": 5, "readout": "last"}
    assert repr(t) == "MQAR(n_keys=10, n_pairs=3, n_values=5, readout='last')"


def test_every_task_states_its_contract(task):
    assert task.description and "\n" not in task.description
    assert task.readout in ("all", "last")
    assert task.vocab_size >= 2 and task.num_classes >= 2
    assert isinstance(task.min_length, int) and task.min_length >= 1


def test_default_readouts():
    defaults = {n: tasks.get_task(n).readout for n in EXPECTED}
    assert defaults.pop("modular_arithmetic") == "last"
    assert set(defaults.values()) == {"all"}


TASKS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "tasks.md"


def _table_rows(section: str) -> dict[str, str]:
    """First cell (backticked names, comma-separated) -> the row, for each name."""
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            for name in re.findall(r"`(\w+)`", line.split("|")[1]):
                rows[name] = line
    return rows


def test_the_tasks_page_has_a_row_for_every_task_and_owns_the_paper_task_definitions():
    table = TASKS_PAGE.read_text().split("\n## ", 1)[0]
    rows = _table_rows(table)
    assert set(rows) == set(tasks.list_tasks())
    for name in ("jumps", "maze"):  # the paper's definitions are not public: ours, said so
        assert "**Our definition**" in rows[name] and "Keiblinger" in rows[name]


def test_the_tasks_page_lists_every_option_of_every_task():
    section = TASKS_PAGE.read_text().split("## Options\n", 1)[1].split("\n## ", 1)[0]
    rows = _table_rows(section)
    assert set(rows) == set(tasks.list_tasks())
    for name, row in rows.items():
        documented = dict(re.findall(r"`(\w+)` \(([^)]*)\)", row.split("|")[2]))  # `k` (3)
        assert set(documented) == set(tasks.task_option_names(name)) - {"readout"}, name
        params = inspect.signature(tasks.task_class(name).__init__).parameters
        for option, text in documented.items():  # the default is the first value given
            first = re.match(r'"([^"]*)"|[\d.]+|true|false', text)
            assert first is not None, f"{name}.{option}: no default shown in {text!r}"
            if first.group(1) is not None:
                shown = first.group(1)
            elif first.group(0) in ("true", "false"):
                shown = first.group(0) == "true"
            else:
                shown = float(first.group(0))
            assert shown == params[option].default, f"{name}.{option}: {text}"

"""docs/running.md names every column of load(), load_probes() and load_training_log(), so a
pandas user finds what each holds; a column added to the schema without a line there fails."""

from __future__ import annotations

import re

import pytest
from markdown_pages import ROOT
from statebench.bench.store.schema import (
    LABEL_COLUMNS,
    PROBE_COLUMNS,
    ROW_COLUMNS,
    TRAINING_LOG_COLUMNS,
)

PAGE = ROOT / "docs" / "running.md"


def _table_after(text: str, opening: str) -> set[str]:
    """The backticked names in the first column of the table that follows `opening`."""
    section = text.split(opening, 1)[1]
    rows = re.findall(r"^\| ([^|]+) \|", section.split("\n\n|", 1)[1].split("\n\n", 1)[0], re.M)
    return {name for row in rows for name in re.findall(r"`([a-z_]+)`", row)}


@pytest.mark.parametrize(
    ("opening", "columns"),
    [
        ("`load(run_dir)`", [*ROW_COLUMNS, *LABEL_COLUMNS]),
        ("`load_probes(run_dir)`", [*PROBE_COLUMNS, "label"]),
        ("`load_training_log(run_dir)`", list(TRAINING_LOG_COLUMNS)),
    ],
)
def test_every_column_has_a_line(opening, columns):
    named = _table_after(PAGE.read_text(encoding="utf-8"), opening)
    assert set(columns) <= named, sorted(set(columns) - named)

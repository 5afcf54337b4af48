"""Which of a run's expected cells are stored, missing or unreadable.

The manifest lists every cell a run should hold. A report that averaged only the cells present
would rank an arch that lost a cell above one that ran them all, so every cell the manifest
expects and the store cannot give back becomes a placeholder row with status `missing` or
`unreadable`: it counts as failed wherever a failed cell does (the k/n ok of a mean over
seeds; 0 in the average over tasks when no seed of an arch x task ran).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

ABSENT_STATUSES = ("missing", "unreadable", "foreign")


def _parse_label(label: str) -> dict:
    """`arch(opts) / task / seed N / lr X` (bench.run.matrix.Cell.label) -> its parts."""
    parts = [p.strip() for p in str(label).split(" / ")]
    out = {"arch": parts[0] if parts else "", "task": parts[1] if len(parts) > 1 else ""}
    for part in parts[2:]:
        name, _, value = part.partition(" ")
        if name in ("seed", "lr"):
            try:
                out[name] = float(value)
            except ValueError:
                out[name] = np.nan
    return out


def coverage(
    results: pd.DataFrame,
    manifest: dict | None,
    unreadable: Iterable[str] = (),
    foreign: Iterable[str] = (),
) -> pd.DataFrame:
    """One row per cell the manifest expects: cell, arch, task, seed, lr and `state`
    (stored | missing | unreadable | foreign: its file is a copy of another cell's or another
    run's, bench.store.integrity). Empty when the manifest lists no cells."""
    manifest = manifest or {}
    keys = [str(k) for k in manifest.get("cells") or []]
    labels = manifest.get("labels") or {}
    stored = set(results["cell"].astype(str)) if "cell" in results else set()
    bad, alien = set(unreadable), set(foreign)
    records = []
    for key in keys:
        state = (
            "stored"
            if key in stored
            else "foreign"
            if key in alien
            else "unreadable"
            if key in bad
            else "missing"
        )
        records.append({"cell": key, **_parse_label(labels.get(key, "")), "state": state})
    columns = ["cell", "arch", "task", "seed", "lr", "state"]
    return pd.DataFrame.from_records(records, columns=columns)


def with_absent_cells(results: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """`results` plus one failed placeholder row (status missing/unreadable) per absent cell."""
    absent = cells[cells["state"] != "stored"] if not cells.empty else cells
    if absent.empty:
        return results
    rows = absent.assign(
        status=absent["state"],
        error="cell expected by the manifest; its result file is " + absent["state"],
        eval_len=np.nan,
    ).drop(columns=["state"])
    return pd.concat([results, rows], ignore_index=True)


def coverage_summary(cells: pd.DataFrame) -> str:
    """`stored 5 / expected 6 cells (missing 1)`; '' without a manifest cell list."""
    if cells.empty:
        return ""
    counts = cells["state"].value_counts()
    text = f"stored {int(counts.get('stored', 0))} / expected {len(cells)} cells"
    absent = [f"{s} {int(counts[s])}" for s in ABSENT_STATUSES if counts.get(s, 0)]
    return text + (f" ({', '.join(absent)})" if absent else "")


def incomplete_note(cells: pd.DataFrame) -> str:
    """`incomplete run: stored 5 / expected 6 cells (missing 1); ...`, or '' when complete."""
    if cells.empty or (cells["state"] == "stored").all():
        return ""
    return f"incomplete run: {coverage_summary(cells)}; absent cells count as failed"

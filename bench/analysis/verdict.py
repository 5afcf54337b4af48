"""One verdict per task on the conjecture: do learned time-parallel models fail where learned
recurrence-complete ones hold?

The rule, applied to the probe rows of one task (a task with options is its own task):

1. An arch configuration (one row of the conjecture table: arch, options, lr) is *learned* when
   more than half of its seeds were measured (trained to the validation target, then probed
   with accuracy above `probe.learned_accuracy` inside the training range): 2 of 3, 1 of 1.
2. Its t* is the median over those seeds (`bench.analysis.tstar`): *censored* ("> L") once
   half or more of them held to the longest probed length, else *finite*.
3. "cannot tell" when fewer than two learned configurations are on either side
   (time-parallel, recurrence-complete: each arch class's own declaration).
   Else "contradicts it" when a learned time-parallel one is censored or a learned
   recurrence-complete one is finite; else "supports the conjecture" (every learned
   time-parallel t* finite, every learned recurrence-complete one censored).

So the verdict never rests on a model that did not learn the task, and a probe too short to
see a time-parallel model fail reads as a contradiction, not as support.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from statebench.bench.analysis.grouping import (
    RECURRENCE_COMPLETE,
    TIME_PARALLEL,
    UNDECLARED,
    arch_group,
)
from statebench.bench.analysis.probes import prepare_probes, split_configs
from statebench.bench.analysis.tstar import TStarSummary, summarize_t_star

SUPPORTS = "supports the conjecture"
CONTRADICTS = "contradicts it"
CANNOT_TELL = "cannot tell"
MIN_LEARNED = 2  # learned configurations needed on each side


@dataclass(frozen=True)
class Judged:
    """One arch configuration on one task: its group, t* summary and whether it learned."""

    arch: str
    group: str
    summary: TStarSummary

    @property
    def learned(self) -> bool:
        return 2 * self.summary.n_measured > self.summary.n_seeds

    @property
    def censored(self) -> bool:
        return self.summary.median_censored

    def text(self) -> str:
        s = self.summary
        out = f"{self.arch} {s.text()}"
        if not s.median_censored and s.n_measured > 1:
            hi = f"{s.hi:.0f}" if s.hi == s.hi else "∞"
            out += f" [{s.lo:.0f}, {hi}]"
        return out + f" ({s.n_measured}/{s.n_seeds} seeds)"


def judge(learned: list[Judged]) -> tuple[str, str]:
    """(verdict, why) from the learned configurations of one task (rule 3)."""
    tp = [j for j in learned if j.group == TIME_PARALLEL]
    rc = [j for j in learned if j.group == RECURRENCE_COMPLETE]
    if len(tp) < MIN_LEARNED or len(rc) < MIN_LEARNED:
        return CANNOT_TELL, (
            f"{len(tp)} learned time-parallel and {len(rc)} learned recurrence-complete "
            f"models; {MIN_LEARNED} on each side are needed"
        )
    against = [f"{j.arch} (time-parallel) holds" for j in tp if j.censored]
    against += [f"{j.arch} (recurrence-complete) fails" for j in rc if not j.censored]
    if against:
        return CONTRADICTS, "; ".join(against)
    return SUPPORTS, (
        f"all {len(tp)} learned time-parallel models have a finite t*, "
        f"all {len(rc)} learned recurrence-complete ones hold to the probe's end"
    )


def label_groups(probes: pd.DataFrame, rows: pd.DataFrame) -> dict[str, str]:
    """Each prepared probe row's arch label -> its group, read off the raw rows' arch names,
    options and recorded `time_parallel` (`rows` are `split_configs(prepare_probes(probes))`,
    same index); a label's first declared row wins over an undeclared one."""
    raw = probes.loc[rows.index]
    names = raw["arch"].astype(str) if "arch" in raw else rows["arch"]
    options = raw["arch_options"] if "arch_options" in raw else pd.Series("", index=rows.index)
    declared = raw["time_parallel"] if "time_parallel" in raw else pd.Series(None, index=rows.index)
    groups: dict[str, str] = {}
    for label, name, opts, flag in zip(rows["arch"], names, options, declared, strict=True):
        if label not in groups or (groups[label] == UNDECLARED and not _missing(flag)):
            groups[label] = arch_group(name, "" if _missing(opts) else str(opts), flag)
    return groups


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def conjecture_verdicts(probes: pd.DataFrame) -> pd.DataFrame:
    """Per task: the learned time-parallel and recurrence-complete models with their t*
    (median [interval over seeds], seeds learned), the verdict and why."""
    columns = ["task", TIME_PARALLEL, RECURRENCE_COMPLETE, "verdict", "why"]
    if probes is None or probes.empty:
        return pd.DataFrame(columns=columns)
    rows = split_configs(prepare_probes(probes))
    if rows.empty:
        return pd.DataFrame(columns=columns)
    groups = label_groups(probes, rows)
    records = []
    for task, of_task in rows.groupby("task", sort=False):
        judged = [
            Judged(str(arch), groups[arch], summarize_t_star(of_arch))
            for arch, of_arch in of_task.groupby("arch", sort=False)
        ]
        learned = [j for j in judged if j.learned]
        verdict, why = judge(learned)
        records.append(
            {
                "task": task,
                TIME_PARALLEL: _listing(learned, TIME_PARALLEL),
                RECURRENCE_COMPLETE: _listing(learned, RECURRENCE_COMPLETE),
                "verdict": verdict,
                "why": why,
            }
        )
    return pd.DataFrame.from_records(records, columns=columns)


def _listing(learned: list[Judged], group: str) -> str:
    items = [j.text() for j in learned if j.group == group]
    return "; ".join(items) if items else "none learned"

"""Nothing accepted in silence: every bad input a tester found, run as written through the
command line, exits with its code and ONE `error:` line naming the field, check or file, and
writes nothing into the run directory.

Each case was accepted before (exit 0 with rows stored as ok, an option silently ignored) or
ended in a traceback. Exit 2 is bad input; exit 1 an output path that cannot be written. The
crafted plugins live in tests/fixtures/door_plugins.py.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from statebench.bench.cli import app
from typer.testing import CliRunner

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
AS_TESTED = ["--preset", "smoke", "--set", "train.steps=20", "--no-report"]
PROBE = ["--preset", "smoke", "--set", "train.steps=20"]
LINUX = sys.platform.startswith("linux")


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]  # after the command; {file} is a regular file, {run} a stored run
    code: int
    fragments: tuple[str, ...]  # each must appear in the one error line
    command: str = "run"
    linux_only: bool = False


ARCH = "door_plugins:{}"
TASK = "door_plugins:{}"

CASES = [
    # -- wrong numbers, accepted with exit 0 before: the conformance door ---------------------
    Case("mixer reads the future beyond 8 tokens",
         (*AS_TESTED, "--arch", ARCH.format("FutureBeyond8Mixer"), "--task", "parity"),
         2, ("conformance", "FutureBeyond8Mixer", "causality check failed")),
    Case("mixer reads the future beyond 100 tokens, run evaluates at 128",
         (*AS_TESTED, "--arch", ARCH.format("FutureBeyond100Mixer"), "--task", "parity",
          "--set", "eval.lengths=[16,128]"),
         2, ("FutureBeyond100Mixer", "long causality check failed", "at length 128")),
    Case("mixer returns an integer tensor",
         (*AS_TESTED, "--arch", ARCH.format("IntegerMixer"), "--task", "parity"),
         2, ("IntegerMixer", "mixer output check failed", "torch.int64")),
    Case("mixer has no parameters",
         (*AS_TESTED, "--arch", ARCH.format("NoParamMixer"), "--task", "parity"),
         2, ("NoParamMixer", "parameters check failed", "parameter_free")),
    Case("mixer declares state_size -5",
         (*AS_TESTED, "--arch", ARCH.format("NegativeStateMixer"), "--task", "parity"),
         2, ("NegativeStateMixer", "state_size check failed", "-5")),
    Case("task samples mod 3, its reference says mod 2",
         (*AS_TESTED, "--arch", "lstm", "--task", TASK.format("Mod3ButReferenceMod2")),
         2, ("task", "Mod3ButReferenceMod2", "reference check failed")),
    Case("task ignores its generator",
         (*AS_TESTED, "--arch", "lstm", "--task", TASK.format("UnseededTask")),
         2, ("UnseededTask", "determinism check failed")),
    Case("probe: mixer reads the future beyond 8 tokens",
         (*PROBE, "--arch", ARCH.format("FutureBeyond8Mixer"), "--task", "parity",
          "--max-len", "64"),
         2, ("FutureBeyond8Mixer", "causality check failed"), command="probe"),
    Case("probe: step reads ahead within a streamed chunk",
         (*PROBE, "--arch", ARCH.format("StreamPeekMixer"), "--task", "parity",
          "--max-len", "64"),
         2, ("StreamPeekMixer", "streamed causality check failed", "step()"), command="probe"),
    Case("eval: mixer reads the future beyond 8 tokens",
         ("{run}", "--lengths", "64", "--allow-import", ARCH.format("FutureBeyond8Mixer")),
         2, ("FutureBeyond8Mixer", "causality check failed"), command="eval"),
    # -- options that silently did nothing ------------------------------------------------------
    Case("--executor slurm without Slurm", (*AS_TESTED, "--executor", "slurm"),
         2, ("executor slurm", "sbatch", "cluster = 'local'")),
    Case("--workers with the local executor", (*AS_TESTED, "--workers", "4"),
         2, ("executor.workers = 4", "--workers", "pool, ray and slurm", "'local'")),
    Case("--address without ray", (*AS_TESTED, "--address", "auto"),
         2, ("executor.address", "--address", "ray executor")),
    Case("--partition without slurm", (*AS_TESTED, "--partition", "gpu"),
         2, ("executor.slurm.partition", "--partition", "slurm executor")),
    Case("probe --workers 0", (*PROBE, "--workers", "0"),
         2, ("executor.workers", "greater than or equal to 1", "got 0"), command="probe"),
    Case("probe --workers with the local executor", (*PROBE, "--workers", "2"),
         2, ("executor.workers = 2", "'local'"), command="probe"),
    Case("--seed -1", (*AS_TESTED, "--seed", "-1"), 2, ("seeds", "[-1]", "[0, 2**63)")),
    Case("eval.seed=-7", (*AS_TESTED, "--set", "eval.seed=-7"),
         2, ("eval.seed", "greater than or equal to 0", "-7")),
    Case("score.min_len=-3", (*AS_TESTED, "--set", "score.min_len=-3"),
         2, ("score.min_len", "greater than or equal to 1", "-3")),
    Case("eval --samples 0", ("{run}", "--lengths", "64", "--samples", "0"),
         2, ("--samples 0", ">= 1"), command="eval"),
    Case("probe --max-len 4, shorter than training", (*PROBE, "--max-len", "4"),
         2, ("probe.max_len=4", "train.len_max = 16", "> 16"), command="probe"),
    Case("tracking.dir without a tracking backend",
         (*AS_TESTED, "--set", "tracking.dir=/proc/statebench"),
         2, ("tracking.dir", "tracking.backend is 'none'")),
    Case("tracking.dir under /proc",
         (*AS_TESTED, "--set", "tracking.backend=tensorboard",
          "--set", "tracking.dir=/proc/statebench"),
         2, ("tracking.dir = '/proc/statebench'", "cannot create files in '/proc'"),
         linux_only=True),
    Case("tracking.dir under a file",
         (*AS_TESTED, "--set", "tracking.backend=tensorboard",
          "--set", "tracking.dir='{file}/tb'"),
         2, ("tracking.dir", "is a file, not a folder")),
    # -- tracebacks before ----------------------------------------------------------------------
    Case("eval.lengths={start=1}", (*AS_TESTED, "--set", "eval.lengths={start=1}"),
         2, ("eval.lengths", "start and stop", "no stop")),
    Case("eval.lengths={start=1, stop=10**12}",
         (*AS_TESTED, "--set", "eval.lengths={start=1, stop=1000000000000}"),
         2, ("eval.lengths", "1000000000000 lengths", "raise its step")),
    Case("eval.lengths={start=1, stop=10**12} typed with the power",
         (*AS_TESTED, "--set", "eval.lengths={start=1, stop=10**12}"),
         2, ("eval.lengths", "{start=1, stop=10**12}")),
    Case("eval.lengths=[10**12]: beyond memory",
         (*AS_TESTED, "--set", "eval.lengths=[16, 1000000000000]"),
         2, ("eval.lengths", "length 1000000000000 needs at least", "statebench probe")),
    Case("eval --lengths 1e21",
         ("{run}", "--lengths", "1e21", "--allow-import", ARCH.format("FutureBeyond8Mixer")),
         2, ("--lengths", "needs at least", "of memory here", "statebench probe"),
         command="eval"),
    Case("plot --out under a file", ("{run}", "--out", "{file}/accuracy.png"),
         1, ("cannot write", "accuracy.png", "is a file, not a folder"), command="plot"),
    Case("plot --kind all --out under a file", ("{run}", "--kind", "all", "--out", "{file}/f"),
         1, ("cannot write", "is a file, not a folder"), command="plot"),
    Case("report --out under a file", ("{run}", "--out", "{file}/report"),
         1, ("cannot write", "report.md", "is a file, not a folder"), command="report"),
    Case("plot --out under /proc", ("{run}", "--out", "/proc/statebench/accuracy.png"),
         1, ("cannot write '/proc/statebench/accuracy.png'",), command="plot", linux_only=True),
    Case("report --out under /proc", ("{run}", "--format", "html", "--out", "/proc/sb.html"),
         1, ("cannot write '/proc/sb.html'",), command="report", linux_only=True),
]  # fmt: skip


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory) -> Path:
    """A finished run with a built-in and an outside arch (let in unchecked), for eval, plot
    and report: the cases above run against it and must leave it as it was."""
    run_dir = tmp_path_factory.mktemp("stored") / "run"
    args = ["run", "--preset", "smoke", "--set", "train.steps=2", "--set", "eval.samples=4",
            "--set", "eval.lengths=[8, 16]", "--arch", "lstm", "--arch",
            ARCH.format("FutureBeyond8Mixer"), "--task", "parity", "--skip-conformance",
            "--no-report", "--out", str(run_dir)]  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(FIXTURES))
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return run_dir


@pytest.fixture
def no_slurm(monkeypatch):
    """A machine without Slurm, whatever this one has."""
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda n, *a, **k: None if n == "sbatch" else which(n))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_in_one_line_and_writes_nothing(
    case, stored_run, tmp_path, monkeypatch, no_slurm
):
    if case.linux_only and not LINUX:
        pytest.skip("needs /proc")
    monkeypatch.syspath_prepend(str(FIXTURES))
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    args = [a.replace("{file}", str(a_file)).replace("{run}", str(stored_run)) for a in case.args]
    out = tmp_path / "run"
    if case.command in ("run", "probe"):
        args += ["--out", str(out)]
    before = snapshot(stored_run)

    result = CliRunner().invoke(app, [case.command, *args])

    assert result.exit_code == case.code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in case.fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in result.output
    assert not out.exists(), "a refused run or probe created its run directory"
    assert snapshot(stored_run) == before, "a refused command wrote into the stored run"
    assert a_file.read_text() == "not a folder"


def test_the_table_covers_every_case_of_the_issue():
    """The tester's list, by what it exercised: each has at least one row above."""
    ids = " | ".join(c.id for c in CASES)
    for needle in ("beyond 8", "integer", "no parameters", "state_size -5", "mod 2",
                   "generator", "--executor slurm", "--workers", "--address", "--partition",
                   "probe --workers 0", "--seed -1", "eval.seed=-7", "score.min_len=-3",
                   "--samples 0", "probe --max-len 4", "tracking.dir", "{start=1}",
                   "stop=10**12", "1e21", "plot --out", "report --out"):  # fmt: skip
        assert needle in ids, needle
    for command in ("run", "probe", "eval"):
        assert any(c.command == command and "beyond 8" in c.id for c in CASES), command

"""Issue 27's reproductions, run as written through the command line, one row each.

A finished run `R` (made once with `M`) is copied for every row, a fault is crafted in the copy,
and the command runs from a working directory outside it. Each row either behaves (a copied,
doubled or damaged file is reported and its cell run again or skipped; the good rows stay) or
fails with exit 2 and ONE line naming the file or field. Every row also holds what matters most:
no file outside the run directory changed, and a refused command stored nothing.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from statebench.bench import store
from statebench.bench.cli import app
from typer.testing import CliRunner

TINY = ["train.steps=4", "eval.samples=8", "eval.lengths=[8]", "tasks=['parity']"]
M = ["--preset", "smoke", *[a for s in TINY for a in ("--set", s)], "--no-report"]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """`R`: lstm and transformer on parity, trained and stored by `run M`."""
    run_dir = tmp_path_factory.mktemp("finished") / "R"
    result = CliRunner().invoke(app, ["run", *M, "--out", str(run_dir)])
    assert result.exit_code == 0, result.output
    return run_dir


@dataclass
class World:
    """A copy of R under root/R, a victim file beside it, and the cwd at root/elsewhere."""

    root: Path
    run: Path
    keys: dict[str, str]  # arch -> its cell's key

    @property
    def victim(self) -> Path:
        return self.root / "victim.txt"

    def cell(self, arch: str) -> Path:
        return store.cell_path(self.run, self.keys[arch])

    def checkpoint(self, arch: str) -> Path:
        return store.checkpoint_path(self.run, self.keys[arch])

    def edit_manifest(self, edit: Callable[[dict], None]) -> None:
        manifest = json.loads((self.run / "manifest.json").read_text())
        edit(manifest)
        (self.run / "manifest.json").write_text(json.dumps(manifest))

    def edit_rows(self, which: str, **columns: str) -> None:
        """Rewrite columns of a cell's rows, keeping the file's inner key (a crafted file)."""
        path = self.cell(which)
        table = pq.read_table(path)
        for name, value in columns.items():
            at = table.schema.get_field_index(name)
            table = table.set_column(at, name, pa.array([value] * len(table), pa.string()))
        pq.write_table(table, path)

    def outside(self) -> dict[str, str]:
        """Every file outside the run directory, by content."""
        return {
            str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(self.root.rglob("*"))
            if p.is_file() and not p.is_relative_to(self.run)
        }

    def stored(self) -> dict[str, str]:
        """Every result file of the run (cells, checkpoints, probes, manifest), by content."""
        return {
            str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(self.run.rglob("*"))
            if p.is_file() and p.suffix in (".parquet", ".pt", ".json")
        }


@pytest.fixture
def world(finished, tmp_path, monkeypatch) -> World:
    run_dir = Path(shutil.copytree(finished, tmp_path / "R", symlinks=True))
    manifest = store.read_manifest(run_dir)
    keys = {label.split(" / ")[0]: key for key, label in manifest["labels"].items()}
    (tmp_path / "victim.txt").write_text("secret\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return World(tmp_path, run_dir, keys)


@dataclass
class Case:
    """One reproduction: `craft` damages the copy of R, `argv` runs (`{R}` is the run, `{X}`
    a fresh directory beside it), `code` and the `says` text are what the command must answer;
    `check` asserts what the run directory holds after it."""

    craft: Callable[[World], None]
    argv: list[str]
    code: int
    says: str
    check: Callable[[World], None] | None = None
    refused: bool = field(init=False)

    def __post_init__(self) -> None:
        self.refused = self.code == 2


def _rows(w: World) -> dict[str, list[str]]:
    df = store.load(w.run)
    return {arch: list(df.loc[df["arch"] == arch, "status"]) for arch in w.keys}


def _both_stored_once(w: World) -> None:
    df = store.load(w.run)
    assert sorted(df["arch"]) == ["lstm", "transformer"], df[["arch", "cell"]]
    assert set(df["status"]) == {"ok"} and not df.duplicated(["cell", "eval_len"]).any()
    for arch, key in w.keys.items():  # each cell's rows are its own
        assert set(df.loc[df["cell"] == key, "arch"]) == {arch}


def _copy(src: str, dst: str, kind: str) -> Callable[[World], None]:
    def craft(w: World) -> None:
        get = w.cell if kind == "cell" else w.checkpoint
        shutil.copyfile(get(src), get(dst))

    return craft


def _report_has_lstm_only(w: World) -> None:
    """The copy is not reported as the transformer's results, nor as an unreadable file."""
    text = (w.run / "report" / "report.md").read_text()
    assert "(foreign 1)" in text and "unreadable 1" not in text, text[:400]


def _status_only(w: World) -> None:
    pq.write_table(pa.table({"status": ["ok"]}), w.cell("transformer"))


def _doubled(w: World) -> None:
    table = pq.read_table(w.cell("transformer"))
    pq.write_table(pa.concat_tables([table, table]), w.cell("transformer"))


def _remove_checkpoint(w: World) -> None:
    w.checkpoint("transformer").unlink()


def _eval_skipped_transformer(w: World) -> None:
    """The lstm was measured at 128; the transformer kept its good rows and got none at 128."""
    df = store.load(w.run)
    lengths = {a: set(df.loc[df["arch"] == a, "eval_len"]) for a in w.keys}
    assert 128 in lengths["lstm"] and 128 not in lengths["transformer"], lengths
    assert set(df["status"]) == {"ok"}, "a skipped cell became error rows"


def _then_run_behaves(w: World) -> None:
    result = CliRunner().invoke(app, ["run", *M, "--out", str(w.run)])
    assert result.exit_code == 0, result.output


def _eval_skipped_then_run(w: World) -> None:
    _eval_skipped_transformer(w)
    _then_run_behaves(w)


def _link(name: str, to_victim: bool = True) -> Callable[[World], None]:
    def craft(w: World) -> None:
        link = w.run / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_dir():  # a folder of the run replaced by a link
            shutil.rmtree(link)
        if to_victim:
            link.symlink_to(w.victim)
        else:
            (w.root / "outside").mkdir()
            link.symlink_to(w.root / "outside", target_is_directory=True)

    return craft


def _no_link_written_through(w: World) -> None:
    assert w.victim.read_text() == "secret\n"
    assert not (w.root / "outside").exists() or not any((w.root / "outside").iterdir())


def _labels(text: str) -> Callable[[World], None]:
    """Every label of the manifest is `text`; one cell is pending, so `status` shows its label."""

    def craft(w: World) -> None:
        w.edit_manifest(lambda m: m.update(labels={k: text for k in m["cells"]}))
        w.cell("transformer").unlink()

    return craft


ESCAPES = "\x1b]0;owned\x07\x1b[2J\x1b[31mFAKE RED"
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>![x](http://evil.example/a.png)"


def _hostile_arch(w: World) -> None:
    for arch in w.keys:
        w.edit_rows(arch, arch=HOSTILE)


def _report_inert(w: World) -> None:
    """The label is shown as text: no tag, no image (markdown or HTML) that a viewer loads."""
    pages = list((w.run / "report").glob("report.*"))
    assert pages
    for page in pages:
        text = page.read_text()
        assert "<script" not in text and "<img src=x" not in text, page
        assert 'src="http' not in text, page
        if page.suffix == ".md":  # in HTML, markdown syntax is plain text
            assert "![x](http" not in text, page
        assert "alert(1)" in text, "the label is shown (as text)"


def _manifest(edit: Callable[[dict], None]) -> Callable[[World], None]:
    return lambda w: w.edit_manifest(edit)


def _checkpoint_bytes(make: Callable[[World, Path], None]) -> Callable[[World], None]:
    return lambda w: make(w, w.checkpoint("transformer"))


def _pickled(w: World, path: Path) -> None:
    body = torch.load(path, weights_only=True)
    body["extra"] = Path("/")  # a Python object: loading it would run pickle's machinery
    torch.save(body, path)


def _maze_rows(options: str, only: str | None = None) -> Callable[[World], None]:
    def craft(w: World) -> None:
        for arch in [only] if only else w.keys:
            w.edit_rows(arch, task="maze", task_options=options)

    return craft


TR = "transformer"
# fmt: off
CASES: dict[str, Case] = {
    # -- wrong rows or lost work
    "copied checkpoint, eval": Case(
        _copy("lstm", TR, "checkpoint"), ["eval", "{R}", "--lengths", "128"], 1,
        "skipped cell {transformer}", _eval_skipped_transformer),
    "copied cell, run": Case(
        _copy("lstm", TR, "cell"), ["run", *M, "--out", "{R}"], 0, "", _both_stored_once),
    "copied cell, status": Case(
        _copy("lstm", TR, "cell"), ["status", "{R}"], 0, "foreign"),
    "copied cell, report": Case(
        _copy("lstm", TR, "cell"), ["report", "{R}"], 0, "{transformer}", _report_has_lstm_only),
    "status-only cell, run": Case(
        _status_only, ["run", *M, "--out", "{R}"], 0, "", _both_stored_once),
    "doubled rows, run": Case(
        _doubled, ["run", *M, "--out", "{R}"], 0, "", _both_stored_once),
    "doubled rows, status": Case(_doubled, ["status", "{R}"], 0, "foreign"),
    "missing checkpoint, eval then run": Case(
        _remove_checkpoint, ["eval", "{R}", "--lengths", "128"], 1, "skipped cell {transformer}",
        _eval_skipped_then_run),
    # -- security
    "report.md a link": Case(
        _link("report/report.md"), ["report", "{R}"], 0, "", _no_link_written_through),
    "report folder a link": Case(
        _link("report", to_victim=False), ["report", "{R}"], 2, "symbolic link",
        _no_link_written_through),
    "figure a link": Case(
        _link("figures/learning.png"), ["plot", "{R}", "--kind", "learning"], 0, "",
        _no_link_written_through),
    "figures folder a link": Case(
        _link("figures", to_victim=False), ["plot", "{R}", "--kind", "accuracy"], 2,
        "symbolic link", _no_link_written_through),
    "cells folder a link, run": Case(
        _link("cells", to_victim=False), ["run", *M, "--out", "{R}"], 2, "symbolic link",
        _no_link_written_through),
    "checkpoints folder a link, run": Case(
        _link("checkpoints", to_victim=False), ["run", *M, "--force", "--out", "{R}"], 2,
        "symbolic link", _no_link_written_through),
    "escape sequences in labels, status": Case(_labels(ESCAPES), ["status", "{R}"], 0, "FAKE RED"),
    "rich markup in a label, status": Case(
        _labels("[/]unbalanced["), ["status", "{R}"], 0, "[/]unbalanced["),
    "html and images in labels, report": Case(
        _hostile_arch, ["report", "{R}"], 0, "", _report_inert),
    "html and images in labels, html report": Case(
        _hostile_arch, ["report", "{R}", "--format", "html"], 0, "", _report_inert),
    # -- crashes on crafted or damaged files
    **{f"manifest {what}, {cmd[0]}": Case(_manifest(edit), cmd, 2, says)
       for what, edit, says in (
           ("config a string", lambda m: m.update(config="oops"), "manifest.json"),
           ("without run_id", lambda m: m.pop("run_id"), "run_id"),
           ("cells a string", lambda m: m.update(cells="abc"), "cells"))
       for cmd in (["report", "{R}"], ["run", *M, "--out", "{R}"], ["status", "{R}"],
                   ["plot", "{R}", "--kind", "all"], ["eval", "{R}", "--lengths", "128"])},
    "truncated checkpoint, eval": Case(
        _checkpoint_bytes(lambda w, p: p.write_bytes(p.read_bytes()[:300])),
        ["eval", "{R}", "--lengths", "128"], 2, "{transformer}.pt"),
    "garbled checkpoint, eval": Case(
        _checkpoint_bytes(lambda w, p: p.write_bytes(os.urandom(5000))),
        ["eval", "{R}", "--lengths", "128"], 2, "{transformer}.pt"),
    "pickled checkpoint, eval": Case(
        _checkpoint_bytes(_pickled), ["eval", "{R}", "--lengths", "128"], 2, "{transformer}.pt"),
    **{f"maze options {name}, {cmd[0]}": Case(_maze_rows(options), cmd, 2, "task_options")
       for name, options in (("huge", '{"size": 100000}'), ("wrong type", '{"size": "x"}'))
       for cmd in (["report", "{R}"], ["plot", "{R}", "--kind", "maze"])},
    # options that are no JSON object make the file foreign: reported, its cell run again
    # (the maze figure then has no maze cell left to draw: one line, exit 2)
    **{f"maze options not an object, {cmd[0]}": Case(
        _maze_rows("[1, 2]", only="lstm"), cmd, code, says)
       for cmd, code, says in ((["report", "{R}"], 0, "task_options"),
                               (["plot", "{R}", "--kind", "maze"], 2, "no maze task"))},
    # -- accepted bad input: refused at the door, nothing written
    **{f"run {value}": Case(lambda w: None, ["run", *M, "--set", value, "--out", "{X}"], 2, says)
       for value, says in (
           ("train_lengths=[-5]", "train_lengths"), ("train_lengths=[0]", "train_lengths"),
           ("train.lr=nan", "train.lr"), ("train.lr=inf", "train.lr"),
           ("archs=[{name='transformer', options={n_heads=3}}]", "n_heads"),
           ("archs=[{name='mamba', options={eigen='[0,2]'}}]", "eigen"),
           ("archs=[{name='xlstm', options={cell='glstm'}}]", "glstm"),
           ("model.param_budget=10", "param_budget=10"),
           ("model.param_budget=1000000000000", "param_budget=1000000000000"))},
    "eval --lengths abc": Case(lambda w: None, ["eval", "{R}", "--lengths", "abc"], 2, "--lengths"),
    "eval --samples -4": Case(
        lambda w: None, ["eval", "{R}", "--lengths", "128", "--samples", "-4"], 2, "--samples"),
    "ray at an address nothing answers": Case(
        lambda w: None, ["run", *M, "-e", "ray", "--address", "127.0.0.1:1", "--out", "{X}"], 2,
        "127.0.0.1:1"),
}
# fmt: on


@pytest.mark.parametrize("name", list(CASES))
def test_reproduction(world, caplog, name):
    case = CASES[name]
    case.craft(world)
    outside, stored = world.outside(), world.stored()
    fresh = world.root / "X"
    argv = [a.replace("{R}", str(world.run)).replace("{X}", str(fresh)) for a in case.argv]
    result = CliRunner().invoke(app, argv, env={"COLUMNS": "200"})
    output = result.output
    assert result.exit_code == case.code, output
    says = case.says.format(**world.keys)
    assert says in output + caplog.text, output  # a file ignored is reported as a warning
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "\x1b" not in output, "a label's escape sequence reached the terminal"
    if case.refused:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert world.stored() == stored, "a refused command changed a stored file"
        assert not fresh.exists(), "a refused run left a run directory"
    assert world.outside() == outside, "a file outside the run directory changed"
    if case.check:
        case.check(world)


# -- reproductions that need a process of their own, training, or a crafted outside task --------

PLANTED = ("pandas", "numpy", "pyarrow", "rich", "matplotlib", "typer", "yaml")
STATEBENCH = [str(Path(sys.executable).with_name("statebench"))]


@pytest.mark.parametrize(
    "argv",
    [
        [*STATEBENCH, "status", "."],
        [*STATEBENCH, "report", "."],
        [*STATEBENCH, "plot", ".", "--kind", "learning"],
        [*STATEBENCH, "eval", ".", "--lengths", "12"],
        [sys.executable, "-m", "statebench", "status", "."],
    ],
    ids=["status", "report", "plot", "eval", "python -m"],
)
def test_no_module_in_the_run_directory_runs(world, argv):
    """`cd R && statebench status .` with a pandas.py (and friends) in R: none of them runs."""
    for name in PLANTED:
        (world.run / f"{name}.py").write_text(
            f"open({str(world.root / ('ran_' + name))!r}, 'w').write('x')\n"
        )
    outside = world.outside()
    done = subprocess.run(argv, cwd=world.run, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not list(world.root.glob("ran_*")), "a module lying in the run directory ran"
    assert world.outside() == outside


def test_a_dotted_path_still_resolves_from_the_working_directory(tmp_path):
    """The one module a dotted path names comes from the cwd; a pandas.py beside it does not."""
    shutil.copy(FIXTURES / "ext_gru" / "ext_gru.py", tmp_path)
    (tmp_path / "pandas.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w').write('x')\n")
    argv = [*STATEBENCH, "show-config", "--preset", "smoke", "--arch", "ext_gru:GRUMixer"]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "ext_gru:GRUMixer" in done.stdout and not (tmp_path / "ran").exists()


def test_an_empty_claim_left_by_a_crash_is_taken_over_at_once(world):
    """After a disk-full crash an empty claim file remained: the next run does not wait out
    claim_stale_s (600 s) for it."""
    key = world.keys["transformer"]
    world.cell("transformer").unlink()
    claims = world.run / "claims"
    claims.mkdir(exist_ok=True)
    (claims / f"{key}.0.claim").write_text("")
    argv = [*STATEBENCH, "run", *M, "--set", "executor.claim_stale_s=600", "--out", str(world.run)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)  # not 600 s
    assert done.returncode == 0, done.stdout + done.stderr
    _both_stored_once(world)


def test_a_full_disk_is_named_and_nothing_half_written_is_stored(world, monkeypatch):
    """ENOSPC while a checkpoint is written: one line saying "disk full while writing" the
    file, exit 2; no error row stored for a cell that trained well, and the next run resumes."""
    real_fsync = os.fsync

    def full(fd: int) -> None:
        if ".pt." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    world.cell("transformer").unlink()
    world.checkpoint("transformer").unlink()
    monkeypatch.setattr(os, "fsync", full)
    result = CliRunner().invoke(app, ["run", *M, "--out", str(world.run)])
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "disk full while writing" in line, line
    assert f"{world.keys['transformer']}.pt" in line
    assert not world.cell("transformer").exists(), "a cell that could not be saved was stored"
    assert not list((world.run / "checkpoints").glob(".*")), "a half-written file was left"
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert CliRunner().invoke(app, ["run", *M, "--out", str(world.run)]).exit_code == 0
    _both_stored_once(world)


def test_doubled_rows_are_refused_on_load(world, caplog):
    _doubled(world)
    df = store.load(world.run)
    assert list(df["arch"]) == ["lstm"], "a file with every row twice was merged"
    assert str(world.cell("transformer")) in caplog.text and "twice" in caplog.text


PROBE = ["--preset", "smoke", "--max-len", "64", "--set", "probe.samples=2"]
PROBE += [a for s in ["train.steps=4", "eval.samples=8", "eval.lengths=[8]"] for a in ("--set", s)]


def test_probe_trains_again_a_seed_whose_checkpoint_is_a_copy(tmp_path, caplog):
    """`cp` seed 0's checkpoint over seed 1's: probe reports it and trains seed 1 again, never
    reporting seed 0's t* as seed 1's."""
    run_dir = tmp_path / "R"
    cells = ["--arch", "lstm", "--task", "parity", "--seed", "0", "--seed", "1"]
    args = ["run", "--preset", "smoke", *PROBE[6:], *cells, "--no-report", "--out", str(run_dir)]
    trained = CliRunner().invoke(app, args)
    assert trained.exit_code == 0, trained.output
    keys = store.manifest_cells(store.read_manifest(run_dir))
    seed0, seed1 = sorted(keys, key=lambda k: store.load_checkpoint(run_dir, k)[1]["seed"])
    shutil.copyfile(store.checkpoint_path(run_dir, seed0), store.checkpoint_path(run_dir, seed1))
    result = CliRunner().invoke(app, ["probe", *PROBE, *cells, "--out", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert f"{seed1}.pt" in caplog.text, "the copied checkpoint was not reported"
    state1, cell1 = store.load_checkpoint(run_dir, seed1)  # its own again: trained anew
    state0, _ = store.load_checkpoint(run_dir, seed0)
    assert cell1["seed"] == 1 and any(not torch.equal(state0[n], state1[n]) for n in state0)


def test_probe_exits_non_zero_when_its_rows_failed(tmp_path, monkeypatch):
    monkeypatch.chdir(FIXTURES)  # bench_archs:NaNMixer by dotted path, from the cwd
    argv = ["probe", *PROBE, "--arch", "bench_archs:NaNMixer", "--task", "parity"]
    argv.append("--skip-conformance")  # the door would refuse it before any row is stored
    result = CliRunner().invoke(app, [*argv, "--out", str(tmp_path / "R")])
    assert result.exit_code == 1, result.output
    assert "probe failed for 1 diverged of 1 cells" in result.stderr
    assert set(store.load_probes(tmp_path / "R")["status"]) == {"diverged"}


ODD_TASKS = """
import torch
from statebench.tasks.base import Batch
from statebench.tasks.parity import Parity


class NoClasses(Parity):
    num_classes = 0


class ScoresNothing(Parity):
    def _sample(self, batch_size, length, generator, device):
        batch = super()._sample(batch_size, length, generator, device)
        return Batch(batch.inputs, batch.targets, torch.zeros_like(batch.mask))
"""


ODD = ["--preset", "smoke", "--set", "train.steps=4", "--set", "eval.lengths=[8]", "--no-report"]


@pytest.fixture
def odd_tasks(tmp_path, monkeypatch) -> Path:
    (tmp_path / "oddtasks.py").write_text(ODD_TASKS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "oddtasks", raising=False)
    return tmp_path


def test_a_task_declaring_no_classes_is_refused_as_the_tasks_fault(odd_tasks):
    argv = ["run", *ODD, "--task", "oddtasks:NoClasses", "--out", str(odd_tasks / "X")]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "num_classes=0" in line, line
    assert "lstm" not in line and "transformer" not in line, "blamed on the arch"
    assert not (odd_tasks / "X").exists()


def test_a_task_that_scores_nothing_is_an_error_of_the_task_not_diverged(odd_tasks):
    argv = ["run", *ODD, "--arch", "lstm", "--task", "oddtasks:ScoresNothing"]
    refused = CliRunner().invoke(app, [*argv, "--out", str(odd_tasks / "X")])
    assert refused.exit_code == 2 and "no scored position" in refused.stderr, refused.output
    assert not (odd_tasks / "X").exists()
    argv.append("--skip-conformance")  # past the door, the run itself names the task's fault
    result = CliRunner().invoke(app, [*argv, "--out", str(odd_tasks / "X")])
    assert result.exit_code == 1, result.output
    rows = store.load(odd_tasks / "X")
    assert set(rows["status"]) == {"error"}, rows[["status", "error"]]
    assert rows["error"].str.contains("scores no position").all()


def test_the_docs_say_one_thing_about_even_modular_arithmetic_lengths():
    """An even length is mapped to the odd one below it (tests/bench/test_lengths.py holds
    that); no page may say the harness refuses it."""
    root = Path(__file__).resolve().parents[2]
    for page in [root / "README.md", *sorted((root / "docs").rglob("*.md"))]:
        prose = " ".join(x for x in page.read_text().splitlines() if not x.startswith("|"))
        for sentence in prose.split(". "):
            if "modular_arithmetic" in sentence and re.search(r"\beven\b", sentence):
                assert "below" in sentence, f"{page.name}: {sentence}"

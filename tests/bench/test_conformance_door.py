"""The conformance door: which plugins it checks and at what length, its verdict cache, the
built-ins passing the same checks, and the `conformance` column of every row."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import statebench.tasks as tasks
from statebench.bench import store
from statebench.bench.cli import app
from statebench.bench.config import load_config
from statebench.bench.report import provenance_tables
from statebench.bench.run import conformance, conformance_cache
from statebench.bench.run.conformance import (
    ConformanceRefused,
    Plugin,
    admit,
    check_plugin,
    config_plugins,
)
from statebench.models import arch_class, list_archs
from typer.testing import CliRunner

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY = ["--set", "train.steps=2", "--set", "eval.samples=4", "--set", "eval.lengths=[8, 16]"]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tasks"))
from task_cases import CONFIGS  # noqa: E402  (the built-in task configurations of tests/tasks)


@pytest.fixture(autouse=True)
def plugins_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.syspath_prepend(str(FIXTURES / "ext_gru"))


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A cache folder of this test's own."""
    monkeypatch.setenv(conformance_cache.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "conformance"


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


# --- the built-ins pass the same door ---------------------------------------------------------

BUILT_IN_ARCHS = [
    pytest.param(name, opts, id="-".join([name, *(f"{k}={v}" for k, v in opts.items())]))
    for name in list_archs()
    for opts in getattr(arch_class(name), "conformance_options", [{}])
]


@pytest.mark.parametrize("name, options", BUILT_IN_ARCHS)
def test_every_built_in_arch_passes_the_door_a_probe_would_use(name, options):
    """At 256 tokens (past any short trick), forward and a streamed `step` chunk."""
    check_plugin(Plugin("arch", name, options, length=256, stream_len=256))


@pytest.mark.parametrize("name, options", CONFIGS)
def test_every_built_in_task_passes_the_door(name, options):
    task = tasks.get_task(name, **options)
    length = max(n for n in range(200, 260) if task._length_ok(n))
    check_plugin(Plugin("task", name, options, length=length))


def test_built_ins_are_not_checked_at_run_time():
    cfg = load_config(preset="smoke")
    assert config_plugins(cfg) == []


# --- which plugins, at what length ------------------------------------------------------------


def test_the_door_feeds_an_outside_arch_the_longest_length_the_command_uses():
    cfg = load_config(
        preset="smoke",
        overrides=["archs=['ext_gru:GRUMixer', 'lstm']", "eval.lengths=[8, 100]",
                   "tasks=['parity', 'door_plugins:RunningMod3']", "train.val_lengths=[4, 120]"],
    )  # fmt: skip
    arch, task = config_plugins(cfg)
    assert (arch.kind, arch.name, arch.length, arch.stream_len) == (
        "arch",
        "ext_gru:GRUMixer",
        120,
        0,
    )
    assert (task.kind, task.name, task.length) == ("task", "door_plugins:RunningMod3", 120)
    probe, task = config_plugins(cfg, stream_len=2048)
    assert (probe.length, probe.stream_len, task.length) == (120, 2048, 2048)


def test_a_query_readout_adds_its_position_to_what_the_model_is_fed():
    cfg = load_config(
        preset="smoke",
        overrides=["archs=['ext_gru:GRUMixer']", "eval.lengths=[64]",
                   "tasks=[{name='parity', options={readout='query'}}]"],
    )  # fmt: skip
    assert config_plugins(cfg)[0].length == 65


# --- the cache ----------------------------------------------------------------------------------


def counting(monkeypatch) -> list[Plugin]:
    calls: list[Plugin] = []
    real = conformance.check_plugin

    def spy(plugin):
        calls.append(plugin)
        return real(plugin)

    monkeypatch.setattr(conformance, "check_plugin", spy)
    return calls


def test_a_pass_is_cached_per_source_and_covers_shorter_lengths(cache, monkeypatch):
    calls = counting(monkeypatch)
    gru = Plugin("arch", "ext_gru:GRUMixer", {}, length=64)
    admit([gru])
    admit([gru, Plugin("arch", "ext_gru:GRUMixer", {}, length=32)])
    assert len(calls) == 1, "a second run paid for the check again"
    (entry,) = cache.glob("*.json")
    assert '"checked_len": 64' in entry.read_text()
    admit([Plugin("arch", "ext_gru:GRUMixer", {}, length=128)])  # longer: checked again
    admit([Plugin("arch", "ext_gru:GRUMixer", {}, length=64, stream_len=32)])  # step too
    assert len(calls) == 3
    admit([Plugin("arch", "ext_gru:GRUMixer", {}, length=128, stream_len=16)])  # covered
    assert len(calls) == 3
    assert '"checked_stream_len": 32' in entry.read_text()


def test_edited_code_is_checked_again(cache, monkeypatch, tmp_path):
    calls = counting(monkeypatch)
    pkg = tmp_path / "edited"
    pkg.mkdir()
    source = (FIXTURES / "ext_gru" / "ext_gru.py").read_text()
    (pkg / "edited_gru.py").write_text(source)
    monkeypatch.syspath_prepend(str(pkg))
    plugin = Plugin("arch", "edited_gru:GRUMixer", {}, length=32)
    admit([plugin])
    admit([plugin])
    assert len(calls) == 1
    (pkg / "edited_gru.py").write_text(source + "\n# edited\n")
    monkeypatch.delitem(sys.modules, "edited_gru")
    admit([plugin])
    assert len(calls) == 2, "an edited module reused the verdict of the old source"


def test_a_failure_is_not_cached_and_an_unwritable_cache_is_no_error(tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv(conformance_cache.CACHE_ENV, str(blocked))  # cannot hold a folder
    calls = counting(monkeypatch)
    admit([Plugin("arch", "ext_gru:GRUMixer", {}, length=32)])
    admit([Plugin("arch", "ext_gru:GRUMixer", {}, length=32)])
    assert len(calls) == 2  # nothing cached, nothing raised
    monkeypatch.setenv(conformance_cache.CACHE_ENV, str(tmp_path / "cache"))
    for _ in range(2):
        with pytest.raises(ConformanceRefused, match="NegativeStateMixer: state_size check"):
            admit([Plugin("arch", "door_plugins:NegativeStateMixer", {}, length=32)])
    assert len(calls) == 4 and not list((tmp_path / "cache").rglob("*.json"))


def test_the_cache_lives_in_the_user_cache_folder_unless_told(monkeypatch, tmp_path):
    import platformdirs

    monkeypatch.delenv(conformance_cache.CACHE_ENV)
    assert conformance_cache.cache_dir() == (
        Path(platformdirs.user_cache_dir("statebench", appauthor=False)) / "conformance"
    )
    monkeypatch.setenv(conformance_cache.CACHE_ENV, str(tmp_path))
    assert conformance_cache.cache_dir() == tmp_path / "conformance"


# --- rows record how outside code got in --------------------------------------------------------


def test_rows_say_whether_outside_code_passed_or_skipped_the_door(tmp_path):
    passed, skipped = tmp_path / "passed", tmp_path / "skipped"
    common = ["--preset", "smoke", *TINY, "--arch", "ext_gru:GRUMixer", "--arch", "lstm",
              "--task", "parity", "--no-report"]  # fmt: skip
    assert invoke("run", *common, "--out", passed).exit_code == 0
    df = store.load(passed)
    assert set(df.loc[df["arch"] == "lstm", "conformance"]) == {"built-in"}
    assert set(df.loc[df["arch"] == "ext_gru:GRUMixer", "conformance"]) == {"passed"}

    result = invoke("run", *common, "--arch", "door_plugins:NegativeStateMixer",
                    "--skip-conformance", "--out", skipped)  # fmt: skip
    assert result.exit_code == 0, result.output
    df = store.load(skipped)
    assert set(df.loc[df["arch"] != "lstm", "conformance"]) == {"skipped"}
    assert set(df.loc[df["arch"] == "lstm", "conformance"]) == {"built-in"}
    tables = dict(provenance_tables(df, {}))  # the report says so too
    outside = tables["Outside code (source hashes)"].set_index("name")["conformance"]
    assert set(outside) == {"skipped"} and "door_plugins:NegativeStateMixer" in outside

    result = invoke("eval", passed, "--lengths", "24", "--allow-import", "ext_gru:GRUMixer",
                    "--skip-conformance")  # fmt: skip
    assert result.exit_code == 0, result.output
    df = store.load(passed)
    gru = df[df["arch"] == "ext_gru:GRUMixer"].set_index("eval_len")["conformance"]
    assert gru[24] == "skipped" and gru[16] == "passed"


def test_probe_rows_record_it_and_a_probe_checks_what_a_run_does_not(tmp_path):
    run_dir = tmp_path / "run"
    common = ["--preset", "smoke", *TINY, "--arch", "door_plugins:StreamPeekMixer",
              "--task", "parity", "--out", run_dir]  # fmt: skip
    assert invoke("run", *common, "--no-report").exit_code == 0  # forward is causal
    refused = invoke("probe", *common, "--max-len", "64", "--set", "probe.samples=2")
    assert refused.exit_code == 2 and "step() changed its output" in refused.stderr
    probed = invoke("probe", *common, "--max-len", "64", "--set", "probe.samples=2",
                    "--skip-conformance")  # fmt: skip
    assert probed.exit_code == 0, probed.output
    assert set(store.RunDir(run_dir).load_probes()["conformance"]) == {"skipped"}

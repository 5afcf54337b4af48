"""A task's options are its constructor's named parameters; `**kwargs` passed on to the base
class brings the base's (readout), so a constructor written that way works by dotted path, in a
config and in `check_task`; the docs' example with an option passes the contract too."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from statebench.bench.config import load_config
from statebench.tasks import Task, get_task, task_option_names
from statebench.tasks.testing import check_task

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PAGE = Path(__file__).resolve().parents[2] / "docs" / "extending.md"


@pytest.fixture
def dyck(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES / "ext_dyck"))
    return "ext_dyck:DyckDepth"


def test_options_passed_on_through_kwargs_are_the_base_classes(dyck):
    assert task_option_names(dyck) == ["k", "readout"]
    task = get_task(dyck, k=3, readout="last")
    assert task.options() == {"k": 3, "readout": "last"} and task.readout == "last"
    assert task.num_classes == 4


def test_an_unknown_option_names_the_allowed_ones_and_how_options_are_declared(dyck):
    with pytest.raises(ValueError) as caught:
        get_task(dyck, depth=3)
    message = str(caught.value)
    assert "unknown option(s) 'depth'" in message and "allowed: k, readout" in message
    assert "named parameters" in message


def test_a_kwargs_task_in_a_config_and_through_check_task(dyck):
    cfg = load_config(
        preset="smoke", overrides=[f"tasks=[{{name='{dyck}', options={{k=3, readout='last'}}}}]"]
    )
    assert cfg.tasks[0].options == {"k": 3, "readout": "last"}
    report = check_task(dyck, k=3)
    assert "chance" in report["checks"] and report["chance"] < 1


def test_a_constructor_without_kwargs_takes_only_what_it_names():
    class Fixed(Task):
        description = "x"
        vocab_size = num_classes = 2

        def __init__(self, n: int = 2) -> None:  # no readout: the base's default applies
            super().__init__()
            self.n = n

        def _sample(self, batch_size, length, generator, device):
            raise NotImplementedError

        def _reference(self, tokens):
            return tokens

    assert Fixed.option_names() == ["n"]


def _page_block(header: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    return next(b for b in blocks if b.startswith(header))


def test_the_docs_task_with_an_option_passes_check_task(tmp_path, monkeypatch):
    pkg = tmp_path / "mypkg_options"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "modk.py").write_text(_page_block("# mypkg/modk.py"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "path", list(sys.path))
    name = "mypkg_options.modk:RunningModK"
    assert task_option_names(name) == ["k", "readout"]
    report = check_task(name, k=4, readout="last")
    assert report["checks"][-1] == "chance"
    assert get_task(name, k=5).chance_at(8) == pytest.approx(1 / 5)

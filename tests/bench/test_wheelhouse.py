"""`statebench wheelhouse`: the wheels an air-gapped node needs, fetched for its Python and
platform, then installed there with `pip install --no-index --find-links`. Run here against a
folder of tiny pure-Python wheels (no network): what is fetched and what is left out, the
report, and the air-gapped install into a fresh venv that already holds the image's torch."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from statebench.bench.cli import app
from statebench.bench.cli import wheelhouse as wh
from typer.testing import CliRunner

CHECKOUT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _from_the_checkout(monkeypatch):
    """The project's own wheel and dependency groups come from its checkout: the one these tests
    run from, also when statebench is installed from a wheel (which carries no groups)."""
    monkeypatch.setattr(wh, "ROOT", CHECKOUT)


def make_wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal valid py3-none-any wheel whose module `name` holds its version."""
    dist = f"{name}-{version}.dist-info"
    meta = "\n".join(
        ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        + [f"Requires-Dist: {r}" for r in requires]
        + ["Provides-Extra: fast"] * any("extra ==" in r for r in requires)
    )
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist}/METADATA": meta + "\n\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return wheel


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> Path:
    """What a package index would hold: alpha needs beta >= 1 (0.5 and 1.0 exist), torch (the
    image's), gamma with the `fast` extra, delta only on Python 2; omega is an sdist only."""
    src = tmp_path_factory.mktemp("index")
    make_wheel(src, "alpha", "1.0", ("beta>=1.0", "torch>=2", 'gamma; extra == "fast"',
                                     'delta; python_version < "3"'))  # fmt: skip
    make_wheel(src, "beta", "0.5")
    make_wheel(src, "beta", "1.0", ("torch",))
    make_wheel(src, "gamma", "1.0")
    make_wheel(src, "delta", "1.0")
    (src / "omega-2.0.tar.gz").write_bytes(b"x" * 1234)
    return src


@pytest.fixture(scope="module")
def house(index, tmp_path_factory) -> tuple[Path, wh.Wheelhouse]:
    dest = tmp_path_factory.mktemp("wheelhouse")
    roots = [Requirement("alpha[fast]"), Requirement("omega>=1")]
    pip = ["--no-index", "--find-links", str(index)]
    return dest, wh.closure(roots, dest, wh.Target("3.12"), ("torch",), pip)


def test_fetches_the_closure_for_the_target_and_leaves_the_image_alone(house):
    dest, found = house
    assert {(w["name"], w["version"]) for w in found.wheels} == {
        ("alpha", "1.0"), ("beta", "1.0"), ("gamma", "1.0"),
    }  # fmt: skip
    assert sorted(p.name.split("-")[0] for p in dest.glob("*.whl")) == ["alpha", "beta", "gamma"]
    assert all(w["bytes"] == (dest / w["file"]).stat().st_size for w in found.wheels)
    assert found.left_to_image == ["torch"]
    assert found.needs_build == [
        {"name": "omega", "requirement": "omega>=1", "sdist": "omega-2.0.tar.gz",
         "version": "2.0", "bytes": 1234},
    ]  # fmt: skip


def test_the_air_gapped_install_uses_the_wheelhouse_and_the_images_torch(house, tmp_path):
    """A fresh venv holding the image's torch (a stand-in wheel) installs alpha[fast] from the
    wheelhouse with --no-index: nothing is fetched, and the image's torch stays."""
    dest, _ = house
    image = tmp_path / "image"
    image.mkdir()
    make_wheel(image, "torch", "2.5")
    venv = tmp_path / "node"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # no pip configuration of this machine (its find-links, extra indexes) may help
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    py = venv / "bin" / "python"
    pip = [str(py), "-m", "pip", "install", "-q", "--no-index", "--disable-pip-version-check"]
    subprocess.run([*pip, "--find-links", str(image), "torch"], check=True, env=env)
    done = subprocess.run([*pip, "--find-links", str(dest), "alpha[fast]"], capture_output=True,
                          text=True, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    versions = subprocess.run(
        [str(py), "-c", "import alpha, beta, gamma, torch; "
         "print(alpha.VERSION, beta.VERSION, gamma.VERSION, torch.VERSION)"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert versions == ["1.0", "1.0", "1.0", "2.5"]
    # without the wheelhouse the same install fails: it really came from there
    again = [*pip, "--force-reinstall", "--no-deps", "alpha"]
    assert subprocess.run(again, capture_output=True, text=True, env=env).returncode != 0


def test_the_target_markers_are_the_nodes_not_this_machines():
    target = wh.Target("3.12")
    assert wh.applies(Requirement('x; python_version >= "3.12"'), target, set())
    assert not wh.applies(Requirement('x; python_version < "3.11"'), target, set())
    assert wh.applies(Requirement('x; sys_platform == "linux"'), target, set())
    assert not wh.applies(Requirement('x; extra == "cuda"'), target, set())
    assert wh.applies(Requirement('x; extra == "cuda"'), target, {"cuda"})
    args = target.pip_args()
    assert "--only-binary=:all:" in args and args[args.index("--python-version") + 1] == "3.12"
    assert "manylinux_2_28_x86_64" in args and "manylinux2014_x86_64" in args


def test_the_projects_extras_and_groups_are_its_own():
    test = wh.group_requirements(["test"])
    assert "pytest>=8" in test and "mkdocs>=1.6,<2" in test  # docs comes in through include
    with pytest.raises(KeyError, match="no dependency group 'nope'"):
        wh.group_requirements(["nope"])


def test_an_unknown_group_is_one_line_and_exit_2(tmp_path):
    result = CliRunner().invoke(app, ["wheelhouse", str(tmp_path / "w"), "-g", "nope"])
    assert result.exit_code == 2
    assert "no dependency group 'nope'" in result.output and "Traceback" not in result.output
    bad = CliRunner().invoke(app, ["wheelhouse", str(tmp_path / "w"), "--python", "3"])
    assert bad.exit_code == 2 and "major.minor" in bad.output


def test_groups_outside_a_checkout_are_one_line_and_exit_2(monkeypatch, tmp_path):
    monkeypatch.setattr(wh, "ROOT", tmp_path)  # as when statebench is installed from a wheel
    result = CliRunner().invoke(app, ["wheelhouse", str(tmp_path / "w"), "-g", "test"])
    assert result.exit_code == 2
    assert "pyproject.toml" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1

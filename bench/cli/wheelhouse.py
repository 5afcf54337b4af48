"""`statebench wheelhouse DIR`: every wheel an air-gapped GPU node needs, fetched on a connected
machine for the node's Python and platform.

GPU nodes on clusters often reach no package index: torch and triton come with the image, and
nothing else can be fetched. So this runs where the index is reachable, with pip itself
(`pip download --only-binary=:all: --platform ... --python-version ...`), and walks the
requirements from statebench's own wheel (its dependencies, the chosen extras, dependency
groups such as `test`) down to the last transitive one, evaluating each environment marker for
the target, never for this machine. Packages the image provides (torch, triton and what only
they need) are left out, so nothing of the CUDA stack is downloaded. A requirement with no wheel
for the target (mamba-ssm, causal-conv1d and flash-attn publish source distributions only) is
reported with the size of its source distribution: it needs a build elsewhere, for that torch x
CUDA x Python, or on the node. The node then installs with
`pip install --no-index --find-links DIR "state-tracking-bench[gpu]"` (docs/gpu.md).

`wheelhouse.json` in DIR says what was fetched (name, version, file, bytes), what needs a
build, what was left to the image, and for which target; `groups.txt` lists the requirements of
the dependency groups asked for (`-g test`), to install with `pip install -r` on the node.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]  # the checkout (links resolved), when running from one
PROJECT = "state-tracking-bench"
IMAGE_PROVIDES = ("torch", "triton")  # what a GPU image comes with
# glibc 2.17 (CentOS 7) to 2.28 (RHEL 8): wheels for any of these run on a node with glibc 2.28+
PLATFORMS = tuple(f"manylinux_2_{m}_x86_64" for m in range(17, 29)) + ("manylinux2014_x86_64",)
REPORT = "wheelhouse.json"
GROUPS = "groups.txt"  # the dependency groups' requirements, for `pip install -r`


@dataclass(frozen=True)
class Target:
    """The node's interpreter and platform, as pip's --python-version/--platform see them."""

    python: str = "3.12"
    platforms: tuple[str, ...] = PLATFORMS

    def pip_args(self) -> list[str]:
        short = self.python.replace(".", "")
        args = ["--only-binary=:all:", "--python-version", self.python, "--implementation", "cp"]
        args += ["--abi", f"cp{short}", "--abi", "abi3", "--abi", "none"]
        for platform in self.platforms:
            args += ["--platform", platform]
        return args

    def environment(self, extra: str = "") -> dict[str, str]:
        """PEP 508 marker values on the node (Linux, x86-64, CPython `python`)."""
        return {
            "python_version": self.python,
            "python_full_version": f"{self.python}.0",
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            "implementation_version": f"{self.python}.0",
            "os_name": "posix",
            "sys_platform": "linux",
            "platform_system": "Linux",
            "platform_machine": "x86_64",
            "platform_release": "",
            "platform_version": "",
            "extra": extra,
        }


@dataclass
class Wheelhouse:
    """What `build` fetched and found; written to DIR/wheelhouse.json."""

    target: dict
    wheels: list[dict] = field(default_factory=list)  # name, version, file, bytes
    needs_build: list[dict] = field(default_factory=list)  # name, requirement, sdist, bytes
    left_to_image: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(w["bytes"] for w in self.wheels)


class PipFailed(RuntimeError):
    """pip could not fetch something other than a missing wheel (the message is pip's)."""


def applies(requirement: Requirement, target: Target, extras: set[str]) -> bool:
    """Whether the requirement holds on the target for a package installed with `extras`."""
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate(target.environment(extra)) for extra in (extras or {""}))


def wheel_requirements(wheel: Path) -> list[Requirement]:
    """Requires-Dist of a wheel, read from its METADATA."""
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(name).decode()
    head = text.split("\n\n", 1)[0]
    return [Requirement(line.split(":", 1)[1].strip()) for line in head.splitlines()
            if line.startswith("Requires-Dist:")]  # fmt: skip


def _wheels(directory: Path) -> dict[str, tuple[Version, Path]]:
    found = {}
    for path in directory.glob("*.whl"):
        name, version, *_ = parse_wheel_filename(path.name)
        if name not in found or version > found[name][0]:
            found[name] = (version, path)
    return found


def _pip_download(requirements: list[str], dest: Path, target: Target, pip: list[str]) -> str:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
    cmd += ["-d", str(dest), *target.pip_args(), *pip, *requirements]
    done = subprocess.run(cmd, capture_output=True, text=True)
    return "" if done.returncode == 0 else done.stderr + done.stdout


NO_WHEEL = re.compile(r"No matching distribution found for (\S+)|Could not find a version that")


def _fetch(wanted: dict[str, str], dest: Path, target: Target, pip: list[str]) -> dict[str, str]:
    """Download each requirement's wheel; {name: pip's error} for those without one."""
    if not wanted:
        return {}
    error = _pip_download(list(wanted.values()), dest, target, pip)
    if not error:
        return {}
    missing = {}
    for name, requirement in wanted.items():  # find which: one at a time
        error = _pip_download([requirement], dest, target, pip)
        if error and NO_WHEEL.search(error):
            missing[name] = error.strip().splitlines()[-1]
        elif error:
            raise PipFailed(f"pip download {requirement!r} failed: {error.strip()[-500:]}")
    return missing


def closure(
    roots: list[Requirement],
    dest: Path,
    target: Target,
    provided: tuple[str, ...] = IMAGE_PROVIDES,
    pip: list[str] | None = None,
) -> Wheelhouse:
    """Fetch the wheels of `roots` and of everything they need on `target` into `dest`, level
    by level, leaving out `provided` packages; versions satisfy every specifier seen for a name."""
    pip = list(pip or [])
    dest.mkdir(parents=True, exist_ok=True)
    left = {canonicalize_name(p) for p in provided}
    specs: dict[str, SpecifierSet] = {}
    extras: dict[str, set[str]] = {}
    missing: dict[str, str] = {}
    skipped: set[str] = set()
    todo = list(roots)
    while todo:
        wanted: dict[str, str] = {}
        for req in todo:
            name = canonicalize_name(req.name)
            if name in left:
                skipped.add(name)
                continue
            specs[name] = specs.get(name, SpecifierSet()) & req.specifier
            extras[name] = extras.get(name, set()) | set(req.extras)
            have = _wheels(dest).get(name)
            if name not in missing and (have is None or have[0] not in specs[name]):
                wanted[name] = f"{name}{specs[name]}"
        missing.update(_fetch(wanted, dest, target, pip))
        have = _wheels(dest)
        todo = []
        for name in wanted:
            if name in have:
                todo += [r for r in wheel_requirements(have[name][1])
                         if applies(r, target, extras[name])]  # fmt: skip
        # extras asked for later of a package already fetched still pull their requirements
        for name, (_, path) in have.items():
            if name not in extras:  # statebench's own wheel: its requirements are the roots
                continue
            for r in wheel_requirements(path):
                if applies(r, target, extras[name]) and canonicalize_name(r.name) not in specs:
                    if canonicalize_name(r.name) not in left:
                        todo.append(r)
                    else:
                        skipped.add(canonicalize_name(r.name))
    house = Wheelhouse(target=asdict(target), left_to_image=sorted(skipped))
    for name, (version, path) in sorted(_wheels(dest).items()):
        house.wheels.append(
            {"name": name, "version": str(version), "file": path.name, "bytes": path.stat().st_size}
        )
    for name in sorted(missing):
        sdist = source_distribution(name, specs[name], pip)
        house.needs_build.append({"name": name, "requirement": f"{name}{specs[name]}", **sdist})
    return house


def source_distribution(name: str, spec: SpecifierSet, pip: list[str]) -> dict:
    """{sdist, version, bytes} of the newest source distribution of `name` within `spec`: from
    a --find-links folder among `pip`'s options, else the package index's JSON listing (PEP 691),
    which gives sizes without downloading. Empty values when neither answers."""
    files: list[tuple[Version, str, int]] = []
    folders = [Path(pip[i + 1]) for i, a in enumerate(pip[:-1]) if a in ("--find-links", "-f")]
    for folder in folders:
        for path in folder.glob("*.tar.gz"):
            sname, version = parse_sdist_filename(path.name)
            if sname == name:
                files.append((version, path.name, path.stat().st_size))
    if not folders and "--no-index" not in pip:
        files += _index_sdists(name, _index_url(pip))
    files = [f for f in files if f[0] in spec and not f[0].is_prerelease]
    if not files:
        return {"sdist": "", "version": "", "bytes": None}
    version, filename, size = max(files)
    return {"sdist": filename, "version": str(version), "bytes": size}


def _index_url(pip: list[str]) -> str:
    for i, a in enumerate(pip[:-1]):
        if a in ("--index-url", "-i"):
            return pip[i + 1].rstrip("/")
    return "https://pypi.org/simple"


def _index_sdists(name: str, index: str) -> list[tuple[Version, str, int]]:
    request = urllib.request.Request(
        f"{index}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            listing = json.load(response)
    except Exception:  # noqa: BLE001  sizes are a courtesy; the report says unknown
        return []
    out = []
    for f in listing.get("files", []):
        if f["filename"].endswith(".tar.gz") and f.get("size") is not None:
            try:
                _, version = parse_sdist_filename(f["filename"])
            except Exception:  # noqa: BLE001  a file name that is no sdist of ours
                continue
            out.append((version, f["filename"], int(f["size"])))
    return out


def project_wheel(dest: Path, pip: list[str]) -> Path:
    """statebench's own wheel in `dest`: built from the checkout when running from one (its
    pyproject.toml is there), else fetched by name and version."""
    import statebench

    dest.mkdir(parents=True, exist_ok=True)
    if (ROOT / "pyproject.toml").exists():
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dest), *pip]
        done = subprocess.run([*cmd, str(ROOT)], capture_output=True, text=True)
    else:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), *pip]
        done = subprocess.run([*cmd, f"{PROJECT}=={statebench.__version__}"], capture_output=True,
                              text=True)  # fmt: skip
    if done.returncode != 0:
        raise PipFailed(f"could not get the {PROJECT} wheel: {done.stderr.strip()[-500:]}")
    wheel = _wheels(dest).get(canonicalize_name(PROJECT))
    if wheel is None:
        raise PipFailed(f"pip made no {PROJECT} wheel in {dest}")
    return wheel[1]


def group_requirements(groups: list[str], pyproject: Path | None = None) -> list[str]:
    """The requirements of dependency groups (PEP 735, include-group followed), read from the
    checkout's pyproject.toml (an installed wheel carries no dependency groups)."""
    if not groups:
        return []
    pyproject = pyproject or ROOT / "pyproject.toml"
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    if not pyproject.exists():
        raise FileNotFoundError(
            f"dependency groups are read from pyproject.toml; {pyproject} does not exist "
            "(run from a checkout of statebench)"
        )
    table = tomllib.loads(pyproject.read_text()).get("dependency-groups", {})
    out: list[str] = []

    def add(group: str) -> None:
        if group not in table:
            raise KeyError(f"no dependency group {group!r}; groups: {', '.join(table)}")
        for item in table[group]:
            if isinstance(item, dict):
                add(item["include-group"])
            elif item not in out:
                out.append(item)

    for group in groups:
        add(group)
    return out


def build(
    dest: Path,
    extras: list[str],
    groups: list[str],
    target: Target,
    provided: tuple[str, ...] = IMAGE_PROVIDES,
    pip: list[str] | None = None,
) -> Wheelhouse:
    """statebench's wheel, its dependencies with `extras`, and `groups`, for `target`, in
    `dest`, with `dest`/wheelhouse.json describing them."""
    pip = list(pip or [])
    wheel = project_wheel(dest, pip)
    roots = [r for r in wheel_requirements(wheel) if applies(r, target, set(extras))]
    roots += [Requirement(r) for r in group_requirements(groups)]
    house = closure(roots, dest, target, provided, pip)
    (dest / REPORT).write_text(json.dumps(asdict(house), indent=2))
    # the groups as a requirements file: a node's pip older than 25.1 has no --group
    (dest / GROUPS).write_text("".join(f"{r}\n" for r in group_requirements(groups)))
    return house

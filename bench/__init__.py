"""The harness, grouped by concern; each subpackage imports only those below it.

config/ (what the user asks for) < store/ (the run directory) < run/ (training and evaluating
cells) < probe/ (t*) < analysis/ (the numbers) < plots/ < report/ < cli/ (the command line).
docs/architecture.md draws the layers; tests/test_layering.py holds them.

The modules that used to lie directly under bench/ moved into these subpackages. Their old
import paths keep working for one release, with a DeprecationWarning naming the new path
(`MOVED` below); they are removed in the release after.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings

# Old module -> where it lives now. A moved package's submodules follow it.
MOVED: dict[str, str] = {
    "statebench.bench.cli_common": "statebench.bench.cli.common",
    "statebench.bench.cli_inspect": "statebench.bench.cli.inspection",
    "statebench.bench.cli_options": "statebench.bench.cli.options",
    "statebench.bench.cli_run": "statebench.bench.cli.finish",
    "statebench.bench.doctor": "statebench.bench.cli.doctor",
    "statebench.bench.probe.cli": "statebench.bench.cli.probe",
    "statebench.bench.config_tables": "statebench.bench.config.tables",
    "statebench.bench.typed": "statebench.bench.config.typed",
    "statebench.bench.errors": "statebench.bench.config.errors",
    "statebench.bench.lengths": "statebench.bench.config.lengths",
    "statebench.bench.labels": "statebench.bench.config.labels",
    "statebench.bench.executors.config": "statebench.bench.config.executor",
    "statebench.bench.probe.config": "statebench.bench.config.probe",
    "statebench.bench.presets": "statebench.bench.config.presets",
    "statebench.bench.store_io": "statebench.bench.store.files",
    "statebench.bench.schema": "statebench.bench.store.schema",
    "statebench.bench.claims": "statebench.bench.store.claims",
    "statebench.bench.claim_files": "statebench.bench.store.claim_files",
    "statebench.bench.run_records": "statebench.bench.store.records",
    "statebench.bench.matrix": "statebench.bench.run.matrix",
    "statebench.bench.runner": "statebench.bench.run.runner",
    "statebench.bench.cell": "statebench.bench.run.cell",
    "statebench.bench.train": "statebench.bench.run.train",
    "statebench.bench.evaluate": "statebench.bench.run.evaluate",
    "statebench.bench.reevaluate": "statebench.bench.run.reevaluate",
    "statebench.bench.optim": "statebench.bench.run.optim",
    "statebench.bench.oom": "statebench.bench.run.oom",
    "statebench.bench.forward_check": "statebench.bench.run.forward_check",
    "statebench.bench.training_log": "statebench.bench.run.training_log",
    "statebench.bench.tracking": "statebench.bench.run.tracking",
    "statebench.bench.progress": "statebench.bench.run.progress",
    "statebench.bench.provenance": "statebench.bench.run.provenance",
    "statebench.bench.source_hash": "statebench.bench.run.source_hash",
    "statebench.bench.executors": "statebench.bench.run.executors",
    "statebench.bench.selection": "statebench.bench.analysis.selection",
}


def new_name(old: str) -> str | None:
    """Where a moved module lives now (None: it did not move)."""
    if old in MOVED:
        return MOVED[old]
    package, _, rest = old.rpartition(".")
    while package:
        if package in MOVED:
            return f"{MOVED[package]}.{old[len(package) + 1 :]}"
        package, _, _ = package.rpartition(".")
    return None


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old path as the module at its new path (one module object, not a copy)."""

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec] = {}

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("statebench.bench.") or new_name(fullname) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = new_name(spec.name)
        warnings.warn(
            f"{spec.name} moved to {new}; import it from there (the old path goes in the next "
            "release)",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(new)
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module) -> None:
        # The module at its new path ran already. The import system has just set its __spec__
        # to the old path's spec; give it back its own (a package keeps its search locations).
        module.__spec__ = self._specs.pop(module.__spec__.name)


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.insert(0, _MovedModules())  # before the path finder, so no second copy loads

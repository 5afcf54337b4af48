"""Importing the module of a dotted path (`package.module:Class`) without trusting the cwd.

The `statebench` command does not put the current directory on `sys.path`: a `pandas.py` (or any
module a library imports) lying in a run directory must never run because a user `cd`s there. A
dotted path still resolves from the current directory, as `python -m` would, but only the
top-level module or package the path names, and only after the standard library and the
installed packages failed to provide it. A module found that way imports its own package's
submodules as usual; its top-level imports come from the installed packages.

Shared by the arch and task registries (`statebench.models` and `statebench.tasks` never import
each other), so it lives at the top of the namespace.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType


def import_module(name: str) -> ModuleType:
    """`importlib.import_module(name)`, and if its top-level package is not installed, that
    package (or module) from the current directory."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        top = name.partition(".")[0]
        if e.name != top or top in sys.modules:  # a dependency inside it is missing: its error
            raise
        spec = importlib.machinery.PathFinder.find_spec(top, [os.getcwd()])
        if spec is None or spec.loader is None:
            raise
    module = importlib.util.module_from_spec(spec)
    sys.modules[top] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(top, None)
        raise
    return importlib.import_module(name)

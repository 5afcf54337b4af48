"""statebench: which sequence architectures can track state, and up to what length?

One import namespace. The repository's folders install as its subpackages:
``tasks/`` is ``statebench.tasks``, ``models/`` is ``statebench.models`` and ``bench/`` (the
harness) is ``statebench.bench``; nothing else is put on the top level of site-packages. In a
checkout they are reached through the links beside this file (src/statebench/bench ->
../../bench, ...), so an editable install is a plain path entry every editor can follow.

Importing this package imports nothing else: `python -m statebench` drops the current directory
from `sys.path` (`__main__`) before any other module is looked up there.
"""


def __getattr__(name: str):
    # Lazy: `import statebench` stays light (no torch) until the model loader is asked for.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("state-tracking-bench")
        except PackageNotFoundError:  # running from a checkout that was never installed
            return "0.0.0+unknown"
    if name == "load_model":
        from statebench.bench.run.reevaluate import load_model

        return load_model
    raise AttributeError(f"module 'statebench' has no attribute {name!r}")

"""The `statebench` command line: `app` (bench/cli/app.py) and the modules of its commands."""

from statebench.bench.cli.app import app

__all__ = ["app"]

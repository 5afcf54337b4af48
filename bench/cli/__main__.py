"""``python -m statebench.bench.cli`` is the ``statebench`` command, as ``python -m statebench``."""

from statebench.bench.cli.app import app

if __name__ == "__main__":
    app()

"""``python -m statebench`` is the ``statebench`` command."""

from statebench.bench.cli import app

if __name__ == "__main__":
    app()

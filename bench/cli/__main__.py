"""``python -m statebench.bench.cli`` is the ``statebench`` command, as ``python -m statebench``.

Prefer those two: `python -m` puts the current directory first on `sys.path`, and importing this
package loads the command line's libraries before this file can drop it (`python -m statebench`
drops it first).
"""

from statebench.bench.cli.app import app

if __name__ == "__main__":
    app()

"""``python -m statebench`` is the ``statebench`` command.

`python -m` puts the current directory first on `sys.path`; it is dropped before anything else
is imported, so a module lying in a run directory (a `pandas.py`) never runs when a user types
`python -m statebench status .` there. Dotted paths still resolve from the current directory
(statebench.dotted), for the module they name only.
"""

import os
import sys

if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from statebench.bench.cli import app  # noqa: E402  (after the path is cleaned)

if __name__ == "__main__":
    app()

"""Writing figures: PNG for reading and embedding, SVG for papers; deterministic bytes."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from matplotlib.figure import Figure
from statebench.bench.store.files import atomic_write

log = logging.getLogger(__name__)

FORMATS = ("png", "svg")
DPI = 200
# No timestamps or software versions in the files: same data -> same bytes, clean diffs.
_METADATA = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "Producer": None, "Creator": None},
}


def _save(fig: Figure, target, fmt: str) -> None:
    fig.savefig(
        target,
        format=fmt,
        dpi=DPI,
        bbox_inches="tight",
        pad_inches=0.05,
        metadata=_METADATA.get(fmt),
        facecolor="white",
    )


def save_figure(fig: Figure, path_without_ext, formats=None) -> list[Path]:
    """Write `fig` as <path>.png and <path>.svg (or the given formats); returns the paths.

    The extension is appended, not substituted, so names with dots ("acc.v2") survive. Each
    file is written whole (temp file + rename), never through a symbolic link in its place.
    """
    base = Path(path_without_ext)
    written = []
    for fmt in formats or FORMATS:
        path = base.with_name(f"{base.name}.{fmt}")
        atomic_write(path, figure_bytes(fig, fmt))  # a link in its place is replaced, not followed
        log.info("wrote %s", path)
        written.append(path)
    return written


def figure_bytes(fig: Figure, fmt: str = "png") -> bytes:
    """The figure encoded in memory, for embedding in a self-contained report."""
    buffer = io.BytesIO()
    _save(fig, buffer, fmt)
    return buffer.getvalue()


def note_below(fig: Figure, text: str) -> None:
    """A small line of text under everything the figure draws (kept by the tight bounding box):
    an incomplete run's figures say how many of the expected cells they show. The layout runs
    first: before it, a constrained figure's bounding box is not where it will be drawn, and
    the note landed inside the lowest panel (the learning curves)."""
    fig.draw_without_rendering()
    bottom = fig.get_tightbbox().y0 / fig.get_figheight()
    fig.text(0.0, bottom - 0.02, text, ha="left", va="top", fontsize=7, color="#555555",
             gid="coverage")  # fmt: skip

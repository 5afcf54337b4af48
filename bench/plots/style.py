"""The one look of every statebench figure: arch colours, orderings, fonts, number formats.

Each architecture keeps one colour (and marker) in every figure, so a reader learns the legend
once. The built-in archs get fixed colours, Okabe-Ito's first (safe for the common colour-vision
deficiencies); a variant (an arch with options) gets a shade of its arch's colour; any other
name gets a colour and a marker picked by a stable hash of its name, so third-party adapters
are also stable across figures, runs and machines (two unknown archs may share a colour; their
markers then usually still differ). A baseline's arch (`lstm [baseline]`, shown beside a run's
own cells) keeps its arch's colour and takes another marker, so the same arch from both runs
stays two distinguishable lines.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from statebench.bench.config.labels import (  # noqa: F401
    KNOWN_ARCHS,
    arch_order,
    is_marked,
    task_order,
    unmarked,
)

# Okabe & Ito (2008), as lowercase hex (what matplotlib.colors.to_hex returns). Yellow
# (#f0e442) is left out: it vanishes on white.
ARCH_COLORS: dict[str, str] = {
    "transformer": "#0072b2",  # blue
    "mamba": "#d55e00",  # vermillion
    "retnet": "#009e73",  # bluish green
    "griffin": "#cc79a7",  # reddish purple
    "hawk": "#e69f00",  # orange
    "lstm": "#000000",  # black
    # Beyond Okabe-Ito's seven: hues kept far (CIELAB) from the colours above, their variant
    # shades and the fallback palette below.
    "mamba2": "#b2182b",  # crimson: the warm hue of the Mamba family
    "deltanet": "#00798c",  # dark teal: between the linear-attention blue and green
    "xlstm": "#66a61e",  # leaf green
    "rc_frame": "#9e4a9e",  # plum
}
ARCH_MARKERS: dict[str, str] = {
    "transformer": "o",
    "mamba": "s",
    "retnet": "D",
    "griffin": "^",
    "hawk": "v",
    "lstm": "P",
}
# For archs outside the fixed mapping: colours from Okabe-Ito's sky blue and Paul Tol's muted
# and high-contrast schemes that stay distinct from the six fixed ones (no second green/orange).
FALLBACK_COLORS: tuple[str, ...] = (
    "#56b4e9",  # sky blue
    "#882255",  # wine
    "#332288",  # indigo
    "#999933",  # olive
    "#8c510a",  # brown
    "#7f7f7f",  # grey
)
FALLBACK_MARKERS: tuple[str, ...] = ("X", "p", "h", "*", "<", ">", "d", "8")

GRID_COLOR = "#dddddd"
NEUTRAL_COLOR = "#666666"
FAILED_COLOR = "#bbbbbb"

FULL_WIDTH = 7.0  # inches: a two-column paper's text width
RC = {
    "font.size": 8.5,
    "axes.titlesize": 9.5,
    "axes.labelsize": 8.5,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": GRID_COLOR,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.6,
    "lines.markersize": 4.5,
    "hatch.linewidth": 0.8,
    "svg.hashsalt": "statebench",  # stable SVG ids: same data -> same file
}


def _stable_index(name: str, modulo: int, salt: str = "") -> int:
    """A hash of the name that is the same in every process (unlike the salted built-in hash)."""
    return zlib.crc32(f"{salt}{name}".encode()) % modulo


def arch_color(arch: str) -> str:
    """The arch's colour: fixed for the known archs, a stable hash pick otherwise; a baseline's
    arch has its arch's colour."""
    key = unmarked(arch).lower()
    if key in ARCH_COLORS:
        return ARCH_COLORS[key]
    base = key.split("(", 1)[0]
    if base in ARCH_COLORS:  # a variant (mamba(eigen=[-1,1])): its family's colour, in a shade
        return _shade(ARCH_COLORS[base])
    return FALLBACK_COLORS[_stable_index(key, len(FALLBACK_COLORS))]


def _shade(color: str) -> str:
    """A darker shade of a colour (a lighter one for black), distinct but of the same family."""
    rgb = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    if sum(rgb) < 0.3:
        mixed = [0.55 + 0.45 * c for c in rgb]  # black -> mid grey
    else:
        mixed = [0.55 * c for c in rgb]
    return "#" + "".join(f"{round(c * 255):02x}" for c in mixed)


def arch_marker(arch: str) -> str:
    """The arch's marker, so lines stay distinguishable in greyscale or on a colour clash; a
    baseline's arch takes a marker other than its arch's own."""
    if is_marked(arch):
        own = arch_marker(unmarked(arch))
        others = [m for m in FALLBACK_MARKERS if m != own]
        return others[_stable_index(str(arch).lower(), len(others), salt="baseline:")]
    key = str(arch).lower()
    if key in ARCH_MARKERS:
        return ARCH_MARKERS[key]
    return FALLBACK_MARKERS[_stable_index(key, len(FALLBACK_MARKERS), salt="marker:")]


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Apply the house rcParams for the duration of building one figure (no global change)."""
    with mpl.rc_context(RC):
        yield


def new_figure(width: float = FULL_WIDTH, height: float = 3.0) -> Figure:
    """A pyplot-free figure (no global state, no backend switch, freed when dropped)."""
    return Figure(figsize=(width, height), layout="constrained")


def format_count(value: float, _pos=None) -> str:
    """1234567 -> '1.23M' (three significant digits): parameter counts and state sizes."""
    if value != value:  # NaN
        return "n/a"
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:.3g}{suffix}"
    return f"{value:.3g}"


def legend_columns(n_entries: int, max_columns: int = 8) -> int:
    """Columns for a figure legend: as few rows as fit, entries spread evenly over them."""
    rows = -(-n_entries // max_columns)
    return max(1, -(-n_entries // rows))


def format_length(value: float, _pos=None) -> str:
    """Tick label for a sequence length: 512, 1k, 16k, 1M (powers of two read cleanly)."""
    if value != value or value <= 0:
        return ""
    if value >= 1024**2 and value % 1024**2 == 0:
        return f"{value / 1024**2:.0f}M"
    if value >= 1024 and value % 1024 == 0:
        return f"{value / 1024:.0f}k"
    if value >= 1:
        return f"{value:.0f}"
    return f"{value:g}"


def log2_length_axis(ax, which: str = "x") -> None:
    """Base-2 log scale with length labels (1k, 4k): eval grids are powers of two."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log", base=2)
    axis.set_major_locator(LogLocator(base=2, numticks=12))
    axis.set_major_formatter(FuncFormatter(format_length))
    axis.set_minor_formatter(NullFormatter())


def count_axis(ax, which: str = "x", log: bool = False) -> None:
    """Counts as 100k / 1.2M; on a log scale, decade ticks only (minor labels collide)."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    if log:
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
        axis.set_major_locator(LogLocator(base=10, numticks=8))
        axis.set_minor_formatter(NullFormatter())
    axis.set_major_formatter(FuncFormatter(format_count))


def message_figure(title: str, message: str, width: float = FULL_WIDTH / 1.5) -> Figure:
    """A figure that explains why there is nothing to draw, instead of crashing or lying blank."""
    with style():
        fig = new_figure(width, 2.0)
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.set_title(title)
        ax.text(
            0.5,
            0.5,
            message,
            ha="center",
            va="center",
            color=NEUTRAL_COLOR,
            transform=ax.transAxes,
            wrap=True,
        )
    return fig

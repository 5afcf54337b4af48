"""The one look of every statebench figure: arch colours, orderings, fonts, number formats.

Each architecture keeps one colour (and marker) in every figure, so a reader learns the legend
once. The built-in archs get fixed colours, Okabe-Ito's first (safe for the common colour-vision
deficiencies); a variant (an arch with options) gets a shade of its arch's colour, the variants
of one arch each their own; any other name gets a colour from a palette kept far (CIELAB) from
every built-in colour and shade, picked by a stable hash of its name, so third-party adapters are
also stable across figures, runs and machines. `arch_colors(names)` gives the colours of the
archs one figure shows: where two names would meet on one colour (two outside archs hashing
alike, two variants of one arch), the later one takes the next free colour, so no two archs of
a figure share one. Markers follow the same rules. A baseline's arch (`lstm [baseline]`,
shown beside a run's own cells) keeps its arch's colour and takes another marker, so the same
arch from both runs stays two distinguishable lines.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.textpath import TextPath
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
    "mamba2": "d",
    "deltanet": "X",
    "xlstm": "p",
    "rc_frame": "h",
}
# For archs outside the fixed mapping: colours of Brewer's and Tol's schemes chosen greedily for
# the largest CIELAB distance (over 20) to every built-in colour and to its first two variant
# shades (tests/bench/test_plots.py holds it), so an outside arch never looks like a built-in.
FALLBACK_COLORS: tuple[str, ...] = (
    "#e7298a",  # magenta
    "#bcbd22",  # olive yellow
    "#e41a1c",  # red
    "#228833",  # green
    "#8c564b",  # brown
    "#882255",  # wine
    "#999933",  # olive
    "#7570b3",  # slate purple
)
# None a built-in has: filled ones, picked by a hash of the name; line markers only once every
# filled one is taken (a figure with many variants), since they read thinner.
FALLBACK_MARKERS: tuple[str, ...] = (">", "<", "*", "8", "H")
LINE_MARKERS: tuple[str, ...] = ("x", "+", "1", "2", "3", "4")

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


def _base(key: str) -> str:
    return key.split("(", 1)[0]


def _family_color(base: str) -> str:
    """An arch family's colour: fixed when built in, else a stable pick from the palette."""
    if base in ARCH_COLORS:
        return ARCH_COLORS[base]
    return FALLBACK_COLORS[_stable_index(base, len(FALLBACK_COLORS))]


def arch_colors(names) -> dict[str, str]:
    """The colour of each arch label one figure shows, no two alike (see the module doc); a
    baseline's arch shares its arch's colour."""
    names = [str(n) for n in names]
    own = _arch_colors(unmarked(n) for n in names)
    return {n: own[unmarked(n)] for n in names}


def _arch_colors(names) -> dict[str, str]:
    labels = list(dict.fromkeys(str(n) for n in names))
    keys = {label.lower() for label in labels}
    out: dict[str, str] = {}
    used: set[str] = set()
    variants: dict[str, int] = {}
    # fixed colours first, so a hashed pick never takes a built-in's
    for label in sorted(labels, key=lambda n: (n.lower() not in ARCH_COLORS, n)):
        key = label.lower()
        if key in ARCH_COLORS:
            color = ARCH_COLORS[key]
        elif _base(key) != key:  # a variant: its family's colour, in its own shade
            index = variants.get(_base(key), 0)
            family = _family_color(_base(key))
            # an outside family shown only through variants takes its own palette colour
            # first: a shade of it could come close to a built-in's shade
            own = [family] if _base(key) not in ARCH_COLORS and _base(key) not in keys else []
            shades = [_shade(family, index + i) for i in range(len(SHADES))]
            color = _next_free(own + shades, used)
            variants[_base(key)] = index + 1
        else:
            start = _stable_index(key, len(FALLBACK_COLORS))
            color = _next_free(FALLBACK_COLORS[start:] + FALLBACK_COLORS[:start], used)
        out[label] = color
        used.add(color)
    return out


def arch_markers(names) -> dict[str, str]:
    """The marker of each arch label one figure shows: fixed ones first, then free ones; a
    baseline's arch takes a free marker other than its arch's own."""
    names = [str(n) for n in names]
    out = _arch_markers(unmarked(n) for n in names)
    used = set(out.values())
    for name in dict.fromkeys(n for n in names if is_marked(n)):
        own = out[unmarked(name)]
        start = _stable_index(name.lower(), len(FALLBACK_MARKERS), salt="baseline:")
        choices = [m for m in FALLBACK_MARKERS[start:] + FALLBACK_MARKERS[:start] if m != own]
        out[name] = _next_free(choices + [m for m in LINE_MARKERS if m != own], used)
        used.add(out[name])
    return {n: out[n] for n in names}


def _arch_markers(names) -> dict[str, str]:
    labels = list(dict.fromkeys(str(n) for n in names))
    out: dict[str, str] = {}
    used: set[str] = set()
    for label in sorted(labels, key=lambda n: (n.lower() not in ARCH_MARKERS, n)):
        key = label.lower()
        if key in ARCH_MARKERS:
            marker = ARCH_MARKERS[key]
        else:
            start = _stable_index(key, len(FALLBACK_MARKERS), salt="marker:")
            choices = FALLBACK_MARKERS[start:] + FALLBACK_MARKERS[:start] + LINE_MARKERS
            marker = _next_free(choices, used)
        out[label] = marker
        used.add(marker)
    return out


def _next_free(choices, used: set[str]) -> str:
    """The first of `choices` not used yet (the first of all when every one is taken)."""
    return next((c for c in choices if c not in used), choices[0])


def arch_color(arch: str) -> str:
    """One arch's colour, as `arch_colors` gives it when it is the only one of a figure."""
    return arch_colors([arch])[str(arch)]


# A variant's shade: the family colour mixed with white (w) and scaled (c): darker, lighter,
# darkest. Black (the LSTM) goes to greys instead.
SHADES = ((0.0, 0.55), (0.45, 0.55), (0.0, 0.35))
BLACK_SHADES = ((0.55, 0.45), (0.35, 0.65), (0.7, 0.3))


def _shade(color: str, index: int = 0) -> str:
    """Shade `index` of a colour: distinct from it and from its other shades, same family."""
    rgb = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    white, scale = (BLACK_SHADES if sum(rgb) < 0.3 else SHADES)[index % len(SHADES)]
    return "#" + "".join(f"{round((white + scale * c) * 255):02x}" for c in rgb)


def arch_marker(arch: str) -> str:
    """The arch's marker, so lines stay distinguishable in greyscale or on a colour clash."""
    return arch_markers([arch])[str(arch)]


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


def legend_columns(
    n_entries: int, max_columns: int = 8, labels=None, width: float | None = None
) -> int:
    """Columns for a figure legend: as few rows as fit, entries spread evenly over them. With
    the `labels` and the figure `width` (inches), no more columns than fit across it: long
    labels (an outside arch's dotted path) would otherwise push the legend off the figure."""
    if labels and width:
        fit = int((width - 0.2) / _entry_width(labels))
        max_columns = max(1, min(max_columns, fit))
    rows = -(-n_entries // max_columns)
    return max(1, -(-n_entries // rows))


def _entry_width(labels) -> float:
    """Inches one legend column takes at the house font size: the longest label's drawn width
    plus the handle, its pad and the column spacing (2 + 0.8 + 2 font sizes)."""
    size = RC["legend.fontsize"]
    longest = max(TextPath((0, 0), str(label), size=size).get_extents().width for label in labels)
    return (longest + 4.8 * size) / 72


def figure_legend(fig: Figure, handles, loc: str, max_columns: int = 8):
    """A figure legend `loc` ("outside upper center"...) with as many columns as fit the
    figure's width, so it never runs off the figure."""
    labels = [h.get_label() for h in handles]
    columns = legend_columns(len(handles), max_columns, labels, fig.get_figwidth())
    return fig.legend(handles=handles, loc=loc, ncols=columns)


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


def wrap_label(label: str, width: int = 26) -> str:
    """A long label on lines of about `width` characters, broken after its options' commas
    (jumps(m=2,max_jump=1,n_instructions=2,target=sum) would overrun its neighbours)."""
    lines = [""]
    for piece in str(label).replace(",", ",\0").split("\0"):
        if lines[-1] and len(lines[-1]) + len(piece) > width:
            lines.append("")
        lines[-1] += piece
    return "\n".join(lines)


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
    """A figure that explains why there is nothing to draw, instead of crashing or lying blank
    (for a notebook). `nothing_to_draw(fig)` gives its message: the report and `statebench plot`
    write no file for it, they say why instead."""
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
    fig.statebench_nothing_to_draw = " ".join(message.split())
    return fig


def nothing_to_draw(fig: Figure) -> str:
    """Why a figure has nothing to show ("" when it shows data): see `message_figure`."""
    return getattr(fig, "statebench_nothing_to_draw", "")

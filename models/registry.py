"""Name -> mixer class registry: built-ins, the `statebench.archs` entry points, dotted paths."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from importlib.metadata import entry_points

import torch
from statebench.dotted import import_module
from statebench.models.backbone import MLP_KINDS, SequenceModel
from statebench.models.base import Mixer

ENTRY_POINT_GROUP = "statebench.archs"
BACKBONE_OPTIONS = ("mlp", "mlp_ratio")
_ARCHS: dict[str, type[Mixer]] = {}
_PREFIXES: dict[str, Callable[[str], type[Mixer]]] = {}


def register_arch(name: str):
    """Class decorator: register a Mixer subclass under `name`."""

    def deco(cls: type[Mixer]) -> type[Mixer]:
        if name in _ARCHS and _ARCHS[name] is not cls:
            raise ValueError(f"architecture {name!r} is already registered by {_ARCHS[name]!r}")
        _ARCHS[name] = cls
        return cls

    return deco


def register_arch_prefix(prefix: str, resolve: Callable[[str], type[Mixer]]) -> None:
    """Names `prefix:<rest>` resolve through `resolve(rest)` (e.g. `fla:GLA` wraps fla's GLA).

    The prefix shadows a dotted path into a module of the same name; `resolve` raises
    ValueError with a message naming the arch when `rest` cannot be served here.
    """
    if prefix in _PREFIXES and _PREFIXES[prefix] is not resolve:
        raise ValueError(f"architecture prefix {prefix!r} is already registered")
    _PREFIXES[prefix] = resolve


def _entry_points() -> dict:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def list_archs() -> list[str]:
    """Built-in and entry-point architectures (dotted paths are accepted too, but not listed)."""
    return sorted(set(_ARCHS) | set(_entry_points()))


def _import_dotted(name: str) -> object:
    module, _, attr = name.partition(":")
    try:
        obj = import_module(module)  # installed first; from the cwd only the module named
    except ImportError as e:
        raise ValueError(f"architecture {name!r}: cannot import it ({e})") from e
    except Exception as e:  # the module itself is broken: say so, without a traceback
        raise ValueError(
            f"architecture {name!r}: importing module {module!r} raised {type(e).__name__}: {e}"
        ) from e
    try:
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as e:
        raise ValueError(f"architecture {name!r}: cannot import it ({e})") from e
    return obj


def arch_class(name: str | type) -> type[Mixer]:
    """Resolve a registered name, an entry point, or a dotted path `package.module:Class`.

    A class is returned as is, so tests and notebooks can check or build an unregistered adapter
    without touching the global registry.
    """
    if isinstance(name, type):
        cls: object = name
    elif name in _ARCHS:
        return _ARCHS[name]
    elif name in (eps := _entry_points()):
        try:
            cls = eps[name].load()
        except Exception as e:  # a broken plugin must say which one it is
            raise ValueError(
                f"architecture {name!r}: entry point {eps[name].value!r} "
                f"(group {ENTRY_POINT_GROUP!r}) failed to load ({e})"
            ) from e
    elif ":" in name and (prefix := name.partition(":")[0]) in _PREFIXES:
        cls = _PREFIXES[prefix](name.partition(":")[2])
    elif ":" in name:
        cls = _import_dotted(name)
    else:
        close = difflib.get_close_matches(name, list_archs(), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(
            f"unknown architecture {name!r}{hint}; known: {', '.join(list_archs())}, "
            "a dotted path 'package.module:Class'"
            + "".join(f", or {p}:<Layer>" for p in sorted(_PREFIXES))
        )
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise ValueError(f"architecture {name!r} resolves to {cls!r}, which is not an nn.Module")
    return cls


def arch_label(arch: str | type) -> str:
    """The name recorded for `arch`: itself, or `module:Class` for a class passed directly."""
    return arch if isinstance(arch, str) else f"{arch.__module__}:{arch.__qualname__}"


def arch_option_names(name: str | type) -> list[str]:
    """The options `name` accepts: its mixer's keyword arguments, then the backbone's."""
    sig = inspect.signature(arch_class(name).__init__)
    names = [
        p.name
        for p in sig.parameters.values()
        if p.name not in ("self", "d_model", "layer_idx")
        and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return names + list(BACKBONE_OPTIONS)


def _takes_any_option(cls: type) -> bool:
    """A mixer with `**kwargs` validates its own options; the registry must not reject them."""
    params = inspect.signature(cls.__init__).parameters.values()
    return any(p.kind is p.VAR_KEYWORD for p in params)


def build_model(
    arch: str | type,
    vocab_size: int,
    num_classes: int,
    d_model: int = 64,
    n_layers: int = 2,
    seed: int | None = None,
    **options,
) -> SequenceModel:
    """Wrap `n_layers` mixers of `arch` in the shared backbone. `seed` fixes the initialization."""
    cls = arch_class(arch)
    label = arch_label(arch)
    allowed = arch_option_names(cls)
    bad = [k for k in options if k not in allowed]
    if bad and not _takes_any_option(cls):
        raise ValueError(
            f"architecture {label!r}: unknown option(s) {', '.join(map(repr, bad))}; "
            f"allowed: {', '.join(allowed)}"
        )
    sizes = ("vocab_size", vocab_size), ("num_classes", num_classes), ("d_model", d_model)
    for what, value in (*sizes, ("n_layers", n_layers)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"architecture {label!r}: {what}={value!r} must be an integer >= 1")
    mlp = options.pop("mlp", getattr(cls, "default_mlp", "gelu"))
    if mlp not in MLP_KINDS:
        raise ValueError(f"architecture {label!r}: mlp={mlp!r} is not one of {MLP_KINDS}")
    mlp_ratio = float(options.pop("mlp_ratio", 4.0 if mlp == "gelu" else 3.0))

    def make() -> SequenceModel:
        mixers = [cls(d_model, i, **options) for i in range(n_layers)]
        return SequenceModel(label, mixers, vocab_size, num_classes, d_model, mlp, mlp_ratio)

    if seed is None:
        return make()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()


def match_params(
    arch: str | type,
    target_params: int,
    vocab_size: int,
    num_classes: int,
    n_layers: int = 2,
    multiple: int = 8,
    **options,
) -> int:
    """The d_model (a multiple of `multiple`) whose model size is closest to `target_params`.

    When no width on that grid lands within 10% of the target (the budget falls between two
    grid widths), the grid is refined (halving `multiple` down to 1) before giving up; it
    raises only if no width at all lands within 10%, so a comparison at "equal size" is never
    silently unequal.
    """
    if target_params < 1:
        raise ValueError(f"target_params={target_params!r} must be >= 1")
    # One search per process and question: a run's door check and its cells ask the same one.
    key = (arch_class(arch), target_params, vocab_size, num_classes, n_layers, multiple,
           repr(sorted(options.items())))  # fmt: skip
    if key not in _MATCHED:
        _MATCHED[key] = _match_params(arch, target_params, vocab_size, num_classes, n_layers,
                                      multiple, options)  # fmt: skip
    return _MATCHED[key]


_MATCHED: dict[tuple, int] = {}


def _match_params(
    arch: str | type,
    target_params: int,
    vocab_size: int,
    num_classes: int,
    n_layers: int,
    multiple: int,
    options: dict,
) -> int:
    step = multiple
    while True:
        best, got = _closest_width(arch, target_params, vocab_size, num_classes, n_layers, step,
                                   options)  # fmt: skip
        if abs(got - target_params) <= 0.1 * target_params:
            return best
        if step == 1:
            raise ValueError(
                f"architecture {arch_label(arch)!r}: no d_model lands within 10% of "
                f"{target_params} parameters with n_layers={n_layers}, even on a grid of 1; "
                f"closest is d_model={best} with {got}"
            )
        step = max(1, step // 2)


def _closest_width(
    arch, target_params: int, vocab_size: int, num_classes: int, n_layers: int, multiple: int,
    options: dict,
) -> tuple[int, int]:  # fmt: skip
    """(d_model on the grid of `multiple`, its size) closest to `target_params`."""

    def size(d: int) -> int:
        with torch.device("meta"):
            return build_model(arch, vocab_size, num_classes, d, n_layers, **options).num_params()

    def buildable(k: int) -> tuple[int, int] | None:
        """The first width >= k*multiple the arch accepts (heads may need a larger multiple)."""
        for j in range(k, k + 64):
            try:
                return j, size(j * multiple)
            except ValueError:
                continue
        return None

    lo, hi = 0, 1
    while (found := buildable(hi)) is not None and found[1] < target_params and hi < 1 << 14:
        lo, hi = hi, hi * 2
    if found is None:
        raise ValueError(f"architecture {arch_label(arch)!r}: no width near {hi * multiple} builds")
    while hi - lo > 1:  # sizes grow monotonically with width
        mid = (lo + hi) // 2
        got = buildable(mid)
        if got is not None and got[1] < target_params:
            lo = mid
        else:
            hi = mid
    candidates = [c for c in (buildable(lo) if lo else None, buildable(hi)) if c is not None]
    best, got = min(candidates, key=lambda c: abs(c[1] - target_params))
    return best * multiple, got

"""Any flash-linear-attention layer as an architecture: `fla:<Layer>`, e.g. `fla:GatedDeltaNet`.

`arch_class("fla:GLA")` builds (once) a Mixer subclass around `fla.layers.GLA`: the layer is made
as `GLA(hidden_size=d_model, layer_idx=0, **options)`, so every keyword of the fla layer is an
option (the class publishes the layer's signature, so typos are caught before any training).
fla's layers run Triton kernels, so these archs need CUDA: on a machine without it the name is
refused with a one-line message before anything is built, and a CPU tensor is refused at call time.

Streaming goes through fla's own cache (`fla.models.utils.Cache`), the object fla's models pass
between layers for generation. Each mixer keeps its own cache holding one layer (the wrapped
layer is always layer 0 of it), and `step` works on a copy, because fla updates the cache in
place (its single-token convolution step even writes the conv state in place): a state handed
to `step` is never changed, as the adapter contract expects.
"""

from __future__ import annotations

import copy
import difflib
import functools
import inspect
from typing import Any, ClassVar

import torch
from statebench.models.base import Mixer
from statebench.models.registry import register_arch_prefix

PREFIX = "fla"
OWN = ("self", "hidden_size", "layer_idx")  # set by the adapter, never options


def _require_cuda(label: str) -> None:
    if not torch.cuda.is_available():
        raise ValueError(
            f"architecture {label!r} runs fla's Triton kernels, which need CUDA, and torch sees "
            "no CUDA device; on a CPU use a built-in such as 'deltanet'"
        )


def _fla_layers(label: str) -> Any:
    try:
        import fla.layers
    except Exception as e:  # noqa: BLE001  ImportError, or triton failing to initialise
        raise ValueError(
            f"architecture {label!r} needs flash-linear-attention "
            f"(pip install flash-linear-attention), which does not import here ({e})"
        ) from None
    return fla.layers


def _new_cache() -> Any:
    from fla.models.utils import Cache

    return Cache()


def _tensors(obj: Any):
    """Every tensor in a (nested) cache entry: dicts, tuples and lists of tensors or None."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)


def _copy_cache(cache: Any) -> Any:
    """A deep copy of fla's cache whose tensors are clones (autograd stays connected: deepcopy
    alone refuses tensors that are not graph leaves)."""
    memo: dict[int, Any] = {}
    seen: set[int] = set()

    def walk(obj: Any) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, torch.Tensor):
            memo[id(obj)] = obj.clone()
        elif isinstance(obj, dict):
            for v in obj.values():
                walk(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                walk(v)
        elif hasattr(obj, "__dict__"):
            for v in vars(obj).values():
                walk(v)

    walk(cache)
    return copy.deepcopy(cache, memo)


class FlaMixer(Mixer):
    """Base of the generated `fla:<Layer>` classes; `layer_cls` is the wrapped fla layer."""

    default_mlp = "gated"  # fla's model blocks pair every layer with a SwiGLU MLP
    layer_cls: ClassVar[type]
    label: ClassVar[str]
    new_cache: ClassVar = staticmethod(_new_cache)

    def __init__(self, d_model: int, layer_idx: int = 0, **options: Any) -> None:
        super().__init__(d_model, layer_idx)
        params = inspect.signature(self.layer_cls.__init__).parameters
        if "layer_idx" in params:
            options["layer_idx"] = 0  # its own one-layer cache: see the module docstring
        self.layer = self.layer_cls(hidden_size=d_model, **options)
        self._state_floats: tuple[int, int] | None = None

    def _check_device(self, x: torch.Tensor) -> None:
        if x.device.type != "cuda":
            raise RuntimeError(f"{self.label} runs on CUDA only, got a tensor on {x.device}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_device(x)
        return self.layer(x)[0]

    def init_state(self, batch_size, device, dtype):
        return self.new_cache()

    def step(self, x: torch.Tensor, state):
        self._check_device(x)
        cache = _copy_cache(state)
        out = self.layer(x, past_key_values=cache, use_cache=True)
        return out[0], cache

    def _floats_after(self, tokens: int) -> int:
        param = next(self.parameters())
        x = torch.zeros(1, tokens, self.d_model, device=param.device, dtype=param.dtype)
        was_training = self.training
        try:
            self.eval()
            with torch.no_grad():
                _, cache = self.step(x, self.init_state(1, param.device, param.dtype))
        finally:
            self.train(was_training)
        return sum(t.numel() for t in _tensors(cache[0]))

    def state_size(self, length: int) -> int:
        """Floats in fla's cache per sequence, measured once after 1 and 2 tokens: constant for
        recurrent layers, growing by the per-token KV size for attention layers."""
        if self._state_floats is None:
            self._state_floats = (self._floats_after(1), self._floats_after(2))
        one, two = self._state_floats
        return one + (two - one) * max(length - 1, 0)

    def kernel_name(self, device: torch.device) -> str:
        return "fla"


def mixer_class_for(label: str, layer_cls: type) -> type[FlaMixer]:
    """A FlaMixer subclass for `layer_cls`, whose __init__ publishes the layer's options."""
    sig = inspect.signature(layer_cls.__init__)
    if "hidden_size" not in sig.parameters:
        raise ValueError(f"architecture {label!r}: the fla layer takes no hidden_size")
    own = [
        inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("d_model", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=int),
        inspect.Parameter("layer_idx", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=0),
    ]
    options = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for p in sig.parameters.values()
        if p.name not in OWN and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]

    def __init__(self, d_model: int, layer_idx: int = 0, **opts: Any) -> None:
        FlaMixer.__init__(self, d_model, layer_idx, **opts)

    # Without **kwargs in the published signature the registry and the config check every
    # option name against the fla layer's own keywords.
    __init__.__signature__ = inspect.Signature(own + options)
    name = f"Fla{layer_cls.__name__}"
    return type(
        name,
        (FlaMixer,),
        {"__init__": __init__, "layer_cls": layer_cls, "label": label, "__qualname__": name},
    )


@functools.cache
def fla_arch_class(layer: str) -> type[FlaMixer]:
    """Resolve `fla:<layer>`: refused without CUDA or fla, or for a name fla.layers lacks."""
    label = f"{PREFIX}:{layer}"
    _require_cuda(label)
    layers = _fla_layers(label)
    known = sorted(getattr(layers, "__all__", []))
    layer_cls = getattr(layers, layer, None) if layer in known else None
    if not isinstance(layer_cls, type):
        close = difflib.get_close_matches(layer, known, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(f"architecture {label!r}: fla.layers has no layer {layer!r}{hint}")
    return mixer_class_for(label, layer_cls)


register_arch_prefix(PREFIX, fla_arch_class)

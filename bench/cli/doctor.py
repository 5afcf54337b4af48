"""`statebench doctor`: what this machine would run, and why each fused path is on or off.

Reports torch, CUDA and cuDNN versions, the device and its compute capability, the TF32
settings, every fused kernel's import status (with the real error), and for each architecture,
each of its option sets that changes the code path (its `conformance_options`), each dtype and a
few `fla:<Layer>` examples, the path `forward` and `step` would take and why the fused kernels
it could use are off. It runs anywhere: on a CPU machine it says that there is no CUDA device
and whether each package would import.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass

import torch
from statebench.models import arch_class, build_model, list_archs
from statebench.models.base import Mixer
from statebench.models.ops import (
    attention,
    causal_conv,
    delta_rule,
    fused,
    retention,
    rglru,
    selective_scan,
    ssd,
)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
FLA_EXAMPLES = ("fla:GatedDeltaNet", "fla:GLA")  # `fla:<Layer>` takes any fla layer
PYTORCH_ONLY = {"xlstm": "the xLSTM cells have no fused kernel"}
FLA = "flash-linear-attention"


def _never(mixer: Mixer, dtype: torch.dtype) -> str | None:
    return None


def _always(mixer: Mixer) -> bool:
    return True


def _half_only(mixer: Mixer, dtype: torch.dtype) -> str | None:
    return None if dtype in attention.FLASH_DTYPES else "flash-attn runs fp16/bf16 only"


def _positive_eigen_only(mixer: Mixer, dtype: torch.dtype) -> str | None:
    if getattr(mixer, "eigen", None) == "[-1,1]":
        return "eigen [-1,1]: mamba-ssm has no negative-eigenvalue mode"
    return None


def _conv_width(mixer: Mixer, dtype: torch.dtype) -> str | None:
    width = getattr(mixer, "d_conv", 4)
    if width in causal_conv.FUSED_WIDTHS:
        return None
    return f"d_conv={width}: causal-conv1d has widths 2..4"


def _has_conv(mixer: Mixer) -> bool:
    return getattr(mixer, "cell", None) != "mlstm"  # the mLSTM has no short convolution


@dataclass(frozen=True)
class Package:
    """A fused kernel: the distribution that ships it, the modules our call site imports,
    whether they imported (and any kernel check passed), the archs that can run it, whether a
    built mixer uses it at all, and what it refuses (an option, a dtype)."""

    label: str
    dist: str
    modules: tuple[str, ...]
    loaded: bool
    archs: tuple[str, ...]
    refuses: Callable[[Mixer, torch.dtype], str | None] = _never
    applies: Callable[[Mixer], bool] = _always

    def import_error(self) -> str:
        errors = (fused.import_error(m) for m in self.modules)
        return next((e for e in errors if e), f"{self.modules[0]} did not import")


def _packages() -> list[Package]:
    mamba = ("mamba-ssm (selective scan)", "mamba-ssm", (selective_scan.MAMBA_MODULE,))
    return [
        Package("flash-attn", "flash-attn", ("flash_attn",), attention.flash_attn_func is not None,
                ("transformer", "griffin", "rc_frame"), _half_only),
        Package(*mamba, selective_scan._fused_selective_scan is not None, ("mamba",),
                _positive_eigen_only),
        Package("mamba-ssm (SSD)", "mamba-ssm", (ssd.MAMBA_SSD_MODULE,),
                ssd._fused_ssd is not None, ("mamba2",), _positive_eigen_only),
        Package("causal-conv1d", "causal-conv1d", ("causal_conv1d",),
                causal_conv._fused_causal_conv1d is not None,
                ("mamba", "mamba2", "deltanet", "xlstm"), _conv_width, _has_conv),
        Package(f"{FLA} (retention)", FLA, (retention.FLA_MODULE,), retention.fla_available(),
                ("retnet",)),
        Package(f"{FLA} (HGRN)", FLA, (rglru.FLA_MODULE,), rglru._fla() is not None,
                ("griffin", "hawk")),
        Package(f"{FLA} (delta rule)", FLA, delta_rule.FLA_MODULES, delta_rule._fla() is not None,
                ("deltanet",)),
        Package(f"{FLA} (layers)", FLA, ("fla.layers",), fused.fla_ops("fla.layers") is not None,
                ("fla",)),
    ]  # fmt: skip


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment_lines(device: torch.device) -> list[tuple[str, str]]:
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    lines = [
        ("torch", torch.__version__),
        ("CUDA (torch build)", torch.version.cuda or "none (CPU build)"),
        ("cuDNN", str(cudnn) if cudnn else "not available"),
        ("CUDA available", str(torch.cuda.is_available())),
    ]
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        lines += [
            ("device", torch.cuda.get_device_name(device)),
            ("compute capability", f"{major}.{minor}"),
        ]
    else:
        lines.append(("device", "cpu"))
    lines += [
        ("TF32 matmul", str(torch.backends.cuda.matmul.allow_tf32)),
        ("TF32 cuDNN", str(torch.backends.cudnn.allow_tf32)),
        ("float32 matmul precision", torch.get_float32_matmul_precision()),
    ]
    return lines


def _device_reasons(p: Package, device: torch.device) -> list[str]:
    """Why `p` is off on `device` whatever the model: not imported, no CUDA, an old card."""
    reasons = [] if p.loaded else [p.import_error()]
    if device.type != "cuda":
        reasons.append("no CUDA device: fused kernels run on CUDA tensors only")
    elif p.dist == "flash-attn":
        capability = fused.cuda_capability(device)
        if capability < attention.FLASH_MIN_CAPABILITY:
            reasons.append(f"compute capability {capability} < 8.0")
    return reasons


def package_rows(device: torch.device) -> list[tuple[str, str, str, str]]:
    """(package, installed version, status, why off) per fused kernel."""
    rows = []
    for p in _packages():
        reasons = _device_reasons(p, device)
        status = "on" if not reasons else "off"
        used = f"{status} (used by {', '.join(a if a != 'fla' else 'fla:*' for a in p.archs)})"
        rows.append((p.label, _version(p.dist), used, "; ".join(reasons)))
    return rows


def _why_off(arch: str, mixer: Mixer, dtype: torch.dtype, device: torch.device) -> str:
    """Why the fused kernels `arch` could use are not (all) used by this mixer in `dtype`."""
    family = arch.partition(":")[0]
    reasons = [] if device.type == "cuda" else ["no CUDA device"]
    for p in _packages():
        if family not in p.archs or not p.applies(mixer):
            continue
        refused = p.refuses(mixer, dtype)
        if refused:
            reasons.append(refused)
        elif not p.loaded:
            reasons.append(f"{p.label} does not import")
        elif device.type == "cuda":
            reasons += [f"{p.label}: {r}" for r in _device_reasons(p, device)]
    if family in PYTORCH_ONLY:
        reasons.append(PYTORCH_ONLY[family])
    return "; ".join(dict.fromkeys(reasons))


def _named_kernel(arch: str, mixer: Mixer, dtype: torch.dtype, path: str) -> str:
    """`path`, with the fla function DeltaNet will call when fla runs: in float32 the plain rule
    runs chunk_gated_delta_rule with g = 0, since chunk_delta_rule refuses float32."""
    if arch != "deltanet" or "fla" not in path.split("+"):
        return path
    gated = bool(getattr(mixer, "gated", False))
    function = delta_rule.fla_function(dtype, gated)
    zero = ", g = 0: chunk_delta_rule refuses float32" if function != "chunk_delta_rule" else ""
    return f"{path} ({function}{'' if gated else zero})"


def _arch_rows(arch: str, options: dict, device: torch.device) -> list[tuple[str, ...]]:
    """(arch, options, dtype, forward, step, why off) for each dtype: one arch, one option set."""
    text = " ".join(f"{k}={v}" for k, v in options.items())
    try:
        model = build_model(arch, 5, 3, d_model=64, n_layers=3, seed=0, **options)
    except Exception as e:  # noqa: BLE001  one arch failing to build is a row, not a crash
        # `fla:<Layer>` is refused without CUDA or fla; anything else failing is an error
        path = "unavailable" if arch.startswith("fla:") else f"error: {type(e).__name__}"
        return [(arch, text, d, path, "", str(e)) for d in DTYPES]
    rows = []
    for dtype_name, dtype in DTYPES.items():
        try:
            model.to(device=device, dtype=dtype)
            mixer = model.blocks[0].mixer
            forward = _named_kernel(arch, mixer, dtype, model.kernel)
            step = _named_kernel(arch, mixer, dtype, model.step_kernel)
            why = _why_off(arch, mixer, dtype, device)
        except Exception as e:  # noqa: BLE001
            forward, step, why = f"error: {type(e).__name__}", "", str(e)
        rows.append((arch, text, dtype_name, forward, step, why))
    return rows


def path_rows(device: torch.device) -> list[tuple[str, ...]]:
    """(arch, options, dtype, forward path, step path, why off) for every registered arch and
    each option set that changes its code path, and for the `fla:<Layer>` examples."""
    rows = []
    for arch in list_archs():
        for options in getattr(arch_class(arch), "conformance_options", None) or [{}]:
            rows += _arch_rows(arch, options, device)
    for arch in FLA_EXAMPLES:
        rows += _arch_rows(arch, {}, device)
    return rows


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def missing_fused(device: torch.device | None = None) -> list[str]:
    """One line per fused kernel that would not run here ("package: why"); empty when all run."""
    device = default_device() if device is None else device
    rows = package_rows(device)
    return [f"{name}: {why}" for name, _, status, why in rows if status.startswith("off")]

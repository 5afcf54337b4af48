"""Architecture adapters: token mixers in a shared backbone, one file per architecture."""

from statebench.models.backbone import SequenceModel
from statebench.models.base import Mixer
from statebench.models.registry import (
    ENTRY_POINT_GROUP,
    arch_class,
    arch_label,
    arch_option_names,
    build_model,
    list_archs,
    match_params,
    register_arch,
    register_arch_prefix,
)

# Importing the adapter modules registers them; each guards its own optional imports.
from statebench.models import (  # noqa: E402,F401  isort: skip
    deltanet,
    fla_layer,
    griffin,
    lstm,
    mamba,
    mamba2,
    rc_frame,
    retnet,
    transformer,
    xlstm,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Mixer",
    "SequenceModel",
    "arch_class",
    "arch_label",
    "arch_option_names",
    "build_model",
    "list_archs",
    "match_params",
    "register_arch",
    "register_arch_prefix",
]

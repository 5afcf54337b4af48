"""The bf16 GPU preset is the full preset in bfloat16, nothing else; runs state their TF32 use."""

from statebench.bench.config import load_config
from statebench.bench.run.provenance import environment


def test_full_bf16_is_full_in_bfloat16():
    full, low = load_config(preset="full"), load_config(preset="full-bf16")
    assert low.dtype == "bfloat16" and full.dtype == "float32"
    keep = {"name", "description", "dtype"}
    assert low.model_dump(exclude=keep) == full.model_dump(exclude=keep)


def test_environment_records_tf32_settings():
    env = environment()
    assert {"tf32_matmul", "tf32_cudnn", "float32_matmul_precision"} <= set(env)

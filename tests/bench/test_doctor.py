"""`statebench doctor` runs on a CPU machine and says why each fused path is off; with faked
kernels and a faked CUDA device it names what is still missing for one arch, option set, dtype."""

import json

import pytest
import torch
from statebench.bench.cli import app, doctor
from statebench.models import arch_class, build_model, list_archs
from statebench.models.ops import attention, causal_conv, delta_rule, ssd
from typer.testing import CliRunner

FUSED_NAMES = {"mamba_ssm", "flash_attn", "fla", "cudnn"}
CUDA = torch.device("cuda")


def _options_text(options: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in options.items())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU report")
def test_doctor_on_cpu_says_why_each_fused_path_is_off(tmp_path):
    out = tmp_path / "doctor.json"
    result = CliRunner().invoke(app, ["doctor", "--json", str(out)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "Fused packages" in result.output and "Paths on cpu" in result.output
    report = json.loads(out.read_text())
    assert report["environment"]["torch"] == torch.__version__
    names = {p["package"] for p in report["packages"]}
    fla = "flash-linear-attention"
    assert names == {
        "flash-attn", "mamba-ssm (selective scan)", "mamba-ssm (SSD)", "causal-conv1d",
        f"{fla} (retention)", f"{fla} (HGRN)", f"{fla} (delta rule)", f"{fla} (layers)",
    }  # fmt: skip
    for p in report["packages"]:
        assert p["status"].startswith("off") and "no CUDA device" in p["why_off"], p

    paths = {(r["arch"], r["options"], r["dtype"]): r for r in report["paths"]}
    want = {
        (a, _options_text(o), d)
        for a in list_archs()
        for o in getattr(arch_class(a), "conformance_options", None) or [{}]
        for d in ("float32", "bfloat16")
    }
    fla_rows = {k for k in paths if k[0].startswith("fla:")}
    assert set(paths) - fla_rows == want and fla_rows
    for key, row in paths.items():
        if key in fla_rows:  # refused by name: CUDA only
            assert row["forward"] == "unavailable" and "CUDA" in row["why_off"], row
            continue
        assert not row["forward"].startswith("error"), row
        assert not FUSED_NAMES & set(row["forward"].split("+")), row
        assert row["why_off"].startswith("no CUDA device"), row
    gated = [k[1] for k in paths if k[0] == "deltanet" and "gated=True" in k[1]]
    for eigen in ("[0,1]", "[-1,1]"):
        assert any(f"eigen={eigen}" in options for options in gated), gated
        negative = (
            "negative-eigenvalue" in paths[("mamba2", f"eigen={eigen}", "float32")]["why_off"]
        )
        assert negative == (eigen == "[-1,1]")
    assert {("xlstm", "cell=slstm", "float32"), ("xlstm", "cell=mlstm", "float32")} <= set(paths)
    assert "fp16/bf16" in paths[("transformer", "pos=rope", "float32")]["why_off"]


def _mixer(arch: str, **options):
    return build_model(arch, 5, 3, d_model=64, n_layers=1, **options).blocks[0].mixer


def test_why_off_names_only_what_is_missing_on_a_cuda_device(monkeypatch):
    """With the delta rule's fla kernels and causal-conv1d importable, a DeltaNet on CUDA has
    nothing missing; without causal-conv1d that one is named; a d_conv the kernel lacks is."""
    monkeypatch.setattr(delta_rule, "_fla", lambda: (object(), object()))
    monkeypatch.setattr(causal_conv, "_fused_causal_conv1d", object())
    for gated in (False, True):
        assert (
            doctor._why_off("deltanet", _mixer("deltanet", gated=gated), torch.float32, CUDA) == ""
        )
    wide = _mixer("deltanet", d_conv=5)
    assert doctor._why_off("deltanet", wide, torch.bfloat16, CUDA) == (
        "d_conv=5: causal-conv1d has widths 2..4"
    )
    monkeypatch.setattr(causal_conv, "_fused_causal_conv1d", None)
    assert doctor._why_off("deltanet", _mixer("deltanet"), torch.float32, CUDA) == (
        "causal-conv1d does not import"
    )


def test_why_off_for_mamba2_xlstm_and_flash_attn_on_cuda(monkeypatch):
    monkeypatch.setattr(ssd, "_fused_ssd", object())
    monkeypatch.setattr(causal_conv, "_fused_causal_conv1d", object())
    assert doctor._why_off("mamba2", _mixer("mamba2"), torch.bfloat16, CUDA) == ""
    negative = doctor._why_off("mamba2", _mixer("mamba2", eigen="[-1,1]"), torch.bfloat16, CUDA)
    assert negative == "eigen [-1,1]: mamba-ssm has no negative-eigenvalue mode"
    mlstm = doctor._why_off("xlstm", _mixer("xlstm", cell="mlstm"), torch.bfloat16, CUDA)
    assert mlstm == "the xLSTM cells have no fused kernel"  # no convolution to fuse either

    monkeypatch.setattr(attention, "flash_attn_func", object())
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    old_card = doctor._why_off("transformer", _mixer("transformer"), torch.bfloat16, CUDA)
    assert old_card == "flash-attn: compute capability (7, 5) < 8.0"
    fp32 = doctor._why_off("transformer", _mixer("transformer"), torch.float32, CUDA)
    assert fp32 == "flash-attn runs fp16/bf16 only"


@pytest.mark.parametrize("gated", [False, True], ids=["plain", "gated"])
def test_deltanet_row_names_the_fla_kernel_that_really_runs(monkeypatch, gated):
    """With fla on CUDA (faked), plain DeltaNet in float32 runs chunk_gated_delta_rule with
    g = 0 (chunk_delta_rule refuses float32), in bfloat16 chunk_delta_rule; doctor says which."""
    import statebench.models.deltanet as deltanet

    monkeypatch.setattr(deltanet, "delta_rule_kernel", lambda device: "fla")
    options = {"gated": True} if gated else {}
    rows = {r[2]: r for r in doctor._arch_rows("deltanet", options, torch.device("cpu"))}
    fp32, bf16 = rows["float32"], rows["bfloat16"]
    if gated:
        assert fp32[3] == bf16[3] == "fla (chunk_gated_delta_rule)"
    else:
        assert fp32[3] == "fla (chunk_gated_delta_rule, g = 0: chunk_delta_rule refuses float32)"
        assert bf16[3] == "fla (chunk_delta_rule)"
    assert fp32[4] == fp32[3]  # step takes the same kernel

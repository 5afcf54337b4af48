"""`statebench doctor` runs on a CPU machine and says why each fused path is off."""

import json

import pytest
import torch
from statebench.bench.cli import app
from statebench.models import list_archs
from typer.testing import CliRunner


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU report")
def test_doctor_on_cpu_says_why_each_fused_path_is_off(tmp_path):
    out = tmp_path / "doctor.json"
    result = CliRunner().invoke(app, ["doctor", "--json", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Fused packages" in result.output and "Paths on cpu" in result.output
    report = json.loads(out.read_text())
    assert report["environment"]["torch"] == torch.__version__
    names = {p["package"] for p in report["packages"]}
    assert names == {"flash-attn", "mamba-ssm", "causal-conv1d", "flash-linear-attention"}
    for p in report["packages"]:
        assert p["status"].startswith("off") and "no CUDA device" in p["why_off"], p
    paths = {(r["arch"], r["dtype"]): r for r in report["paths"]}
    assert set(paths) == {(a, d) for a in list_archs() for d in ("float32", "bfloat16")}
    for row in paths.values():
        assert not row["forward"].startswith("error"), row
        assert not {"mamba_ssm", "flash_attn", "fla", "cudnn"} & set(row["forward"].split("+"))

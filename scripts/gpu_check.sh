#!/usr/bin/env bash
# The device check for a fresh CUDA machine, within a 10-minute budget (each step has its own
# limit; the limits and their grace periods add up to under 10 minutes): `statebench doctor`,
# the GPU tests with the fused kernels required, a bf16 smoke run of every arch and every
# option set with its own fused kernel or code path (one task), the fused-vs-reference CUDA
# benchmark, and a JSON summary.
#
#   bash scripts/gpu_check.sh                # writes results/gpu_check/summary.json
#   OUT=/tmp/check DEVICE=cpu bash scripts/gpu_check.sh   # dry run of the script itself
#
# Install first (docs/gpu.md). Every step runs even when an earlier one fails; the
# exit status is non-zero if any step failed. A step over its limit is interrupted (SIGINT, so
# pytest and `statebench run` still write what they have), then killed 10 s later.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/gpu_check}
DEVICE=${DEVICE:-cuda}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
rm -rf "$OUT" && mkdir -p "$OUT"
: >"$OUT/steps.jsonl"
# Every family, and each option set that reaches another kernel or code path.
ARCHS="'lstm','transformer',{name='transformer',options={pos='alibi'}},'mamba',\
{name='mamba',options={eigen='[-1,1]'}},'mamba2',{name='mamba2',options={eigen='[-1,1]'}},\
'retnet','griffin','hawk','rc_frame','deltanet',\
{name='deltanet',options={gated=true,eigen='[-1,1]'}},\
{name='xlstm',options={cell='slstm'}},{name='xlstm',options={cell='mlstm'}}"
SMOKE=(--set train.steps=30 --set eval.samples=32)
if [ "$DEVICE" = cuda ] && python -c "import fla.layers" 2>/dev/null; then
  ARCHS="$ARCHS,'fla:GatedDeltaNet'"  # fla layers build on CUDA only (doctor says if fla fails)
elif [ "$DEVICE" != cuda ]; then
  SMOKE=(--set train.steps=2 --set eval.samples=8 --set "eval.lengths=[8,16]")  # script check
fi

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log, record rc and duration
  local name=$1 limit=$2 start rc
  shift 2
  start=$(date +%s)
  echo "== $name (limit ${limit}s)"
  timeout -s INT -k 10 "$limit" "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  printf '{"step": "%s", "rc": %d, "seconds": %d}\n' "$name" "$rc" "$(($(date +%s) - start))" \
    >>"$OUT/steps.jsonl"
  tail -n 25 "$OUT/$name.log"
}

step doctor 60 statebench doctor --json "$OUT/doctor.json"
REQUIRE=1
[ "$DEVICE" = cuda ] || REQUIRE=0
STATEBENCH_REQUIRE_FUSED=$REQUIRE step gpu_tests 210 python -m pytest -m gpu -q -rs \
  -p no:cacheprovider tests/models tests/bench --junitxml="$OUT/gpu_tests.xml"
step smoke_bf16 120 statebench run --preset smoke --device "$DEVICE" --out "$OUT/smoke-bf16" \
  --set dtype=bfloat16 --set "archs=[$ARCHS]" --set "tasks=['parity']" "${SMOKE[@]}"
step perf_cuda 150 python -m pytest tests/perf/test_perf_cuda.py -k fused_vs_reference \
  --benchmark-only --benchmark-json="$OUT/perf_cuda.json" -q -rs -p no:cacheprovider

python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
import xml.etree.ElementTree as ET

out = Path(sys.argv[1])
summary = {"steps": [json.loads(l) for l in (out / "steps.jsonl").read_text().splitlines() if l]}
if (out / "doctor.json").exists():
    summary["doctor"] = json.loads((out / "doctor.json").read_text())
if (out / "gpu_tests.xml").exists():
    suite = ET.parse(out / "gpu_tests.xml").getroot().find("testsuite")
    if suite is None:
        suite = ET.parse(out / "gpu_tests.xml").getroot()
    summary["gpu_tests"] = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
try:
    from statebench.bench import store
    rows = store.load(out / "smoke-bf16")
    summary["smoke_bf16"] = rows[["arch", "arch_options", "task", "status", "kernel", "eval_len", "accuracy"]].to_dict("records")
except Exception as e:  # noqa: BLE001  the summary reports what it could not read
    summary["smoke_bf16"] = f"unreadable: {type(e).__name__}: {e}"
if (out / "perf_cuda.json").exists():
    bench = json.loads((out / "perf_cuda.json").read_text())["benchmarks"]
    summary["perf_cuda"] = [b["extra_info"] for b in bench]
(out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
print(f"summary: {out / 'summary.json'}")
sys.exit(int(any(s["rc"] != 0 for s in summary["steps"])))
PY

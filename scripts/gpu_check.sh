#!/usr/bin/env bash
# The device check for a CUDA machine, within 10 minutes on one H100: install from a wheelhouse
# (air-gapped nodes: the image has torch and triton, nothing can be fetched), `statebench
# doctor`, the GPU tests with the fused kernels required, a bf16 smoke run of every arch and
# every option set with its own kernel or code path (one task), the fused-vs-reference CUDA
# benchmark, and a JSON summary that says which fused paths ran and why the others could not.
#
#   WHEELHOUSE=/path/to/wheels bash scripts/gpu_check.sh   # air-gapped: install from there
#   bash scripts/gpu_check.sh                # statebench already installed (or a reachable index)
#   OUT=/tmp/check DEVICE=cpu bash scripts/gpu_check.sh   # dry run of the script itself
#
# The wheelhouse comes from `statebench wheelhouse DIR -g test` on a connected machine (for the
# node's Python; docs/gpu.md). mamba-ssm, causal-conv1d and flash-attn have no wheels on the
# index: without wheels built for the node they are absent, doctor says so, their tests skip
# and name them, and every other fused path (SDPA, cuDNN, fla's Triton kernels) still runs.
#
# Time: the steps share one budget (BUDGET_S, default 560 s); each also has its own cap, and a
# step never gets more than what is left, so the script ends before 10 minutes whatever hangs.
# Triton compiles fla's kernels on first use, inside gpu_tests: it has the largest share. A
# step over its limit is interrupted (SIGINT, so pytest and `statebench run` still write what
# they have), then killed 5 s later. Every step runs even when an earlier one failed; the exit
# status is non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/gpu_check}
DEVICE=${DEVICE:-cuda}
BUDGET_S=${BUDGET_S:-560}
WHEELHOUSE=${WHEELHOUSE:-}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
START=$(date +%s)
rm -rf "$OUT" && mkdir -p "$OUT"
: >"$OUT/steps.jsonl"
# Every family, and each option set that reaches another kernel or code path.
ARCHS="'lstm','transformer',{name='transformer',options={pos='alibi'}},'mamba',\
{name='mamba',options={eigen='[-1,1]'}},'mamba2',{name='mamba2',options={eigen='[-1,1]'}},\
'retnet','griffin','hawk','rc_frame','deltanet',\
{name='deltanet',options={gated=true,eigen='[-1,1]'}},\
{name='xlstm',options={cell='slstm'}},{name='xlstm',options={cell='mlstm'}}"
SMOKE=(--set train.steps=30 --set eval.samples=32)
if [ "$DEVICE" != cuda ]; then
  SMOKE=(--set train.steps=2 --set eval.samples=8 --set "eval.lengths=[8,16]")  # script check
fi

step() {  # step NAME CAP_SECONDS COMMAND...: run within min(cap, budget left), log, record
  local name=$1 cap=$2 start rc limit left
  shift 2
  left=$((BUDGET_S - ($(date +%s) - START) - 5))
  limit=$((cap < left ? cap : left))
  start=$(date +%s)
  if [ "$limit" -lt 5 ]; then
    echo "== $name skipped: the ${BUDGET_S}s budget is spent"
    printf '{"step": "%s", "rc": 124, "seconds": 0, "limit": 0, "skipped": "budget spent"}\n' \
      "$name" >>"$OUT/steps.jsonl"
    return
  fi
  echo "== $name (limit ${limit}s)"
  timeout -s INT -k 5 "$limit" "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  printf '{"step": "%s", "rc": %d, "seconds": %d, "limit": %d}\n' "$name" "$rc" \
    "$(($(date +%s) - start))" "$limit" >>"$OUT/steps.jsonl"
  tail -n 25 "$OUT/$name.log"
}

# what the image lacks (pydantic, tomli-w, pytest, ...), from the wheelhouse only. --no-compile:
# byte-compiling ~90 packages costs more than the imports that compile what they use.
INSTALL='pip=(python -m pip install -q --no-compile --no-index --find-links "$1")
"${pip[@]}" "state-tracking-bench[gpu]" && { [ ! -s "$1/groups.txt" ] || "${pip[@]}" -r "$1/groups.txt"; }'
if [ -n "$WHEELHOUSE" ]; then
  step install 120 bash -c "$INSTALL" _ "$WHEELHOUSE"
elif ! python -c "import statebench" 2>/dev/null; then
  step install 180 python -m pip install -q ".[gpu]" --group test  # an index is reachable
fi
step doctor 45 statebench doctor --json "$OUT/doctor.json"
REQUIRE=1
[ "$DEVICE" = cuda ] || REQUIRE=0
# Every GPU test runs; with the variable set, absent fused paths fail the step by name
STATEBENCH_REQUIRE_FUSED=$REQUIRE step gpu_tests 240 python -m pytest -m gpu -q -rs \
  -p no:cacheprovider tests/models tests/bench --junitxml="$OUT/gpu_tests.xml"
if [ "$DEVICE" = cuda ] && python -c "import fla.layers" 2>/dev/null; then
  ARCHS="$ARCHS,'fla:GatedDeltaNet'"  # fla layers build on CUDA only (doctor says if fla fails)
fi
step smoke_bf16 120 statebench run --preset smoke --device "$DEVICE" --out "$OUT/smoke-bf16" \
  --set dtype=bfloat16 --set "archs=[$ARCHS]" --set "tasks=['parity']" "${SMOKE[@]}"
step perf_cuda 90 python -m pytest tests/perf/test_perf_cuda.py -k fused_vs_reference \
  --benchmark-only --benchmark-json="$OUT/perf_cuda.json" -q -rs -p no:cacheprovider

python - "$OUT" "$((BUDGET_S))" "$START" <<'PY'
import json, sys, time
from pathlib import Path
import xml.etree.ElementTree as ET

out, budget, start = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
summary = {"steps": [json.loads(l) for l in (out / "steps.jsonl").read_text().splitlines() if l]}
summary["seconds"], summary["budget_s"] = round(time.time() - start), budget
if (out / "doctor.json").exists():
    doctor = json.loads((out / "doctor.json").read_text())
    summary["doctor"] = doctor
    # which fused paths could run here, and why each other one could not
    summary["fused"] = {
        p["package"]: {"available": p["status"].startswith("on"), "why_not": p["why_off"]}
        for p in doctor["packages"]
    }
if (out / "gpu_tests.xml").exists():
    root = ET.parse(out / "gpu_tests.xml").getroot()
    suite = root.find("testsuite") if root.find("testsuite") is not None else root
    summary["gpu_tests"] = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    cases = {}
    for case in suite.iter("testcase"):
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome = f"{tag}: {(found.get('message') or '')[:160]}"
        cases[f"{case.get('classname')}::{case.get('name')}"] = outcome
    summary["gpu_tests"]["cases"] = cases
try:
    from statebench.bench import store
    rows = store.load(out / "smoke-bf16")
    cells = rows.drop_duplicates("cell")
    summary["smoke_bf16"] = rows[["arch", "arch_options", "task", "status", "kernel", "eval_len", "accuracy"]].to_dict("records")
    # the kernels training really ran, per arch and option set
    summary["ran"] = sorted({f"{r.arch} {r.arch_options}: {r.kernel}" for r in cells.itertuples() if r.status == "ok"})
except Exception as e:  # noqa: BLE001  the summary reports what it could not read
    summary["smoke_bf16"] = f"unreadable: {type(e).__name__}: {e}"
if (out / "perf_cuda.json").exists():
    bench = json.loads((out / "perf_cuda.json").read_text())["benchmarks"]
    summary["perf_cuda"] = [b["extra_info"] for b in bench]
(out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
print(f"summary: {out / 'summary.json'} ({summary['seconds']} s of {budget})")
sys.exit(int(any(s["rc"] != 0 for s in summary["steps"])))
PY

#!/usr/bin/env bash
# The GPU check, prepared here and run on a lent H100/H200 in one or two calls.
#
#   here:       tools/gpu_check.sh --prepare             # builds build-gpu, fills .gpu-carry/
#   here:       tools/gpu_check.sh --dry-run [PHASE]     # the same steps on this CPU, small sizes
#   on the GPU: run(command="bash tools/gpu_check.sh correctness", carry=[".gpu-carry"])
#               run(command="bash tools/gpu_check.sh speed", carry=[".gpu-carry"])
#
# Phases (default: all, in this order):
#   correctness  nvidia-smi; the whole test suite (CPU/CUDA parity, the math options, the
#                GPU training tests: T = 3 vs 3 x T = 1, seeded runs twice, graph vs eager,
#                CNN 20 epochs GPU vs CPU); compute-sanitizer memcheck on the parity tests
#                and on short training runs of the three models           (~4 min)
#   speed        sgdlab_op_bench (every op's time on the study's shapes, per kernel and
#                math mode); tools/bench_vs_torch.py (sgdlab packs of 1, 8, 32, 128 lanes beside PyTorch
#                eager, CUDA graph and fused packs), FP32 and then TF32 + autotune; the CNN
#                with FP32 autotuning and with the lane-GEMM convolution; eager and
#                one graph per epoch beside one per step; 4 packs at once
#                on streams; a 30-trial x
#                20-epoch CNN sweep at batch 64 packed, then as a T = 1 loop       (~6 min)
#   study        the paper preset of the study
# $OUT/gpu_check.json is rewritten after every step, so a call cut off by its time limit
# still returns every figure it reached; logs go to $OUT/logs.tar.gz the same way.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CARRY="$ROOT/.gpu-carry"

BUILD=${BUILD:-build-gpu}
if [ "${1:-}" = "--prepare" ]; then
  set -e
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90
  cmake --build "$BUILD" -j"$(nproc)"
  rm -rf "$CARRY" && mkdir -p "$CARRY/bin" "$CARRY/lib" "$CARRY/data"
  cp "$BUILD/sgdlab" "$BUILD/tests/sgdlab_tests" "$CARRY/bin/"
  # Built only where Google Benchmark is installed.
  [ -f "$BUILD/sgdlab_op_bench" ] && cp "$BUILD/sgdlab_op_bench" "$CARRY/bin/"
  cp ../shared/data/usps/zip.train.gz ../shared/data/usps/zip.test.gz "$CARRY/data/"
  # Runtime libraries the GPU image may lack; CUDA, cuBLAS and cuDNN come from its system.
  for lib in libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 libsqlite3.so.0 libcrypto.so.3 libgomp.so.1 libz.so.1 libbenchmark.so.1debian; do
    path=$(ldd "$CARRY"/bin/* | awk -v l="$lib" '$1 == l {print $3}' | head -n 1)
    [ -n "$path" ] && cp -L "$path" "$CARRY/lib/"
  done
  du -sh "$CARRY"
  exit 0
fi

DRY=0
if [ "${1:-}" = "--dry-run" ]; then
  DRY=1
  shift
fi
PHASE=${1:-all}
case "$PHASE" in all | correctness | speed | study) ;; *)
  echo "gpu_check.sh: expected a phase: all, correctness, speed or study (got '$PHASE')" >&2
  exit 2
  ;;
esac
OUT=${OUT:-/tmp/gpu_check_out}
WORK=$(mktemp -d /tmp/gpu_check.XXXXXX)
mkdir -p "$OUT"
BIN="$CARRY/bin"
export SGDLAB_DATA="$CARRY/data" SGDLAB_TEST_DATA="$CARRY/data" SGDLAB_TEST_BINARY="$BIN/sgdlab"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}:$CARRY/lib"
export GOMP_SPINCOUNT=1000
DEVICE=cuda LANES=1,8,32,128 STREAM_LANES=8,32,128 CAPTURE_LANES=1,32 OP_FILTER=cuda TRIALS=30 EPOCHS=20 BENCH_EPOCHS=3 STUDY="--preset paper"
# A dry run on a CPU checks the steps with small sizes.
[ $DRY = 1 ] && DEVICE=cpu LANES=1,2 STREAM_LANES=1 CAPTURE_LANES=1 OP_FILTER=cpu/.*T1 TRIALS=4 EPOCHS=2 BENCH_EPOCHS=1 STUDY="--preset quick --coarse 3 --fine 2 --epochs 1"
STEPS="$WORK/steps.tsv"
: > "$STEPS"

# Rewrites $OUT/gpu_check.json and $OUT/logs.tar.gz from what WORK holds now.
summarize() {
  python3 - "$WORK" "$OUT" "$DRY" "$PHASE" <<'PY'
import json, os, shutil, sys
work, out, dry, phase = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
def load(name):
    p = os.path.join(work, name)
    try:
        return json.load(open(p))
    except (OSError, ValueError):
        return None
steps = {}
for line in open(os.path.join(work, "steps.tsv")):
    name, status, seconds = line.rstrip("\n").split("\t")
    steps[name] = {"exit": int(status), "seconds": float(seconds)}
summary = {"dry_run": dry, "phase": phase, "steps": steps}
tests = load("tests.json")
if tests:
    summary["tests"] = {k: tests.get(k) for k in ("tests", "failures", "disabled", "errors")}
    summary["failed_tests"] = [f"{s['name']}.{t['name']}" for s in tests.get("testsuites", [])
                               for t in s.get("testsuite", []) if t.get("failures")]
for name in ("compare_fp32", "compare_tf32"):
    c = load(f"{name}/comparison.json")
    if c:
        summary[name] = {"rows": c["rows"], "targets": c["targets"],
                         "device": c["sgdlab"]["device"], "floors": c["sgdlab"]["floors"],
                         "torch": c["torch"] and {"version": c["torch"]["torch"], "device": c["torch"]["device"]}}
        shutil.copy(os.path.join(work, name, "comparison.json"), os.path.join(out, f"{name}.json"))
ops = load("op_bench.json")
if ops:
    summary["op_bench"] = [{"name": b["name"], "us": b["real_time"], "flops": b.get("FLOP/s"), "bytes": b.get("B/s")}
                           for b in ops.get("benchmarks", [])]
for name in ("bench_autotune", "bench_lane_gemm", "bench_lane_gemm_tf32", "bench_streams", "bench_capture_none", "bench_capture_epoch"):
    b = load(f"{name}.json")
    if b:
        summary[name] = {"device": b["device"], "runs": [{k: r[k] for k in ("model", "lanes", "trial_epochs_per_s",
                                                                          "percent_fp32_peak")} for r in b["runs"]]}
sweeps = {}
for name in ("sweep_packed", "sweep_single"):
    log = os.path.join(work, f"{name}.log")
    if os.path.exists(log):
        sweeps[name] = [l.strip() for l in open(log) if "trials/s" in l or "best" in l][-2:]
summary["sweeps"] = sweeps
r = load("study/report.json")
if r:
    summary["study"] = {m: {"final_test_mean": v["final"]["test_mean"], "final_test_std": v["final"]["test_std"]}
                        for m, v in r["models"].items()} | {"seconds": r.get("seconds")}
    if os.path.exists(os.path.join(work, "study", "report.md")):
        shutil.copy(os.path.join(work, "study", "report.md"), os.path.join(out, "study_report.md"))
for name in ("tests.json",):
    if os.path.exists(os.path.join(work, name)):
        shutil.copy(os.path.join(work, name), os.path.join(out, name))
json.dump(summary, open(os.path.join(out, "gpu_check.json"), "w"), indent=2)
PY
  tar czf "$OUT/logs.tar.gz" -C "$WORK" $(cd "$WORK" && ls *.log 2> /dev/null)
}

# step NAME LIMIT_SECONDS COMMAND...: runs it with its output in WORK/NAME.log.
step() {
  local name=$1 limit=$2
  shift 2
  echo "== $name (limit ${limit}s)"
  local t0=$(date +%s.%N)
  timeout "$limit" "$@" > "$WORK/$name.log" 2>&1
  local status=$?
  local took=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {printf "%.2f", a - b}')
  printf '%s\t%s\t%s\n' "$name" "$status" "$took" >> "$STEPS"
  tail -n 4 "$WORK/$name.log"
  echo "   exit $status, $took s"
  summarize
}

correctness() {
  step nvidia_smi 30 nvidia-smi
  step tests 300 "$BIN/sgdlab_tests" --gtest_brief=1 --gtest_output="json:$WORK/tests.json"
  if ! command -v compute-sanitizer > /dev/null; then
    echo "== memcheck: compute-sanitizer not found"
    return
  fi
  local SAN=(compute-sanitizer --tool memcheck --error-exitcode 9 --leak-check full)
  # Every kernel on odd shapes, then the recorded steps of real training.
  step memcheck_ops 150 "${SAN[@]}" "$BIN/sgdlab_tests" --gtest_brief=1 \
    --gtest_filter='CudaParity.*:*CudaConvParity*:*CudaMathOptions*'
  # A small slice of the data keeps the sanitizer runs short.
  local SMALL="$WORK/small-data"
  mkdir -p "$SMALL"
  zcat "$CARRY/data/zip.train.gz" | head -n 700 | gzip > "$SMALL/zip.train.gz"
  zcat "$CARRY/data/zip.test.gz" | head -n 200 | gzip > "$SMALL/zip.test.gz"
  for m in mlp cnn lcnn; do
    step "memcheck_$m" 90 "${SAN[@]}" "$BIN/sgdlab" train --quiet --model "$m" --epochs 1 \
      --seed 1,2 --device "$DEVICE" --data "$SMALL" --out "$WORK/memcheck-$m"
  done
}

speed() {
  # Where a step's time goes: every op on the study's shapes, per kernel and math mode.
  [ -x "$BIN/sgdlab_op_bench" ] && step op_bench 150 "$BIN/sgdlab_op_bench" --benchmark_filter="$OP_FILTER" --benchmark_min_time=0.05 \
    --benchmark_out="$WORK/op_bench.json" --benchmark_out_format=json
  # Issue #6's sweep: 30 CNN trials x 20 epochs at batch 64, the rest of the study's space.
  echo '{"batch": {"type": "categorical", "choices": [64]}}' > "$WORK/batch64.json"
  step compare_fp32 240 python3 tools/bench_vs_torch.py --sgdlab "$BIN/sgdlab" --data "$CARRY/data" \
    --device "$DEVICE" --lanes "$LANES" --epochs "$BENCH_EPOCHS" --out "$WORK/compare_fp32"
  step compare_tf32 240 python3 tools/bench_vs_torch.py --sgdlab "$BIN/sgdlab" --data "$CARRY/data" \
    --device "$DEVICE" --lanes "$LANES" --epochs "$BENCH_EPOCHS" --tf32 --autotune --out "$WORK/compare_tf32"
  # The convolution levers alone, CNN only: FP32 autotuning (cuDNN's algorithms and the
  # lane-GEMM kernel timed per shape), and the lane-GEMM kernel everywhere.
  step bench_autotune 120 "$BIN/sgdlab" bench --device "$DEVICE" --models cnn --lanes "$LANES" \
    --epochs "$BENCH_EPOCHS" --autotune --json "$WORK/bench_autotune.json"
  step bench_lane_gemm 120 "$BIN/sgdlab" bench --device "$DEVICE" --models cnn --lanes "$LANES" \
    --epochs "$BENCH_EPOCHS" --conv-kernel lane-gemm --json "$WORK/bench_lane_gemm.json"
  step bench_lane_gemm_tf32 120 "$BIN/sgdlab" bench --device "$DEVICE" --models cnn --lanes "$LANES" \
    --epochs "$BENCH_EPOCHS" --tf32 --conv-kernel lane-gemm --json "$WORK/bench_lane_gemm_tf32.json"
  # Graphs: none (eager), one per step (the default, measured above), one per epoch.
  for capture in none epoch; do
    step "bench_capture_$capture" 120 "$BIN/sgdlab" bench --device "$DEVICE" --models mlp,lcnn,cnn \
      --lanes "$CAPTURE_LANES" --capture "$capture" --epochs "$BENCH_EPOCHS" --json "$WORK/bench_capture_$capture.json"
  done
  # Several packs at once on their own streams.
  step bench_streams 150 "$BIN/sgdlab" bench --device "$DEVICE" --models mlp,lcnn,cnn --lanes "$STREAM_LANES" \
    --streams 4 --epochs "$BENCH_EPOCHS" --json "$WORK/bench_streams.json"
  step sweep_packed 120 "$BIN/sgdlab" sweep --model cnn --trials "$TRIALS" --epochs "$EPOCHS" --device "$DEVICE" \
    --space "$WORK/batch64.json" --study "$WORK/sweep.db" --name packed
  step sweep_single 180 "$BIN/sgdlab" sweep --model cnn --trials "$TRIALS" --epochs "$EPOCHS" --device "$DEVICE" \
    --space "$WORK/batch64.json" \
    --pack-lanes 1 --streams 1 --wave 1 --study "$WORK/sweep.db" --name single
}

study() {
  step study 500 "$BIN/sgdlab" study $STUDY --device "$DEVICE" --no-figures --out "$WORK/study"
}

case "$PHASE" in
  correctness) correctness ;;
  speed) speed ;;
  study) study ;;
  all) correctness && speed && study ;;
esac
summarize
echo "wrote $(ls "$OUT" | tr '\n' ' ')to $OUT"

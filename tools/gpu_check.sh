#!/usr/bin/env bash
# The GPU check: prepared on any machine, run on an H100/H200 in two calls that fit a
# 15-minute device lease (docs/gpu-runbook.md).
#
#   tools/gpu_check.sh --prepare          build build-gpu (sm_90), fill .gpu-carry/
#   tools/gpu_check.sh --dry-run [PHASE]  the same steps on this CPU, small sizes
#   bash tools/gpu_check.sh correctness   on the GPU (budget 300 s)
#   bash tools/gpu_check.sh speed         on the GPU (budget 360 s)
#   bash tools/gpu_check.sh study         on the GPU (budget 540 s)
#
# correctness: which libraries the binaries lack (ldd); nvidia-smi; every CUDA test case
#   (they run first, into their own JSON); compute-sanitizer memcheck on the plain FP32
#   parity cases and one short training run.
# speed: sgdlab beside PyTorch (eager, CUDA graph, fused packs) at T = 1, 32, 128; the
#   30-trial CNN sweep packed and as a T = 1 loop; the paper's study (up to 200 s); then,
#   while the budget lasts, the per-op benchmark, TF32 with autotuning, the lane-GEMM
#   convolution, the capture modes and packs on streams.
# study: the paper's study alone, for a lease with time left after the two others.
#
# Every step runs under a limit that also fits what is left of the phase's budget; a
# step that no longer fits is "not run". $OUT/gpu_check.json (and logs.tar.gz) is
# rewritten after every step, so a call cut off still returns what it reached.
# Exit status: 0 every step ran and passed; 1 a step failed (a CUDA test skipped on a
# machine whose nvidia-smi lists a GPU counts as failed); 2 usage; 3 nothing failed
# but a step did not run (no time left, no compute-sanitizer, a device it refuses).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CARRY=${GPU_CHECK_CARRY:-$ROOT/.gpu-carry}
DATA=$ROOT/data/usps
BUILD=${BUILD:-build-gpu}
# Libraries the GPU image may lack, carried xz-compressed and unpacked only if ldd
# says one is missing there; CUDA, cuBLAS and cuDNN always come from the image.
CARRIED_LIBS="libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 libsqlite3.so.0 libcrypto.so.3
  libgomp.so.1 libz.so.1 libbenchmark.so.1debian"

prepare() {
  set -e
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90
  cmake --build "$BUILD" -j"$(nproc)"
  rm -rf "$CARRY" && mkdir -p "$CARRY/bin"
  cp "$BUILD/sgdlab" "$BUILD/tests/sgdlab_tests" "$CARRY/bin/"
  [ -f "$BUILD/sgdlab_op_bench" ] && cp "$BUILD/sgdlab_op_bench" "$CARRY/bin/"
  strip --strip-unneeded "$CARRY"/bin/*
  local staging
  staging=$(mktemp -d)
  for lib in $CARRIED_LIBS; do
    path=$(ldd "$CARRY"/bin/* | awk -v l="$lib" '$1 == l {print $3}' | head -n 1)
    [ -n "$path" ] && cp -L "$path" "$staging/"
  done
  tar -cJf "$CARRY/libs.tar.xz" -C "$staging" .
  rm -rf "$staging"
  du -sh "$CARRY" "$CARRY"/*
  echo "the tree and the bundle: $(du -sm --exclude=.git --exclude='build*' . | cut -f1) MiB (64 at most)"
}

if [ "${1:-}" = "--prepare" ]; then
  prepare
  exit 0
fi

DRY=0
if [ "${1:-}" = "--dry-run" ]; then
  DRY=1
  shift
fi
PHASE=${1:-}
case "$PHASE" in
  correctness) BUDGET=300 ;;
  speed) BUDGET=360 ;;
  study) BUDGET=540 ;;
  *)
    echo "gpu_check.sh: expected a phase: correctness, speed or study (got '$PHASE')" >&2
    exit 2
    ;;
esac
BUDGET=${GPU_CHECK_BUDGET:-$BUDGET}
OUT=${OUT:-/tmp/gpu_check_out}
WORK=$(mktemp -d /tmp/gpu_check.XXXXXX)
mkdir -p "$OUT"
BIN="$CARRY/bin"
export SGDLAB_DATA="$DATA" SGDLAB_TEST_DATA="$DATA" SGDLAB_TEST_BINARY="$BIN/sgdlab"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GOMP_SPINCOUNT=1000
DEVICE=cuda LANES=1,32,128 EXTRA_LANES=1,8,32,128 CAPTURE_LANES=1,32 STREAM_LANES=8,32
OP_FILTER=cuda TRIALS=30 EPOCHS=20 BENCH_EPOCHS=2 STUDY="--preset paper"
if [ $DRY = 1 ]; then
  DEVICE=cpu LANES=1,2 EXTRA_LANES=1,2 CAPTURE_LANES=1 STREAM_LANES=1 OP_FILTER=cpu/.*T1
  TRIALS=4 EPOCHS=2 BENCH_EPOCHS=1 STUDY="--preset quick --coarse 3 --fine 2 --epochs 1"
fi
STEPS="$WORK/steps.tsv"
: > "$STEPS"
START=$(date +%s)

# Rewrites $OUT/gpu_check.json and $OUT/logs.tar.gz from what WORK holds now.
summarize() {
  python3 "$ROOT/tools/gpu_check_summary.py" "$WORK" "$OUT" "$DRY" "$PHASE" "${GPU_PRESENT:-0}"
  tar czf "$OUT/logs.tar.gz" -C "$WORK" $(cd "$WORK" && ls *.log 2> /dev/null)
}

# record NAME STATUS EXIT SECONDS NOTE: one row of the step table.
record() {
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >> "$STEPS"
  echo "   $1: $2 (exit $3, $4 s)${5:+ — $5}"
  summarize
}

budget_left() {
  echo $((BUDGET - ($(date +%s) - START)))
}

# step NAME LIMIT COMMAND...: runs COMMAND with its output in WORK/NAME.log, under LIMIT
# seconds or what is left of the budget (less 5 s for the summary), whichever is less.
step() {
  local name=$1 limit=$2
  shift 2
  local left=$(($(budget_left) - 5))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 10 ]; then
    record "$name" not_run - 0 "no time left in the phase's ${BUDGET} s budget"
    return
  fi
  echo "== $name (limit ${limit}s)"
  local t0 status took
  t0=$(date +%s.%N)
  timeout "$limit" "$@" > "$WORK/$name.log" 2>&1
  status=$?
  took=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {printf "%.1f", a - b}')
  tail -n 3 "$WORK/$name.log" | sed 's/^/   | /'
  if [ "$status" = 0 ]; then
    record "$name" pass 0 "$took" ""
  elif [ "$status" = 124 ]; then
    record "$name" fail 124 "$took" "timed out after ${limit} s"
  elif grep -q "Device not supported" "$WORK/$name.log"; then
    record "$name" not_run "$status" "$took" "compute-sanitizer refuses this device"
  else
    record "$name" fail "$status" "$took" ""
  fi
}

# The binaries' libraries: a missing one is unpacked from the bundle, and one that is
# still missing fails the check before any GPU time is spent on it.
preflight() {
  echo "== preflight"
  local missing
  missing=$(ldd "$BIN"/* 2> /dev/null | awk '/not found/ {print $1}' | sort -u | tr '\n' ' ')
  echo "   missing here: ${missing:-none}" | tee "$WORK/preflight.log"
  if [ -n "$missing" ] && [ -f "$CARRY/libs.tar.xz" ]; then
    mkdir -p "$WORK/lib"
    for lib in $missing; do
      tar -xJf "$CARRY/libs.tar.xz" -C "$WORK/lib" "./$lib" 2> /dev/null && echo "   unpacked $lib"
    done | tee -a "$WORK/preflight.log"
    export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$WORK/lib"
    missing=$(ldd "$BIN"/* 2> /dev/null | awk '/not found/ {print $1}' | sort -u | tr '\n' ' ')
  fi
  if [ -n "$missing" ]; then
    ldd "$BIN"/* >> "$WORK/preflight.log" 2>&1
    record preflight fail 1 0 "libraries missing: $missing"
    return 1
  fi
  record preflight pass 0 0 ""
}

# Whether nvidia-smi lists a GPU here: then a skipped CUDA test is a failure.
gpu_listing() {
  GPU_PRESENT=0
  if command -v nvidia-smi > /dev/null; then
    step nvidia_smi 20 bash -c 'nvidia-smi && nvidia-smi -L'
    grep -q '^GPU [0-9]' "$WORK/nvidia_smi.log" 2> /dev/null && GPU_PRESENT=1
  else
    record nvidia_smi not_run - 0 "nvidia-smi not found"
  fi
  export GPU_PRESENT
}

correctness() {
  # The CUDA cases first, into their own JSON: a time-out later keeps their results.
  step cuda_tests 150 "$BIN/sgdlab_tests" --gtest_brief=1 --gtest_filter='*Cuda*' \
    --gtest_output="json:$WORK/cuda_tests.json"
  if ! command -v compute-sanitizer > /dev/null; then
    record memcheck_ops not_run - 0 "compute-sanitizer not found"
    record memcheck_train not_run - 0 "compute-sanitizer not found"
    return
  fi
  local SAN=(compute-sanitizer --tool memcheck --error-exitcode 9 --leak-check full)
  # Every kernel on odd shapes, FP32 and cuDNN's heuristic choice (no autotuning: cuDNN
  # Find under the sanitizer would take the whole budget).
  step memcheck_ops 75 "${SAN[@]}" "$BIN/sgdlab_tests" --gtest_brief=1 \
    --gtest_filter='CudaParity.*:*CudaConvParity*'
  # The recorded steps of real training on a slice of the data.
  local small="$WORK/small-data"
  mkdir -p "$small"
  zcat "$DATA/zip.train.gz" | head -n 400 | gzip > "$small/zip.train.gz"
  zcat "$DATA/zip.test.gz" | head -n 100 | gzip > "$small/zip.test.gz"
  step memcheck_train 45 "${SAN[@]}" "$BIN/sgdlab" train --quiet --model cnn --epochs 1 \
    --seed 1,2 --device "$DEVICE" --data "$small" --out "$WORK/memcheck-train"
}

speed() {
  local compare=(python3 tools/bench_vs_torch.py --sgdlab "$BIN/sgdlab" --data "$DATA"
    --device "$DEVICE" --epochs "$BENCH_EPOCHS" --warmup 1)
  local bench=("$BIN/sgdlab" bench --device "$DEVICE" --epochs "$BENCH_EPOCHS" --data "$DATA")
  # What the issue records: every model at T = 1, 32, 128 beside PyTorch in one run.
  step compare_fp32 150 "${compare[@]}" --lanes "$LANES" --out "$WORK/compare_fp32"
  # 30 CNN trials x 20 epochs at batch 64, packed on streams, then as a T = 1 loop.
  echo '{"batch": {"type": "categorical", "choices": [64]}}' > "$WORK/batch64.json"
  step sweep_packed 60 "$BIN/sgdlab" sweep --model cnn --trials "$TRIALS" --epochs "$EPOCHS" \
    --device "$DEVICE" --space "$WORK/batch64.json" --study "$WORK/sweep.db" --name packed
  step sweep_single 90 "$BIN/sgdlab" sweep --model cnn --trials "$TRIALS" --epochs "$EPOCHS" \
    --device "$DEVICE" --space "$WORK/batch64.json" --pack-lanes 1 --streams 1 --wave 1 \
    --study "$WORK/sweep.db" --name single
  study
  # Where a step's time goes, and the other levers, while the budget lasts.
  [ -x "$BIN/sgdlab_op_bench" ] && step op_bench 40 "$BIN/sgdlab_op_bench" \
    --benchmark_filter="$OP_FILTER" --benchmark_min_time=0.02 \
    --benchmark_out="$WORK/op_bench.json" --benchmark_out_format=json
  step compare_tf32 90 "${compare[@]}" --lanes "$LANES" --tf32 --autotune --out "$WORK/compare_tf32"
  step bench_lane_gemm 40 "${bench[@]}" --models cnn --lanes "$EXTRA_LANES" \
    --conv-kernel lane-gemm --json "$WORK/bench_lane_gemm.json"
  for capture in none epoch; do
    step "bench_capture_$capture" 40 "${bench[@]}" --models mlp,lcnn,cnn \
      --lanes "$CAPTURE_LANES" --capture "$capture" --json "$WORK/bench_capture_$capture.json"
  done
  step bench_streams 40 "${bench[@]}" --models mlp,lcnn,cnn --lanes "$STREAM_LANES" --streams 4 \
    --json "$WORK/bench_streams.json"
}

study() {
  step study "$((BUDGET > 360 ? 520 : 200))" "$BIN/sgdlab" study $STUDY --device "$DEVICE" --no-figures --out "$WORK/study"
}

if preflight; then
  gpu_listing
  case "$PHASE" in
    correctness) correctness ;;
    speed) speed ;;
    study) study ;;
  esac
fi
summarize
echo "wrote $(ls "$OUT" | tr '\n' ' ')to $OUT"
verdict=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["verdict"])' "$OUT/gpu_check.json")
echo "verdict: $verdict"
case "$verdict" in
  pass) exit 0 ;;
  incomplete) exit 3 ;;
  *) exit 1 ;;
esac

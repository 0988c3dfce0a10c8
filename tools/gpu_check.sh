#!/usr/bin/env bash
# The GPU check: prepared on any machine, run on an H100/H200 in two calls of 240 s each,
# so that a 15-minute device lease (the machine's start included) leaves room to rerun
# one phase after a fix (docs/gpu-runbook.md).
#
#   tools/gpu_bundle.sh prepare          build build-gpu (sm_90), fill .gpu-carry/, and
#                                        check the bundle where only glibc is installed
#   bash tools/gpu_check.sh correctness  on the GPU (budget 240 s)
#   bash tools/gpu_check.sh speed        on the GPU (budget 240 s)
#   bash tools/gpu_check.sh extra        on the GPU, if the lease has time left (240 s)
#   tools/gpu_check.sh --dry-run PHASE   the same steps on this CPU, small sizes
#   tools/gpu_check.sh --plan PHASE      each step's time limit and their sum
#   tools/gpu_check.sh --cuda-filter     the GoogleTest filter of the CUDA suites
#
# correctness: the bundle's libraries (unpacked until ldd finds everything); nvidia-smi;
#   every CUDA test case, into its own JSON; compute-sanitizer memcheck and racecheck on
#   sgdlab's own kernels (no cuDNN/cuBLAS-heavy cases), memcheck on one short training run.
# speed: sgdlab beside PyTorch (eager, CUDA graph, fused packs) at T = 1, 32, 128; the
#   30-trial CNN sweep packed and as a T = 1 loop; the per-op benchmark.
# extra: TF32 with autotuning, the lane-GEMM convolution, the capture modes, packs on
#   streams, and a quick study of 2 epochs.
#
# Every step runs under a limit that also fits what is left of the phase's budget. A step
# that no longer fits, one that timed out under a limit the budget had cut, and a
# sanitizer step that ran out of time are "not_run", never "fail".
# $OUT/gpu_check.json (and logs.tar.gz) is rewritten after every step, so a call cut off
# still returns what it reached.
# Exit status: 0 every step ran and passed; 1 a step failed (a CUDA test skipped on a
# machine whose nvidia-smi lists a GPU counts as failed); 2 usage; 3 nothing failed but a
# step did not run (no time left, no compute-sanitizer, a device it refuses).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
source "$ROOT/tools/gpu_bundle.sh"
DATA=$ROOT/data/usps

# The CUDA suites, by suite name: Cuda*.* and, for parameterised suites, Prefix/Cuda*.*
# (Cli.CudaWithoutGpuIsOneClearLine, which skips where a GPU is, is not one of them).
CUDA_FILTER='Cuda*.*:*/Cuda*.*'
# Two steps, each with its own JSON, so that a step cut off loses only its own results:
# the ops, and the training runs (several of them train on the CPU too, to compare).
CUDA_OPS_FILTER="$CUDA_FILTER:-CudaTraining.*"
CUDA_TRAINING_FILTER='CudaTraining.*'
# sgdlab's own kernels: local2d, softmax cross-entropy, dropout, SGD, Adam, scheduled
# rates, grad stats, augment, max-pool, avg-pool, batch norm, the moving average,
# activations, gather. cuDNN and cuBLAS
# cases stay out of the sanitizers.
OWN_KERNELS_FILTER='CudaParity.MaxPool*:CudaParity.Activations:CudaParity.Dropout*'
OWN_KERNELS_FILTER+=':CudaParity.ActivationDropoutFused:CudaParity.Softmax*:CudaParity.Sgd*'
OWN_KERNELS_FILTER+=':CudaParity.Augment*:CudaParity.Elastic*:CudaParity.Gather*:*/CudaConvParity.*/local2d*'
OWN_KERNELS_FILTER+=':CudaParity.AvgPool:CudaParity.AdamAndAdamW:CudaParity.ScheduledRates:CudaParity.BatchNorm:CudaParity.EmaUpdate'
MARGIN=15  # seconds a phase keeps for its summary and the call's transfers

case "${1:-}" in
  --cuda-filter)
    echo "$CUDA_FILTER"
    exit 0
    ;;
  --cuda-step-filters)
    echo "$CUDA_OPS_FILTER"
    echo "$CUDA_TRAINING_FILTER"
    exit 0
    ;;
  --own-kernels-filter)
    echo "$OWN_KERNELS_FILTER"
    exit 0
    ;;
esac

DRY=0 PLAN=0
case "${1:-}" in
  --dry-run) DRY=1 && shift ;;
  --plan) PLAN=1 && shift ;;
esac
PHASE=${1:-}
case "$PHASE" in
  correctness | speed | extra) BUDGET=240 ;;
  *)
    echo "gpu_check.sh: expected a phase: correctness, speed or extra (got '$PHASE')" >&2
    exit 2
    ;;
esac
BUDGET=${GPU_CHECK_BUDGET:-$BUDGET}
OUT=${OUT:-/tmp/gpu_check_out}
WORK=$(mktemp -d /tmp/gpu_check.XXXXXX)
mkdir -p "$OUT" "$WORK/lib"
BIN="$WORK/bin"
export SGDLAB_DATA="$DATA" SGDLAB_TEST_DATA="$DATA" SGDLAB_TEST_BINARY="$BIN/sgdlab"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:$WORK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GOMP_SPINCOUNT=1000
DEVICE=cuda LANES=1,32,128 EXTRA_LANES=1,8,32,128 CAPTURE_LANES=1,32 STREAM_LANES=8,32
OP_FILTER=cuda TRIALS=30 EPOCHS=20 BENCH_EPOCHS=2 STUDY_EPOCHS=2
if [ $DRY = 1 ]; then
  DEVICE=cpu LANES=1,2 EXTRA_LANES=1,2 CAPTURE_LANES=1 STREAM_LANES=1 OP_FILTER=cpu/.*T1
  TRIALS=4 EPOCHS=2 BENCH_EPOCHS=1 STUDY_EPOCHS=1
fi
STEPS="$WORK/steps.tsv"
: > "$STEPS"
START=$(date +%s)
PLANNED=0

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

# The verdict of a step that ran: timed out under a limit the budget had cut, or a
# sanitizer that ran out of time, is not_run; a refused device is not_run.
judge() {
  local name=$1 status=$2 limit=$3 cut=$4 took=$5 sanitizer=$6
  if [ "$status" = 0 ]; then
    record "$name" pass 0 "$took" ""
  elif [ "$status" = 124 ] && [ "$cut" = 1 ]; then
    record "$name" not_run 124 "$took" "the phase's ${BUDGET} s budget cut its limit to ${limit} s"
  elif [ "$status" = 124 ] && [ "$sanitizer" = 1 ]; then
    record "$name" not_run 124 "$took" "the sanitizer ran out of its ${limit} s"
  elif [ "$status" = 124 ]; then
    record "$name" fail 124 "$took" "timed out after ${limit} s"
  elif grep -q "Device not supported" "$WORK/$name.log"; then
    record "$name" not_run "$status" "$took" "compute-sanitizer refuses this device"
  else
    record "$name" fail "$status" "$took" ""
  fi
}

# step [--sanitizer] NAME LIMIT COMMAND...: runs COMMAND with its output in
# WORK/NAME.log, under LIMIT seconds or what is left of the budget (less the margin),
# whichever is less.
step() {
  local sanitizer=0
  [ "$1" = --sanitizer ] && sanitizer=1 && shift
  local name=$1 limit=$2 cut=0
  shift 2
  if [ $PLAN = 1 ]; then
    printf '  %-18s %4d s\n' "$name" "$limit"
    PLANNED=$((PLANNED + limit))
    return
  fi
  local left=$(($(budget_left) - MARGIN))
  [ "$left" -lt "$limit" ] && limit=$left && cut=1
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
  judge "$name" "$status" "$limit" "$cut" "$took" "$sanitizer"
}

# The bundle's binaries, and the libraries the image lacks: unpacked until ldd finds
# everything; one still missing fails the check before any GPU time is spent on it.
preflight() {
  echo "== preflight"
  if ! unpack_bin "$WORK" 2> "$WORK/preflight.log"; then
    record preflight fail 1 0 "no bundle in $CARRY (tools/gpu_bundle.sh prepare)"
    return 1
  fi
  echo "missing here: $(missing_libs ldd "$BIN"/* | tr '\n' ' ')" >> "$WORK/preflight.log"
  if ! unpack_missing "$WORK/lib" ldd "$BIN"/* >> "$WORK/preflight.log" 2>&1; then
    ldd "$BIN"/* >> "$WORK/preflight.log" 2>&1
    record preflight fail 1 0 "libraries missing: $(missing_libs ldd "$BIN"/* | tr '\n' ' ')"
    return 1
  fi
  sed 's/^/   /' "$WORK/preflight.log"
  record preflight pass 0 0 ""
}

# Whether nvidia-smi lists a GPU here: then a skipped CUDA test is a failure.
gpu_listing() {
  GPU_PRESENT=0
  if [ $PLAN = 1 ] || command -v nvidia-smi > /dev/null; then
    step nvidia_smi 10 bash -c 'nvidia-smi && nvidia-smi -L'
    grep -q '^GPU [0-9]' "$WORK/nvidia_smi.log" 2> /dev/null && GPU_PRESENT=1
  else
    record nvidia_smi not_run - 0 "nvidia-smi not found"
  fi
  export GPU_PRESENT
}

have_sanitizer() {
  [ $PLAN = 1 ] || command -v compute-sanitizer > /dev/null
}

correctness() {
  # The CUDA cases first, each step into its own JSON: a time-out later keeps them.
  step cuda_ops 40 "$BIN/sgdlab_tests" --gtest_brief=1 --gtest_filter="$CUDA_OPS_FILTER" \
    --gtest_output="json:$WORK/cuda_ops.json"
  step cuda_training 75 "$BIN/sgdlab_tests" --gtest_brief=1 \
    --gtest_filter="$CUDA_TRAINING_FILTER" --gtest_output="json:$WORK/cuda_training.json"
  if ! have_sanitizer; then
    local s
    for s in memcheck_ops racecheck_ops memcheck_train; do
      record "$s" not_run - 0 "compute-sanitizer not found"
    done
    return
  fi
  local SAN=(compute-sanitizer --error-exitcode 9)
  step --sanitizer memcheck_ops 40 "${SAN[@]}" --tool memcheck --leak-check full \
    "$BIN/sgdlab_tests" --gtest_brief=1 --gtest_filter="$OWN_KERNELS_FILTER"
  step --sanitizer racecheck_ops 25 "${SAN[@]}" --tool racecheck \
    "$BIN/sgdlab_tests" --gtest_brief=1 --gtest_filter="$OWN_KERNELS_FILTER"
  # The recorded steps of real training on a slice of the data.
  local small="$WORK/small-data"
  mkdir -p "$small"
  zcat "$DATA/zip.train.gz" | head -n 400 | gzip > "$small/zip.train.gz"
  zcat "$DATA/zip.test.gz" | head -n 100 | gzip > "$small/zip.test.gz"
  step --sanitizer memcheck_train 30 "${SAN[@]}" --tool memcheck "$BIN/sgdlab" train --quiet \
    --model cnn --epochs 1 --seed 1,2 --device "$DEVICE" --data "$small" \
    --out "$WORK/memcheck-train"
}

speed() {
  local compare=(python3 tools/bench_vs_torch.py --sgdlab "$BIN/sgdlab" --data "$DATA"
    --device "$DEVICE" --epochs "$BENCH_EPOCHS" --warmup 1)
  # What the issue records: every model at T = 1, 32, 128 beside PyTorch in one run.
  step compare_fp32 100 "${compare[@]}" --lanes "$LANES" --out "$WORK/compare_fp32"
  # 30 CNN trials x 20 epochs at batch 64, packed on streams, then as a T = 1 loop.
  echo '{"batch": {"type": "categorical", "choices": [64]}}' > "$WORK/batch64.json"
  step sweep_packed 35 "$BIN/sgdlab" sweep --model cnn --trials "$TRIALS" --epochs "$EPOCHS" \
    --device "$DEVICE" --space "$WORK/batch64.json" --study "$WORK/sweep.db" --name packed
  step sweep_single 60 "$BIN/sgdlab" sweep --model cnn --trials "$TRIALS" --epochs "$EPOCHS" \
    --device "$DEVICE" --space "$WORK/batch64.json" --pack-lanes 1 --streams 1 --wave 1 \
    --study "$WORK/sweep.db" --name single
  # Where a step's time goes.
  [ -x "$BIN/sgdlab_op_bench" ] || [ $PLAN = 1 ] && step op_bench 20 "$BIN/sgdlab_op_bench" \
    --benchmark_filter="$OP_FILTER" --benchmark_min_time=0.02 \
    --benchmark_out="$WORK/op_bench.json" --benchmark_out_format=json
}

# The other levers, for a lease with time left after the two phases above.
extra() {
  local compare=(python3 tools/bench_vs_torch.py --sgdlab "$BIN/sgdlab" --data "$DATA"
    --device "$DEVICE" --epochs "$BENCH_EPOCHS" --warmup 1)
  local bench=("$BIN/sgdlab" bench --device "$DEVICE" --epochs "$BENCH_EPOCHS" --data "$DATA")
  step compare_tf32 75 "${compare[@]}" --lanes "$LANES" --tf32 --autotune --out "$WORK/compare_tf32"
  step bench_lane_gemm 25 "${bench[@]}" --models cnn --lanes "$EXTRA_LANES" \
    --conv-kernel lane-gemm --json "$WORK/bench_lane_gemm.json"
  local capture
  for capture in none epoch; do
    step "bench_capture_$capture" 20 "${bench[@]}" --models mlp,lcnn,cnn \
      --lanes "$CAPTURE_LANES" --capture "$capture" --json "$WORK/bench_capture_$capture.json"
  done
  step bench_streams 25 "${bench[@]}" --models mlp,lcnn,cnn --lanes "$STREAM_LANES" --streams 4 \
    --json "$WORK/bench_streams.json"
  step study 40 "$BIN/sgdlab" study --preset quick --epochs "$STUDY_EPOCHS" --device "$DEVICE" \
    --no-figures --out "$WORK/study"
}

if [ $PLAN = 1 ]; then
  echo "phase $PHASE: budget $BUDGET s, margin $MARGIN s"
  gpu_listing
  "$PHASE"
  echo "  sum of limits      $PLANNED s (at most $((BUDGET - MARGIN)) s)"
  rm -rf "$WORK"
  [ "$PLANNED" -le $((BUDGET - MARGIN)) ]
  exit
fi

if preflight; then
  gpu_listing
  "$PHASE"
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

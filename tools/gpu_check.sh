#!/usr/bin/env bash
# The GPU check, prepared here and run in one call on a lent H100/H200.
#
#   here:       tools/gpu_check.sh --prepare        # builds build-gpu, fills .gpu-carry/
#   here:       tools/gpu_check.sh --dry-run        # the same steps on this machine, no GPU
#   on the GPU: run(command="bash tools/gpu_check.sh", carry=[".gpu-carry"])
#
# On the GPU machine it runs, each step under a time limit: nvidia-smi; the whole test
# suite (CPU/CUDA parity and GPU training tests included); compute-sanitizer memcheck
# on short training runs of the three models; the training benchmark (epoch seconds,
# T = 1 and packs) beside PyTorch eager and CUDA graph; a 30-trial CNN sweep on
# concurrent streams beside a T = 1 loop of the same trials; and the study. It writes
# $OUT/gpu_check.json with every figure and exit status, and the logs beside it.
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
  cp ../shared/data/usps/zip.train.gz ../shared/data/usps/zip.test.gz "$CARRY/data/"
  # Runtime libraries the GPU image may lack; CUDA, cuBLAS and cuDNN come from its system.
  for lib in libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 libsqlite3.so.0 libcrypto.so.3 libgomp.so.1 libz.so.1; do
    path=$(ldd "$BUILD/sgdlab" | awk -v l="$lib" '$1 == l {print $3}')
    [ -n "$path" ] && cp -L "$path" "$CARRY/lib/"
  done
  du -sh "$CARRY"
  exit 0
fi

DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
OUT=${OUT:-/tmp/gpu_check_out}
# Everything is made in WORK; only a few files go to OUT (the device returns at most 8).
WORK=$(mktemp -d /tmp/gpu_check.XXXXXX)
mkdir -p "$OUT"
BIN="$CARRY/bin"
export SGDLAB_DATA="$CARRY/data" SGDLAB_TEST_DATA="$CARRY/data" SGDLAB_TEST_BINARY="$BIN/sgdlab"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}:$CARRY/lib"
DEVICE=cuda
LANES=1,8,32 TRIALS=30 EPOCHS=20 BENCH_EPOCHS=4 STUDY="--preset paper"
# A dry run on a CPU checks the steps with small sizes.
[ $DRY = 1 ] && DEVICE=cpu LANES=1,4 TRIALS=4 EPOCHS=2 BENCH_EPOCHS=2 STUDY="--preset quick --coarse 3 --fine 2 --epochs 1"
declare -A STATUS SECONDS_TAKEN

# step NAME LIMIT_SECONDS COMMAND...: runs it with its output in $OUT/NAME.log.
step() {
  local name=$1 limit=$2
  shift 2
  echo "== $name (limit ${limit}s)"
  local t0=$(date +%s.%N)
  timeout "$limit" "$@" > "$WORK/$name.log" 2>&1
  STATUS[$name]=$?
  SECONDS_TAKEN[$name]=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {printf "%.2f", a - b}')
  tail -n 4 "$WORK/$name.log"
  echo "   exit ${STATUS[$name]}, ${SECONDS_TAKEN[$name]} s"
}

# A small slice of the data keeps the sanitizer runs short.
SMALL="$WORK/small-data"
mkdir -p "$SMALL"
zcat "$CARRY/data/zip.train.gz" | head -n 700 | gzip > "$SMALL/zip.train.gz"
zcat "$CARRY/data/zip.test.gz" | head -n 200 | gzip > "$SMALL/zip.test.gz"

step nvidia_smi 30 nvidia-smi
step tests 300 "$BIN/sgdlab_tests" --gtest_brief=1 --gtest_output="json:$WORK/tests.json"
if command -v compute-sanitizer > /dev/null; then
  for m in mlp cnn lcnn; do
    step "memcheck_$m" 240 compute-sanitizer --tool memcheck --error-exitcode 9 --leak-check full \
      "$BIN/sgdlab" train --quiet --model "$m" --epochs 1 --seed 1,2 --device "$DEVICE" --data "$SMALL" --out "$WORK/memcheck-$m"
  done
else
  echo "== memcheck: compute-sanitizer not found"
fi
step bench 240 "$BIN/sgdlab" bench --device "$DEVICE" --models mlp,lcnn,cnn --lanes "$LANES" --epochs "$BENCH_EPOCHS" --json "$WORK/bench.json"
step torch 240 python3 tools/torch_reference.py --data "$CARRY/data" --models mlp,lcnn,cnn --epochs "$BENCH_EPOCHS" --json "$WORK/torch.json"
step sweep_packed 300 "$BIN/sgdlab" sweep --model cnn --trials "$TRIALS" --epochs "$EPOCHS" --device "$DEVICE" \
  --study "$WORK/sweep.db" --name packed
step sweep_single 300 "$BIN/sgdlab" sweep --model cnn --trials "$TRIALS" --epochs "$EPOCHS" --device "$DEVICE" \
  --pack-lanes 1 --streams 1 --wave 1 --study "$WORK/sweep.db" --name single
step study 400 "$BIN/sgdlab" study $STUDY --device "$DEVICE" --no-figures --out "$WORK/study"

python3 - "$WORK" <<PY
import json, os, sys
out = sys.argv[1]
def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) else None
status = {$(for k in "${!STATUS[@]}"; do printf '"%s": %s, ' "$k" "${STATUS[$k]}"; done)}
seconds = {$(for k in "${!SECONDS_TAKEN[@]}"; do printf '"%s": %s, ' "$k" "${SECONDS_TAKEN[$k]}"; done)}
tests = load("tests.json")
summary = {"dry_run": bool($DRY), "status": status, "seconds": seconds, "bench": load("bench.json"),
           "torch": load("torch.json"), "study_report": None}
if tests:
    summary["tests"] = {k: tests.get(k) for k in ("tests", "failures", "disabled", "errors")}
r = load("study/report.json")
if r:
    summary["study_report"] = {m: {"final_test_mean": v["final"]["test_mean"], "final_test_std": v["final"]["test_std"]}
                               for m, v in r["models"].items()} | {"seconds": r.get("seconds")}
json.dump(summary, open(os.path.join(out, "gpu_check.json"), "w"), indent=2)
print(json.dumps(summary["status"]))
PY
for f in gpu_check.json bench.json torch.json tests.json; do [ -f "$WORK/$f" ] && cp "$WORK/$f" "$OUT/"; done
[ -f "$WORK/study/report.md" ] && cp "$WORK/study/report.md" "$OUT/study_report.md"
tar czf "$OUT/logs.tar.gz" -C "$WORK" $(cd "$WORK" && ls *.log)
echo "wrote $(ls "$OUT" | tr '\n' ' ')to $OUT"

#!/usr/bin/env bash
# tools/gpu_check.sh must not hide a failure: run here (no GPU) against the real test
# binary, a fake nvidia-smi, a binary with a missing library and a failing step.
# usage: gpu_check_test.sh SGDLAB_BINARY SGDLAB_TESTS_BINARY
set -uo pipefail
source "$(dirname "$0")/script_test_util.sh" "$1" "$2"
field() {  # field OUT python-expression-on-j
  python3 -c "import json,sys; j=json.load(open(sys.argv[1]+'/gpu_check.json')); print($2)" "$1"
}
carry() {  # carry DIR: a bundle of the real binaries
  mkdir -p "$1/bin"
  ln -s "$SGDLAB" "$1/bin/sgdlab"
  ln -s "$TESTS" "$1/bin/sgdlab_tests"
}
run_check() {  # run_check NAME [ENV...]: the correctness phase, its exit status in $status
  local name=$1
  shift
  env OUT="$TMP/$name" "$@" bash "$ROOT/tools/gpu_check.sh" correctness > "$TMP/$name.log" 2>&1
  status=$?
}

# 1. No GPU here: the CUDA tests skip, which is no failure; memcheck cannot run, so
#    the check is incomplete (3), never a pass.
carry "$TMP/real"
run_check none GPU_CHECK_CARRY="$TMP/real" PATH="/usr/bin:/bin"
[ "$status" = 3 ] || fail "no GPU: expected exit 3 (incomplete), got $status"
[ "$(field "$TMP/none" "j['steps']['cuda_ops']['status']")" = pass ] || fail "no GPU: cuda_ops"
[ "$(field "$TMP/none" "j['steps']['cuda_training']['status']")" = pass ] || fail "no GPU: cuda_training"
[ "$(field "$TMP/none" "j['cuda_tests']['skipped'] > 0")" = True ] || fail "no GPU: skips not counted"
[ "$(field "$TMP/none" "j['steps']['memcheck_ops']['status']")" = not_run ] || fail "no GPU: memcheck"

# 2. nvidia-smi lists a GPU but the CUDA tests skip (a runtime that did not come up):
#    a failure (1).
mkdir -p "$TMP/fakebin"
printf '#!/bin/sh\necho "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)"\n' > "$TMP/fakebin/nvidia-smi"
chmod +x "$TMP/fakebin/nvidia-smi"
run_check listed GPU_CHECK_CARRY="$TMP/real" PATH="$TMP/fakebin:/usr/bin:/bin"
[ "$status" = 1 ] || fail "GPU listed, tests skipped: expected exit 1, got $status"
[ "$(field "$TMP/listed" "j['steps']['cuda_training']['status']")" = fail ] ||
  fail "GPU listed: skipped CUDA tests not counted as a failure"

# 3. A failing step fails the check (1), and its name is in the summary.
mkdir -p "$TMP/failing/bin"
ln -s "$SGDLAB" "$TMP/failing/bin/sgdlab"
printf '#!/bin/sh\necho "a test failed" >&2\nexit 1\n' > "$TMP/failing/bin/sgdlab_tests"
chmod +x "$TMP/failing/bin/sgdlab_tests"
run_check failing GPU_CHECK_CARRY="$TMP/failing" PATH="/usr/bin:/bin"
[ "$status" = 1 ] || fail "failing step: expected exit 1, got $status"
[ "$(field "$TMP/failing" "j['steps']['cuda_ops']['status']")" = fail ] || fail "failing step"

# 4. A binary whose library is missing: preflight names it and nothing else runs (1).
mkdir -p "$TMP/lib" "$TMP/missing/bin"
echo 'int sgd_probe(void) { return 0; }' > "$TMP/lib/probe.c"
gcc -shared -fPIC -o "$TMP/lib/libsgdprobe.so" "$TMP/lib/probe.c"
echo 'int sgd_probe(void); int main(void) { return sgd_probe(); }' > "$TMP/main.c"
gcc -o "$TMP/missing/bin/sgdlab" "$TMP/main.c" -L"$TMP/lib" -lsgdprobe
rm "$TMP/lib/libsgdprobe.so"
ln -s "$TESTS" "$TMP/missing/bin/sgdlab_tests"
run_check missing GPU_CHECK_CARRY="$TMP/missing" PATH="/usr/bin:/bin"
[ "$status" = 1 ] || fail "missing library: expected exit 1, got $status"
field "$TMP/missing" "j['steps']['preflight']['note']" | grep -q libsgdprobe.so ||
  fail "missing library not named"
[ "$(field "$TMP/missing" "'cuda_ops' in j['steps']")" = False ] || fail "ran after preflight"

# 5. A budget too small for a step: that step is not run (3), not cut off and passed.
run_check budget GPU_CHECK_CARRY="$TMP/real" GPU_CHECK_BUDGET=20 PATH="/usr/bin:/bin"
[ "$status" = 3 ] || fail "small budget: expected exit 3, got $status"
[ "$(field "$TMP/budget" "j['steps']['cuda_ops']['status']")" = not_run ] || fail "budget"

# 6. A library the bundle holds, behind another one it holds: ldd sees only the first
#    while it is missing, so preflight unpacks in rounds until nothing is missing.
mkdir -p "$TMP/deep/bin" "$TMP/deeplib"
echo 'int sgd_deep(void) { return 0; }' > "$TMP/deeplib/deep.c"
echo 'int sgd_deep(void); int sgd_probe(void) { return sgd_deep(); }' > "$TMP/deeplib/probe.c"
gcc -shared -fPIC -o "$TMP/deeplib/libsgddeep.so" "$TMP/deeplib/deep.c"
gcc -shared -fPIC -o "$TMP/deeplib/libsgdprobe.so" "$TMP/deeplib/probe.c" -L"$TMP/deeplib" -lsgddeep
gcc -o "$TMP/deep/bin/sgdlab" "$TMP/main.c" -L"$TMP/deeplib" -Wl,-rpath-link,"$TMP/deeplib" \
  -lsgdprobe
ln -s "$TESTS" "$TMP/deep/bin/sgdlab_tests"
tar -C "$TMP/deeplib" -cJf "$TMP/deep/libs.tar.xz" ./libsgddeep.so ./libsgdprobe.so
rm "$TMP"/deeplib/*.so
run_check deep GPU_CHECK_CARRY="$TMP/deep" PATH="/usr/bin:/bin"
[ "$(field "$TMP/deep" "j['steps']['preflight']['status']")" = pass ] ||
  fail "a library behind a missing one was not unpacked"
tar -xzf "$TMP/deep/logs.tar.gz" -C "$TMP/deep" preflight.log
grep -q "round 2: unpacked libsgddeep.so" "$TMP/deep/preflight.log" ||
  fail "preflight did not unpack in rounds: $(cat "$TMP/deep/preflight.log")"

# 7. A sanitizer step whose limit the budget cut, and which runs out of it, is not run
#    (3), not failed.
printf '#!/bin/sh\nsleep 100\n' > "$TMP/fakebin/compute-sanitizer"
chmod +x "$TMP/fakebin/compute-sanitizer"
rm "$TMP/fakebin/nvidia-smi"
run_check slow GPU_CHECK_CARRY="$TMP/real" GPU_CHECK_BUDGET=35 PATH="$TMP/fakebin:/usr/bin:/bin"
[ "$status" = 3 ] || fail "sanitizer cut by the budget: expected exit 3, got $status"
[ "$(field "$TMP/slow" "j['steps']['memcheck_ops']['status']")" = not_run ] ||
  fail "a sanitizer cut by the budget counted as $(field "$TMP/slow" "j['steps']['memcheck_ops']")"

# 8. The CUDA filter selects the CUDA suites by name, all of them, and nothing else
#    (Cli.CudaWithoutGpuIsOneClearLine skips where a GPU is: selecting it would fail a
#    correct GPU).
suites() {  # the base names of the suites a --gtest_list_tests output names
  grep -E '^[A-Za-z0-9_/]+\.' | sed -e 's/\..*//' -e 's|.*/||' | sort -u
}
"$TESTS" --gtest_list_tests > "$TMP/all.txt"
"$TESTS" --gtest_list_tests --gtest_filter="$(bash "$ROOT/tools/gpu_check.sh" --cuda-filter)" \
  > "$TMP/cuda.txt"
[ "$(suites < "$TMP/cuda.txt")" = "$(suites < "$TMP/all.txt" | grep '^Cuda')" ] ||
  fail "CUDA filter selects $(suites < "$TMP/cuda.txt" | tr '\n' ' '), the Cuda suites are" \
    "$(suites < "$TMP/all.txt" | grep '^Cuda' | tr '\n' ' ')"
grep -q CudaWithoutGpu "$TMP/cuda.txt" && fail "the CUDA filter selects Cli.CudaWithoutGpu..."
#    Its two steps, ops and training, select every CUDA test once between them.
mapfile -t step_filters < <(bash "$ROOT/tools/gpu_check.sh" --cuda-step-filters)
for k in 0 1; do
  "$TESTS" --gtest_list_tests --gtest_filter="${step_filters[$k]}" | grep '^  ' |
    sed 's/  #.*//' > "$TMP/step$k.txt"  # the names, not the parameters' printed bytes
  [ -s "$TMP/step$k.txt" ] || fail "CUDA step filter ${step_filters[$k]} selects nothing"
done
[ "$(sort "$TMP/step0.txt" "$TMP/step1.txt")" = "$(grep '^  ' "$TMP/cuda.txt" | sed 's/  #.*//' | sort)" ] ||
  fail "the CUDA steps do not select every CUDA test exactly once"
#    The sanitizers' filter: sgdlab's own kernels only, local2d among them, no cuDNN
#    convolution and no cuBLAS dense case.
"$TESTS" --gtest_list_tests \
  --gtest_filter="$(bash "$ROOT/tools/gpu_check.sh" --own-kernels-filter)" > "$TMP/own.txt"
[ "$(suites < "$TMP/own.txt" | tr '\n' ' ')" = "CudaConvParity CudaParity " ] ||
  fail "own-kernel filter selects suites $(suites < "$TMP/own.txt" | tr '\n' ' ')"
grep -q 'local2d' "$TMP/own.txt" || fail "own-kernel filter misses local2d"
grep -q -E 'conv2d|^  Dense$' "$TMP/own.txt" && fail "own-kernel filter selects cuDNN or cuBLAS"
[ "$(grep -c '^  ' "$TMP/own.txt")" -ge 12 ] || fail "own-kernel filter: $(cat "$TMP/own.txt")"

# 9. Each phase's step limits fit its budget with the margin left for a rerun.
for phase in correctness speed extra; do
  bash "$ROOT/tools/gpu_check.sh" --plan "$phase" > "$TMP/plan_$phase.txt" ||
    fail "the $phase phase's limits exceed its budget: $(cat "$TMP/plan_$phase.txt")"
done

if [ "$failures" -gt 0 ]; then
  for f in "$TMP"/*.log; do echo "--- $f"; tail -n 20 "$f"; done
  exit 1
fi
echo "gpu_check.sh: all 9 scenarios behave"

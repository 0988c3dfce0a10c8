#!/usr/bin/env bash
# tools/gpu_check.sh must not hide a failure: run here (no GPU) against the real test
# binary, a fake nvidia-smi, a binary with a missing library and a failing step.
# usage: gpu_check_test.sh SGDLAB_BINARY SGDLAB_TESTS_BINARY
set -uo pipefail
SGDLAB=$1 TESTS=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0
fail() {
  echo "FAILED: $*"
  failures=$((failures + 1))
}
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
[ "$(field "$TMP/none" "j['steps']['cuda_tests']['status']")" = pass ] || fail "no GPU: cuda_tests"
[ "$(field "$TMP/none" "j['cuda_tests']['skipped'] > 0")" = True ] || fail "no GPU: skips not counted"
[ "$(field "$TMP/none" "j['steps']['memcheck_ops']['status']")" = not_run ] || fail "no GPU: memcheck"

# 2. nvidia-smi lists a GPU but the CUDA tests skip (a runtime that did not come up):
#    a failure (1).
mkdir -p "$TMP/fakebin"
printf '#!/bin/sh\necho "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)"\n' > "$TMP/fakebin/nvidia-smi"
chmod +x "$TMP/fakebin/nvidia-smi"
run_check listed GPU_CHECK_CARRY="$TMP/real" PATH="$TMP/fakebin:/usr/bin:/bin"
[ "$status" = 1 ] || fail "GPU listed, tests skipped: expected exit 1, got $status"
[ "$(field "$TMP/listed" "j['steps']['cuda_tests']['status']")" = fail ] ||
  fail "GPU listed: skipped CUDA tests not counted as a failure"

# 3. A failing step fails the check (1), and its name is in the summary.
mkdir -p "$TMP/failing/bin"
ln -s "$SGDLAB" "$TMP/failing/bin/sgdlab"
printf '#!/bin/sh\necho "a test failed" >&2\nexit 1\n' > "$TMP/failing/bin/sgdlab_tests"
chmod +x "$TMP/failing/bin/sgdlab_tests"
run_check failing GPU_CHECK_CARRY="$TMP/failing" PATH="/usr/bin:/bin"
[ "$status" = 1 ] || fail "failing step: expected exit 1, got $status"
[ "$(field "$TMP/failing" "j['steps']['cuda_tests']['status']")" = fail ] || fail "failing step"

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
[ "$(field "$TMP/missing" "'cuda_tests' in j['steps']")" = False ] || fail "ran after preflight"

# 5. A budget too small for a step: that step is not run (3), not cut off and passed.
run_check budget GPU_CHECK_CARRY="$TMP/real" GPU_CHECK_BUDGET=12 PATH="/usr/bin:/bin"
[ "$status" = 3 ] || fail "small budget: expected exit 3, got $status"
[ "$(field "$TMP/budget" "j['steps']['cuda_tests']['status']")" = not_run ] || fail "budget"

if [ "$failures" -gt 0 ]; then
  for f in "$TMP"/*.log; do echo "--- $f"; tail -n 20 "$f"; done
  exit 1
fi
echo "gpu_check.sh: all 5 scenarios behave"

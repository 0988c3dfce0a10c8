#!/usr/bin/env bash
# Runs a libFuzzer target of tests/fuzz/ (issue 14):
#
#   tools/fuzz.sh TARGET SECONDS    one target for SECONDS
#   tools/fuzz.sh all SECONDS       every target, one after another, SECONDS each
#
# TARGET is usps, idx, npz, space, model, checkpoint, list or init (tests/fuzz/fuzz_TARGET.cpp). The
# targets are built with clang (-fsanitize=fuzzer,address,undefined, no recovery) in
# $BUILD_FUZZ (default build-fuzz) when they are out of date. Each runs on a copy of its
# seed corpus (tests/fuzz/corpus/TARGET/, which it never changes), with
# tests/fuzz/TARGET.dict where there is one. Crashing inputs and the log go to
# $FUZZ_OUT/TARGET/ (default $BUILD_FUZZ/fuzz-out). Prints each target's executions; exits
# non-zero when a target crashed (or could not run). FUZZ_ARGS adds libFuzzer flags
# (e.g. "-fork=1 -ignore_crashes=1" to go on after a crash and collect every input).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: tools/fuzz.sh TARGET|all SECONDS" >&2
  exit 2
}
[ $# -eq 2 ] || usage
what=$1
seconds=$2
[[ $seconds =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || usage

all_targets=(usps idx npz space model checkpoint list init lanes)

if [ "$what" = all ]; then
  targets=("${all_targets[@]}")
else
  found=0
  for t in "${all_targets[@]}"; do [ "$t" = "$what" ] && found=1; done
  [ $found -eq 1 ] || { echo "fuzz.sh: unknown target '$what' (expected: ${all_targets[*]} or all)" >&2; exit 2; }
  targets=("$what")
fi

build=${BUILD_FUZZ:-build-fuzz}
out=${FUZZ_OUT:-$build/fuzz-out}

# Build (incremental; FUZZ_BUILD=0 runs what is already built). Only the fuzz targets
# and the libraries they link are built; a target that did not build is reported below.
if [ "${FUZZ_BUILD:-1}" != 0 ]; then
  if [ ! -f "$build/CMakeCache.txt" ]; then
    CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DSGDLAB_FUZZ=ON -DSGDLAB_WITH_CUDA=OFF -DSGDLAB_BUILD_TESTS=OFF \
      -DCMAKE_CXX_FLAGS=-Wno-unknown-warning-option >/dev/null
  else
    cmake "$build" >/dev/null  # picks up new tests/fuzz/fuzz_*.cpp
  fi
  known=$(cmake --build "$build" --target help)
  defined=()
  for t in "${targets[@]}"; do
    if grep -qw -- "fuzz_$t" <<<"$known"; then defined+=("fuzz_$t"); fi
  done
  if [ ${#defined[@]} -gt 0 ]; then
    cmake --build "$build" -j"$(nproc)" --target "${defined[@]}"
  fi
fi

# The readers take files: each target rewrites a small file per input under $TMPDIR, on
# tmpfs where there is one (several times faster than a disk here), in a folder of this
# run's own that goes at exit (a crashed process leaves its file behind).
if [ -z "${FUZZ_TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then FUZZ_TMPDIR=/dev/shm; fi
TMPDIR=$(mktemp -d "${FUZZ_TMPDIR:-${TMPDIR:-/tmp}}/sgdlab-fuzz.XXXXXX")
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}

failed=()
summary=()
for t in "${targets[@]}"; do
  exe="$build/fuzz_$t"
  if [ ! -x "$exe" ]; then
    echo "fuzz.sh: $t: no $exe (not built: see the CMake output above)" >&2
    failed+=("$t")
    summary+=("$(printf '%-6s  not built' "$t")")
    continue
  fi
  mkdir -p "$out/$t"
  corpus="$out/$t/corpus"
  rm -rf "$corpus"
  mkdir -p "$corpus"
  cp -r "tests/fuzz/corpus/$t/." "$corpus/"
  # Inputs are a few KB: no reader needs 256 MB in one allocation for one of them.
  args=(-max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -malloc_limit_mb=256
        -print_final_stats=1
        -artifact_prefix="$out/$t/")
  [ -f "tests/fuzz/$t.dict" ] && args+=(-dict="tests/fuzz/$t.dict")
  # shellcheck disable=SC2206
  [ -n "${FUZZ_ARGS:-}" ] && args+=($FUZZ_ARGS)
  log="$out/$t/fuzz.log"
  echo "fuzz.sh: $t for ${seconds}s (log $log)"
  touch "$out/$t/.started"  # the inputs of this run are the files newer than it
  start=$SECONDS
  set +e
  "$exe" "${args[@]}" "$corpus" >"$log" 2>&1
  rc=$?
  set -e
  took=$((SECONDS - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -n "$execs" ] || execs=$(grep -Eo '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  crashes=$(find "$out/$t" -maxdepth 1 -type f -newer "$out/$t/.started" \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  line=$(printf '%-6s  %10s executions  %5ss  exit %d  crash/leak/timeout/oom inputs: %d' \
         "$t" "${execs:-?}" "$took" "$rc" "$crashes")
  echo "fuzz.sh: $line"
  summary+=("$line")
  if [ $rc -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed+=("$t")
    echo "fuzz.sh: $t FAILED; the end of its log:" >&2
    tail -n 60 "$log" >&2
  fi
done

echo "fuzz.sh: summary"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failed: ${failed[*]} (inputs and logs in $out/)" >&2
  exit 1
fi

#!/usr/bin/env bash
# The whole test suite under AddressSanitizer and UndefinedBehaviorSanitizer (issue 14).
# Builds everything but the CUDA backend in $BUILD_ASAN (default build-asan) with
# -DSGDLAB_SANITIZE=ON: -fsanitize=address,undefined plus float-cast-overflow (which
# GCC's "undefined" leaves out) and -fno-sanitize-recover=all, so the first report fails
# the test that made it. Then runs every ctest test. Run tools/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_ASAN:-build-asan}

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSGDLAB_WITH_CUDA=OFF \
  -DSGDLAB_SANITIZE=ON
cmake --build "$build" -j"$(nproc)"

# halt_on_error: stop at the first report (the build already has no recovery);
# detect_leaks: LeakSanitizer runs at each process's exit.
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"

#!/usr/bin/env bash
# Installs the dependencies, builds Release, and runs the whole test suite.
# CUDA tests skip at run time on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)"

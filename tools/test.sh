#!/usr/bin/env bash
# Installs the dependencies, builds Release, and runs the whole test suite beside a
# throwaway PostgreSQL server (tools/test_postgres.sh; the PostgreSQL tests need one).
# CUDA tests skip at run time on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
bash tools/test_postgres.sh ctest --test-dir build --output-on-failure -j"$(nproc)"

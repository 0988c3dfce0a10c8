#!/usr/bin/env bash
# Installs the Debian packages sgdlab builds and runs with. Used by the README and by .ci/run.
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  libopenblas-dev zlib1g-dev libcli11-dev nlohmann-json3-dev libsqlite3-dev
  libzip-dev
  # PostgreSQL study storage: libpq to build; the server for the tests (tools/test_postgres.sh)
  libpq-dev postgresql
  libgtest-dev libgmock-dev libbenchmark-dev
  curl libssl-dev
  python3-matplotlib python3-numpy python3-torch python3-optuna
  # the Python module (host/python) and its tests
  pybind11-dev python3-dev python3-pytest
  # tools/fuzz.sh: clang, its sanitizer and libFuzzer runtimes, and its OpenMP (libomp)
  clang libclang-rt-dev libomp-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "setup: all build dependencies present"

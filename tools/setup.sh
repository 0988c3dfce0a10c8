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
  # ONNX export (host/onnx) and its checks (tests/onnx_export_test.sh)
  libonnx-dev libprotobuf-dev python3-onnx python3-opencv
)
# Node and npm for ONNX Runtime's checks: Debian's, unless a node with npm is there already
# (NodeSource's nodejs bundles npm and conflicts with Debian's npm package).
if ! command -v npm > /dev/null; then packages+=(nodejs npm); fi
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
# ONNX Runtime for Node, into .node/ (git ignores it). --ignore-scripts: the package's
# install script fetches optional GPU binaries from outside the registry and fails offline;
# the CPU runtime ships inside the package. Without the registry the ONNX Runtime checks
# skip (tests/onnx_export_test.sh), except in CI (SGDLAB_REQUIRE_ONNX_RUNTIMES=1).
ort_version=1.30.0
root=$(cd "$(dirname "$0")/.." && pwd)
ort_package="$root/.node/node_modules/onnxruntime-node/package.json"
if ! grep -q "\"version\": \"$ort_version\"" "$ort_package" 2> /dev/null; then
  if npm install --prefix "$root/.node" --ignore-scripts --no-audit --no-fund --no-save \
    --no-package-lock "onnxruntime-node@$ort_version" > /dev/null; then
    echo "setup: onnxruntime-node $ort_version installed in .node/"
  else
    echo "setup: warning: could not install onnxruntime-node $ort_version from the npm registry;" \
      "the ONNX Runtime checks will skip" >&2
  fi
fi
echo "setup: all build dependencies present"

# What the shell tests of the GPU check share (sourced): the binaries' absolute paths, a
# temporary folder removed on exit, and a failure count.
# usage: source script_test_util.sh SGDLAB_BINARY SGDLAB_TESTS_BINARY
SGDLAB=$(realpath "$1") TESTS=$(realpath "$2")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0
fail() {
  echo "FAILED: $*"
  failures=$((failures + 1))
}

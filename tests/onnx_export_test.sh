#!/usr/bin/env bash
# sgdlab export --onnx, checked by runtimes that nothing here wrote (docs/onnx.md):
#   for mlp, cnn, lcnn, lenet5 (on the USPS digits padded to 28x28 IDX images) and
#   tests/data/models/every-layer.json, each trained for 2 epochs: onnx.checker passes,
#   and OpenCV's DNN module and ONNX Runtime for Node give sgdlab predict's class
#   probabilities within 1e-5, with the same argmax, on all 2,007 test images
#   (tests/onnx_check.py); then opset 13, a run folder's lanes, and the refusals.
# usage: onnx_export_test.sh SGDLAB_BINARY
# Needs /usr/bin/python3 with onnx, cv2 and numpy, node, and onnxruntime-node in
# .node/node_modules (tools/setup.sh installs them). Without them: skipped (77), unless
# SGDLAB_REQUIRE_ONNX_RUNTIMES=1 (.ci/run), where a missing runtime fails.
set -uo pipefail
SGDLAB=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=tests/check_count.sh
source "$ROOT/tests/check_count.sh"

missing=()
PY=/usr/bin/python3
"$PY" -c 'import onnx, cv2, numpy' 2> /dev/null || missing+=("python3-onnx python3-opencv python3-numpy")
command -v node > /dev/null || missing+=("node")
export NODE_PATH="$ROOT/.node/node_modules"
ORT_VERSION=$(node -e 'console.log(require("onnxruntime-node/package.json").version)' 2> /dev/null)
[ -n "$ORT_VERSION" ] || missing+=("onnxruntime-node in $NODE_PATH")
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing: ${missing[*]} (bash tools/setup.sh installs them)"
  [ "${SGDLAB_REQUIRE_ONNX_RUNTIMES:-0}" = 1 ] && exit 1
  exit 77
fi
echo "runtimes: onnxruntime-node $ORT_VERSION, node $(node --version)," \
  "opencv $("$PY" -c 'import cv2; print(cv2.__version__)'), onnx $("$PY" -c 'import onnx; print(onnx.__version__)')"

USPS="$ROOT/data/usps"
IDX="$TMP/usps-idx"
"$PY" "$ROOT/tools/usps_to_idx.py" --usps "$USPS" "$IDX" > /dev/null || fail "usps_to_idx.py"

# check MODEL DATA FORMAT: train 2 epochs, predict, export, and compare.
check() {
  local model=$1 data=$2 format=$3 name run
  name=$(basename "$model" .json)
  run="$TMP/$name"
  if ! "$SGDLAB" train --model "$model" --data "$data" --epochs 2 --device cpu --quiet --save \
    --out "$run" > "$TMP/log" 2>&1; then
    fail "$name: train: $(tail -1 "$TMP/log")"
    return
  fi
  if ! "$SGDLAB" predict --checkpoint "$run/models/lane-0.safetensors" --data "$data" \
    --device cpu --out "$run/p.csv" > "$TMP/log" 2>&1; then
    fail "$name: predict: $(tail -1 "$TMP/log")"
    return
  fi
  if ! "$SGDLAB" export --checkpoint "$run/models/lane-0.safetensors" --onnx "$run/$name.onnx" \
    > "$TMP/log" 2>&1; then
    fail "$name: export: $(tail -1 "$TMP/log")"
    return
  fi
  echo "  $(cat "$TMP/log")"
  if "$PY" "$ROOT/tests/onnx_check.py" "$run/$name.onnx" "$run/p.csv" --data "$data" \
    --format "$format" --node-runner "$ROOT/tools/onnx_predict.js" > "$TMP/check" 2>&1; then
    pass "$name: checker, OpenCV and ONNX Runtime agree with sgdlab"
  else
    fail "$name: see below"
  fi
  sed "s/^/  $name: /" "$TMP/check"
}
for m in mlp cnn lcnn; do check "$m" "$USPS" usps; done
check "$ROOT/data/models/lenet5.json" "$IDX" idx
check "$ROOT/tests/data/models/every-layer.json" "$USPS" usps

# The README's Python example, as written, on the CNN, beside sgdlab evaluate's accuracy.
# PyPI is out of reach here: it runs against tests/onnx_standin/onnxruntime.py, which has
# ONNX Runtime's three calls that the example makes and computes with OpenCV.
mkdir -p "$TMP/readme/data"
ln -s "$USPS" "$TMP/readme/data/usps"
cp "$TMP/cnn/cnn.onnx" "$TMP/readme/"
awk '/<!-- onnx-python-example -->/ {on = 1; next} on && /^```python/ {go = 1; next}
  go && /^```/ {exit} go {print}' "$ROOT/README.md" > "$TMP/readme/example.py"
want=$("$SGDLAB" evaluate --checkpoint "$TMP/cnn/models/lane-0.safetensors" --data "$USPS" \
  --device cpu --json "$TMP/readme/e.json" > /dev/null 2>&1 &&
  "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["accuracy"])' "$TMP/readme/e.json")
got=$(cd "$TMP/readme" && PYTHONPATH="$ROOT/tests/onnx_standin" "$PY" example.py 2>&1)
if [ -s "$TMP/readme/example.py" ] && [ -n "$want" ] &&
  "$PY" -c 'import sys; sys.exit(abs(float(sys.argv[1].split()[-1]) - float(sys.argv[2])) > 1e-9)' \
    "$got" "$want" 2> /dev/null; then
  pass "the README's Python example prints sgdlab's accuracy: $got"
else
  fail "the README's Python example: printed '$got', sgdlab evaluate says $want"
fi

# The lowest opset, on the model with every layer kind, by both runtimes.
every="$TMP/every-layer"
if "$SGDLAB" export --checkpoint "$every/models/lane-0.safetensors" --onnx "$every/opset13.onnx" \
  --opset 13 > "$TMP/log" 2>&1 && "$PY" "$ROOT/tests/onnx_check.py" "$every/opset13.onnx" \
  "$every/p.csv" --data "$USPS" --format usps --node-runner "$ROOT/tools/onnx_predict.js" \
  > "$TMP/check" 2>&1; then
  pass "every-layer at opset 13"
else
  fail "every-layer at opset 13: $(tail -1 "$TMP/log")"
fi
sed "s/^/  opset 13: /" "$TMP/check"

# A run folder: every lane, each as <name>.onnx in the folder --onnx names.
if "$SGDLAB" train --model mlp --seed 1,2 --epochs 1 --device cpu --quiet --save \
  --checkpoint-every 1 --out "$TMP/two" \
  > "$TMP/log" 2>&1 && "$SGDLAB" export --checkpoint "$TMP/two" --onnx "$TMP/two-onnx" \
  > "$TMP/log" 2>&1; then
  if [ -f "$TMP/two-onnx/lane-0.onnx" ] && [ -f "$TMP/two-onnx/lane-1.onnx" ] &&
    [ "$(ls "$TMP/two-onnx" | wc -l)" = 2 ]; then
    pass "a run folder exports each lane"
  else
    fail "a run folder: $(ls "$TMP/two-onnx")"
  fi
else
  fail "a run folder: $(tail -1 "$TMP/log")"
fi

# refused DESCRIPTION PHRASE LEFT ARGS...: exit 2, one line naming PHRASE, LEFT not created.
refused() {
  local what=$1 phrase=$2 left=$3 status
  shift 3
  "$SGDLAB" export "$@" > "$TMP/out" 2> "$TMP/err"
  status=$?
  if [ "$status" = 2 ] && [ "$(wc -l < "$TMP/err")" = 1 ] && grep -q -- "$phrase" "$TMP/err" &&
    [ ! -e "$left" ]; then
    pass "$what refused: $(cat "$TMP/err")"
  else
    fail "$what: expected exit 2, one line with '$phrase' and no $left; got $status:" \
      "$(cat "$TMP/err") $(ls -d "$left" 2> /dev/null)"
  fi
}
ckpt="$TMP/mlp/models/lane-0.safetensors"
echo "not a checkpoint" > "$TMP/text.safetensors"
refused "a file that is not a checkpoint" "text.safetensors" "$TMP/x.onnx" \
  --checkpoint "$TMP/text.safetensors" --onnx "$TMP/x.onnx"
refused "a resume checkpoint" "not an sgdlab model checkpoint" "$TMP/x.onnx" \
  --checkpoint "$TMP/two/checkpoint.safetensors" --onnx "$TMP/x.onnx"
refused "an unwritable output" "cannot" "$TMP/text.safetensors/x.onnx" \
  --checkpoint "$ckpt" --onnx "$TMP/text.safetensors/x.onnx"
refused "opset 12" "too low" "$TMP/x.onnx" --checkpoint "$ckpt" --onnx "$TMP/x.onnx" --opset 12
refused "opset 99" "too high" "$TMP/x.onnx" --checkpoint "$ckpt" --onnx "$TMP/x.onnx" --opset 99
cp "$ckpt" "$TMP/keep.safetensors"
refused "an output that is the checkpoint" "is the checkpoint itself" "$TMP/none" \
  --checkpoint "$TMP/keep.safetensors" --onnx "$TMP/keep.safetensors"
cmp -s "$ckpt" "$TMP/keep.safetensors" || fail "the checkpoint named as output was changed"
mkdir -p "$TMP/bad-run/models"
cp "$ckpt" "$TMP/bad-run/models/lane-0.safetensors"
cp "$TMP/text.safetensors" "$TMP/bad-run/models/lane-1.safetensors"
refused "a run folder with one bad checkpoint" "lane-1.safetensors" "$TMP/bad-out" \
  --checkpoint "$TMP/bad-run" --onnx "$TMP/bad-out"

finish_checks

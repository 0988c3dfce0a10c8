#!/usr/bin/env bash
# tools/to_pytorch.py against docs/checkpoints.md.
#   1. Synthetic checkpoints written by tests/to_pytorch_fixtures.py (no sgdlab needed):
#      readers, strict loading, the locally connected layer, predictions comparison, and
#      the one-line refusal of malformed files.
#   2. End to end, when SGDLAB is given and has `predict`: train mlp, cnn, lcnn and
#      data/models/cnn-gap.json (average and global average pooling) and cnn-bn.json (batch
#      normalization, evaluated with its running statistics) for two epochs on
#      data/usps, predict, and compare sgdlab's predictions with PyTorch's.
# usage: to_pytorch_test.sh [SGDLAB_BINARY]
# Exit status: 0 passed, 1 failed, 77 skipped (no Python with torch; ctest's skip code).
set -uo pipefail
SGDLAB=${1:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOL="$ROOT/tools/to_pytorch.py"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=tests/check_count.sh
source "$ROOT/tests/check_count.sh"

# The first Python that has torch: a pyenv or venv python3 may lack Debian's python3-torch.
PY=
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" > /dev/null && "$candidate" -c 'import torch' 2> /dev/null; then
    PY=$candidate
    break
  fi
done
if [ -z "$PY" ]; then
  echo "skipped: no Python with torch (tried python3, /usr/bin/python3):" \
    "apt-get install python3-torch"
  exit 77
fi
echo "python: $PY, torch $("$PY" -c 'import torch; print(torch.__version__)')"

# --- 1. synthetic checkpoints ------------------------------------------------------------
SYN="$TMP/synthetic"
if "$PY" "$ROOT/tests/to_pytorch_fixtures.py" "$SYN"; then
  pass "fixture checks (readers, strict loading, locally connected layer)"
else
  fail "fixture checks (see above)"
fi

# expect_refusal FILE PHRASE: exit status 2 and one line on stderr that names the file
# and contains PHRASE.
expect_refusal() {
  local file="$SYN/$1" phrase=$2 status
  "$PY" "$TOOL" "$file" > "$TMP/out" 2> "$TMP/err"
  status=$?
  if [ "$status" = 2 ] && [ "$(wc -l < "$TMP/err")" = 1 ] &&
    grep -q "$file: .*$phrase" "$TMP/err"; then
    pass "$1 refused: $(cat "$TMP/err")"
  else
    fail "$1: expected exit 2 and one line with '$phrase', got $status: $(cat "$TMP/err")"
  fi
}
expect_refusal bad-truncated.safetensors "truncated"
expect_refusal bad-header-length.safetensors "header length .* past the end of the file"
expect_refusal bad-overlap.safetensors "overlap"
expect_refusal bad-dtype.safetensors "dtype F64, expected F32"
expect_refusal bad-gap.safetensors "unused bytes"

# compare NAME CSV DATA EXPECTED_STATUS [ARGS...]: the tool's predictions check.
compare() {
  local name=$1 csv=$2 data=$3 want=$4 status
  shift 4
  "$PY" "$TOOL" "$SYN/$name.safetensors" --check-predictions "$SYN/$csv" --data "$SYN/$data" "$@" \
    > "$TMP/out" 2>&1
  status=$?
  if [ "$status" = "$want" ]; then
    pass "$name vs $csv: exit $status, $(grep -E '^(max|FAILED)' "$TMP/out" | tr '\n' ' ')"
  else
    fail "$name vs $csv: expected exit $want, got $status"
    cat "$TMP/out"
  fi
}
for m in mlp cnn lcnn; do compare "$m" "$m.csv" usps 0; done
compare odd odd.csv idx 0 --python-only-reader
compare mlp tampered-swap.csv usps 1
compare mlp tampered-accuracy.csv usps 1

# --- 2. end to end with sgdlab -----------------------------------------------------------
end_to_end() {
  local m=$1 name out ckpt
  name=$(basename "$1" .json)
  out="$TMP/e2e/$name"
  ckpt="$out/models/lane-0.safetensors"
  if ! "$SGDLAB" train --model "$m" --epochs 2 --device cpu --quiet --save --out "$out" \
    > "$TMP/train.log" 2>&1; then
    fail "$name: sgdlab train: $(tail -1 "$TMP/train.log")"
    return
  fi
  if ! "$SGDLAB" predict --checkpoint "$ckpt" --data "$ROOT/data/usps" --out "$out/preds.csv" \
    --device cpu > "$TMP/predict.log" 2>&1; then
    fail "$name: sgdlab predict: $(tail -1 "$TMP/predict.log")"
    return
  fi
  # The engine records each layer's shapes; the computation kept for older checkpoints
  # must agree with them.
  if "$PY" - "$ROOT/tools" "$ckpt" > "$TMP/shapes.log" 2>&1 <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[1])
import to_pytorch as tp
_, metadata, _ = tp.load_checkpoint(sys.argv[2], python_only=True)
model, layers = json.loads(metadata["model"]), json.loads(metadata["layers"])
recorded = tp._recorded_shapes(layers, model["layers"])
computed = tp._computed_shapes(model, model["layers"])
sys.exit(0 if recorded == computed else "recorded %s, computed %s" % (recorded, computed))
EOF
  then
    pass "$name: recorded layer shapes match"
  else
    fail "$name: recorded layer shapes: $(tail -1 "$TMP/shapes.log")"
  fi
  if "$PY" "$TOOL" "$ckpt" --check-predictions "$out/preds.csv" --data "$ROOT/data/usps" \
    > "$TMP/check.log" 2>&1; then
    pass "$name end to end"
  else
    fail "$name end to end"
  fi
  grep -E '^(sgdlab|pytorch) +accuracy|^max|^FAILED' "$TMP/check.log" | sed "s/^/  $name: /"
  if grep -q '^Traceback' "$TMP/check.log"; then cat "$TMP/check.log"; fi
}
if [ -z "$SGDLAB" ]; then
  echo "skipped end to end: no sgdlab binary given"
# An unknown subcommand's --help prints the top-level help and exits 0: look for predict's
# own option instead.
elif ! "$SGDLAB" predict --help 2>&1 | grep -q -- --checkpoint; then
  echo "skipped end to end: $SGDLAB has no predict command"
else
  for m in mlp cnn lcnn "$ROOT/data/models/cnn-gap.json" "$ROOT/data/models/cnn-bn.json"; do
    end_to_end "$m"
  done
fi

finish_checks

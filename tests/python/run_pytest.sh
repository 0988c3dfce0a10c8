#!/usr/bin/env bash
# ctest's runner for one file of Python tests: PYTHON FILE. pytest exits 5 when it
# collected no test, which would otherwise read as a plain failure with no reason.
python=$1
file=$2
"$python" -m pytest -q -p no:cacheprovider "$file"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "run_pytest: no test collected from $file (pytest exit code 5)" >&2
fi
exit "$rc"

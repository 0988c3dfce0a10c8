#!/usr/bin/env bash
# Runs tests/optuna_export_test.py with the first Python that has Optuna (Debian's
# python3-optuna is for /usr/bin/python3); 77 (skipped) when none has it.
# usage: optuna_export_test.sh SGDLAB_BINARY DATA_DIR
for py in python3 /usr/bin/python3; do
  if "$py" -c 'import optuna' 2> /dev/null; then
    exec "$py" "$(dirname "$0")/optuna_export_test.py" "$@"
  fi
done
echo "no Python with optuna: skipped"
exit 77

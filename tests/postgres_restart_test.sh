#!/usr/bin/env bash
# Sweep workers that live through a restart of their PostgreSQL server (issue #16). Two
# workers run one study; the server is restarted (pg_ctl restart -m fast, which ends every
# connection) while they train; each worker reconnects and goes on, or stops with one
# line saying why. Either way no completed trial is lost: a last worker finishes the
# study, every trial completed before the restart is still there with its value, and the
# eight trials are numbered 0-7 once each. It runs a server of its own
# (tools/test_postgres.sh), so that the restart disturbs no other test; skipped (77) where
# PostgreSQL is not installed.
#   tests/postgres_restart_test.sh SGDLAB DATA_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" != --inner ]; then
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "skipped: no PostgreSQL server installed (tools/setup.sh installs it)"
    exit 77
  fi
  exec bash "$here/../tools/test_postgres.sh" bash "$here/postgres_restart_test.sh" --inner "$@"
fi
sgdlab=$2
data=$3
url=$SGDLAB_TEST_POSTGRES
password=${url#*://*:}
password=${password%%@*}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
q() { psql "$url" -qAtX -c "$1"; }
fail() {
  echo "FAIL: $*"
  for w in 1 2 3; do [ -f "$work/w$w" ] && { echo "--- worker $w"; cat "$work/w$w"; }; done
  exit 1
}

sweep=("$sgdlab" sweep --model mlp --trials 8 --epochs 15 --pack-lanes 1 --wave 1 --device cpu
  --data "$data" --space '{"batch":{"type":"categorical","choices":[64]}}' --study "$url" --name r)
"${sweep[@]}" >"$work/w1" 2>&1 &
w1=$!
"${sweep[@]}" >"$work/w2" 2>&1 &
w2=$!
for _ in $(seq 1200); do
  done_before=$(q "SELECT count(*) FROM sgdlab.trials WHERE state = 'COMPLETE'" 2>/dev/null || echo 0)
  [ "$done_before" -ge 2 ] && break
  sleep 0.05
done
[ "$done_before" -ge 2 ] || fail "no trial completed before the restart"
before=$(q "SELECT number || ' ' || value FROM sgdlab.trials WHERE state = 'COMPLETE' ORDER BY number")
$SGDLAB_TEST_POSTGRES_RESTART
echo "restarted the server with $done_before trials complete"

for w in 1 2; do
  pid_var=w$w
  if wait "${!pid_var}"; then
    echo "worker $w went on: $(tail -n 1 "$work/w$w")"
  else
    last=$(tail -n 1 "$work/w$w")
    # Stopped: with one line, "sgdlab: <the URL without its password>: ...".
    case $last in
      "sgdlab: postgresql://sgdlab@"*) echo "worker $w stopped: $last" ;;
      *) fail "worker $w stopped without a clear line" ;;
    esac
  fi
  grep -qF "$password" "$work/w$w" && fail "worker $w printed the password"
done

"${sweep[@]}" >"$work/w3" 2>&1 || fail "the last worker failed"
echo "last worker: $(tail -n 1 "$work/w3")"
[ "$(q "SELECT count(*) || ' ' || count(DISTINCT number) || ' ' || min(number) || ' ' || max(number) FROM sgdlab.trials WHERE state = 'COMPLETE'")" = "8 8 0 7" ] ||
  fail "expected trials 0-7 complete once each: $(q "SELECT number, state FROM sgdlab.trials ORDER BY number")"
[ "$(q "SELECT count(*) FROM sgdlab.trials")" = 8 ] || fail "more than 8 trials"
after=$(q "SELECT number || ' ' || value FROM sgdlab.trials WHERE state = 'COMPLETE' ORDER BY number")
while read -r line; do
  grep -qxF "$line" <<<"$after" || fail "trial '$line' completed before the restart was lost"
done <<<"$before"
echo "PASS: 8 trials complete once each; the $done_before completed before the restart kept"

#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests: starts one, runs a command with its URL in
# SGDLAB_TEST_POSTGRES, and stops it and removes its folder on exit, however the command
# ends (the tests that need a server skip without that variable).
#
#   tools/test_postgres.sh [COMMAND [ARGS...]]
#   tools/test_postgres.sh                                   # ctest in build/, all tests
#   tools/test_postgres.sh ctest --test-dir build -R Postgres --output-on-failure
#   tools/test_postgres.sh bash                              # a shell with the server up
#
# The server is Debian's (tools/setup.sh installs the postgresql package): a cluster made
# by initdb in a temporary folder, listening on 127.0.0.1 on a free port, a random
# password for TCP connections (scram-sha-256, so that wrong passwords are refused), and
# durability off (fsync) since nothing in it outlives the run. initdb refuses to run as
# root: as root, the server runs as the "postgres" user that the package creates.
# Also exported: SGDLAB_TEST_POSTGRES_RESTART, a command that restarts the server (the
# test of workers that live through a restart).
set -euo pipefail
cd "$(dirname "$0")/.."

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "test_postgres: no PostgreSQL server installed (tools/setup.sh installs it)" >&2
  exit 1
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/sgdlab-pg.XXXXXX")
as_server=()
if [ "$(id -u)" -eq 0 ]; then
  as_server=(runuser -u postgres --)
  chown postgres "$dir"
fi
stop() {
  "${as_server[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM

password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
(umask 077 && printf '%s\n' "$password" >"$dir/pw")
[ ${#as_server[@]} -eq 0 ] || chown postgres "$dir/pw"
if ! "${as_server[@]}" "$bindir/initdb" -D "$dir/data" -U sgdlab --pwfile="$dir/pw" \
  --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >"$dir/initdb.log" 2>&1; then
  cat "$dir/initdb.log" >&2
  exit 1
fi
rm -f "$dir/pw"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
options="-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
if ! "${as_server[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$options" -w \
  start >/dev/null; then
  cat "$dir/server.log" >&2
  exit 1
fi
url="postgresql://sgdlab:$password@127.0.0.1:$port"
"$bindir/psql" "$url/postgres" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE sgdlab_test" >/dev/null
export SGDLAB_TEST_POSTGRES="$url/sgdlab_test"
cat >"$dir/restart" <<RESTART
#!/usr/bin/env bash
exec ${as_server[*]} "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$options" -m fast -w restart >/dev/null
RESTART
export SGDLAB_TEST_POSTGRES_RESTART="bash $dir/restart"
echo "test_postgres: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (SGDLAB_TEST_POSTGRES)"

[ $# -gt 0 ] || set -- ctest --test-dir build --output-on-failure -j"$(nproc)"
"$@"

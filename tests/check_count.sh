# What the shell tests that count their checks share (sourced): pass and fail print one
# line each and count it; finish_checks prints the counts and is true when none failed.
passed=0 failures=0
pass() {
  echo "ok: $*"
  passed=$((passed + 1))
}
fail() {
  echo "FAILED: $*"
  failures=$((failures + 1))
}
finish_checks() {
  echo "$passed passed, $failures failed"
  [ "$failures" = 0 ]
}

# lib.sh: the one preamble of the shell tests, sourced first by each (`. "$(dirname "$0")/lib.sh" "$@"`, or
# ../lib.sh from a subfolder). Given the pipeline binary as $1 it sets:
#   bin            the binary
#   tmp            a scratch folder, removed at exit
#   fails, checks  the counters
# and defines:
#   check                          count one check
#   fail MESSAGE                   record a failure: MESSAGE and the last $fail_lines (15) lines of $tmp/out
#   expect CODE WHAT -- command... run command (stdout+stderr in $tmp/out; at most $expect_timeout s when set: a
#                                  hang is a failure) and fail unless it exits with CODE
#   contains TEXT WHAT             fail unless the last output ($tmp/out) contains TEXT
#   opt ARGS...                    `pipeline optimize ARGS`; exit 0 (converged) or 3 (did not converge, results
#                                  written) count as success
#   finish NAME                    print the summary and exit 1 on any failure, 0 otherwise
set -u
bin="$1"
fails=0
checks=0
fail_lines=${fail_lines:-15}
expect_timeout=${expect_timeout:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { checks=$((checks + 1)); }
fail() {
  echo "FAIL: $*"
  [ -f "$tmp/out" ] && sed 's/^/    /' "$tmp/out" | tail -"$fail_lines"
  fails=$((fails + 1))
}
expect() {
  local code="$1" what="$2"
  shift 3
  checks=$((checks + 1))
  if [ -n "$expect_timeout" ]; then timeout "$expect_timeout" "$@" >"$tmp/out" 2>&1; else "$@" >"$tmp/out" 2>&1; fi
  local rc=$?
  if [ "$rc" -ne "$code" ]; then
    echo "FAIL: $what: exit $rc, expected $code"; sed 's/^/    /' "$tmp/out" | head -20
    fails=$((fails + 1))
  fi
}
contains() {
  checks=$((checks + 1))
  if ! grep -qF -- "$1" "$tmp/out"; then
    echo "FAIL: $2: output lacks '$1'"; sed 's/^/    /' "$tmp/out" | head -20
    fails=$((fails + 1))
  fi
}
opt() { "$bin" optimize "$@"; local rc=$?; [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ]; }
finish() {
  if [ "$fails" -ne 0 ]; then echo "$1: $fails of $checks checks FAILED"; exit 1; fi
  echo "$1: all $checks checks passed"
  exit 0
}

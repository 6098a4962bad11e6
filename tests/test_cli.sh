#!/usr/bin/env bash
# test_cli.sh PIPELINE_BINARY: runs the CLI and checks exit codes and messages.
set -u
bin="$1"
fails=0
checks=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect CODE DESCRIPTION -- command...   (stdout+stderr in $tmp/out)
expect() {
  local code="$1" what="$2"
  shift 3
  checks=$((checks + 1))
  "$@" >"$tmp/out" 2>&1
  local rc=$?
  if [ "$rc" -ne "$code" ]; then
    echo "FAIL: $what: exit $rc, expected $code"; sed 's/^/    /' "$tmp/out" | head -20
    fails=$((fails + 1))
  fi
}
# contains TEXT DESCRIPTION: the last output contains TEXT
contains() {
  checks=$((checks + 1))
  if ! grep -qF -- "$1" "$tmp/out"; then
    echo "FAIL: $2: output lacks '$1'"; sed 's/^/    /' "$tmp/out" | head -20
    fails=$((fails + 1))
  fi
}

expect 0 "top-level help" -- "$bin" --help
contains "commands:" "help lists commands"
expect 2 "no command" -- "$bin"
expect 2 "unknown command" -- "$bin" chek
contains "did you mean 'check'" "command suggestion"
expect 0 "info" -- "$bin" info
contains "real type:" "info shows the real type"
contains "cuda devices:" "info shows CUDA devices"
contains "auto backend:" "info says which backend auto picks"
for cmd in $("$bin" --help | awk '/^commands:/{f=1;next} f && /^  [a-z]/{print $1}'); do
  expect 0 "$cmd --help" -- "$bin" "$cmd" --help
  contains "usage: pipeline $cmd" "$cmd --help shows usage"
done
expect 0 "check default scene" -- "$bin" check scenes/jelly.cfg
contains "[material jelly]" "check prints the resolved scene"
contains "; default" "check marks defaults"
expect 0 "check with --set" -- "$bin" check scenes/jelly.cfg --set material.jelly.E=12345 --set sim.frames=3
contains "E = 12345" "override visible"
expect 2 "check without a scene" -- "$bin" check
expect 2 "check missing file" -- "$bin" check "$tmp/none.cfg"
contains "none.cfg" "missing file named"
expect 2 "unknown option" -- "$bin" check scenes/jelly.cfg --frobnicate
printf '[sim]\ngrid = 32\n[material a]\nmodel = neo_hookean\nyoung = 3\n' > "$tmp/bad.cfg"
expect 2 "malformed scene" -- "$bin" check "$tmp/bad.cfg"
contains "bad.cfg:5" "error has file:line"
checks=$((checks + 1))
if [ "$(wc -l < "$tmp/out")" -ne 1 ]; then echo "FAIL: malformed scene error is not one line"; cat "$tmp/out"; fails=$((fails + 1)); fi
expect 2 "bad --set" -- "$bin" check scenes/jelly.cfg --set sim.grid=many
contains "--set" "bad --set named"
expect 2 "bad backend" -- "$bin" check scenes/jelly.cfg --backend gpu
expect 0 "schema" -- "$bin" schema
contains "### [material NAME]" "schema lists sections"

if [ "$fails" -ne 0 ]; then echo "test_cli: $fails of $checks checks FAILED"; exit 1; fi
echo "test_cli: all $checks checks passed"

#!/usr/bin/env bash
# test_cli.sh PIPELINE_BINARY: runs the CLI and checks exit codes and messages.
. "$(dirname "$0")/lib.sh" "$@"

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

# ---- consistency (issue 18) ----
# json_ok FILE: FILE is one JSON document (checked with python3 when it is installed)
json_ok() {
  checks=$((checks + 1))
  local py
  py=$(command -v /usr/bin/python3 || command -v python3 || true)
  [ -n "$py" ] || return 0
  if ! "$py" -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null; then
    echo "FAIL: $2: not JSON"; head -20 "$1" | sed 's/^/    /'; fails=$((fails + 1))
  fi
}
# -o is the output folder in every command that writes files
for cmd in optimize render sweep render-ply; do
  expect 0 "$cmd --help" -- "$bin" "$cmd" --help
  contains "-o, --output" "$cmd: -o is --output"
done
# a misspelt section in --set names the nearest
expect 2 "--set misspelt section name" -- "$bin" check scenes/jelly.cfg --set material.jely.E=3e4
contains "did you mean 'material.jelly.E'" "--set suggests the section"
expect 2 "--set misspelt section type" -- "$bin" check scenes/jelly.cfg --set materail.jelly.E=3e4
contains "did you mean" "--set suggests the section type"
# commands that take no scene refuse --set
expect 2 "info --set" -- "$bin" info --set sim.grid=8
contains "takes no scene" "info refuses --set"
expect 2 "schema --set" -- "$bin" schema --set sim.grid=8
contains "takes no scene" "schema refuses --set"
expect 2 "render-ply --set" -- "$bin" render-ply "$tmp/x.ply" --set sim.grid=8
contains "takes no scene" "render-ply refuses --set"
expect 2 "sweep --merge --set" -- "$bin" sweep --merge "$tmp/m.csv" "$tmp/a.csv" --set sim.grid=8
contains "takes no scene" "sweep --merge refuses --set"
# --json
"$bin" info --json > "$tmp/info.json" 2>/dev/null
json_ok "$tmp/info.json" "info --json"
grep -q '"git_commit"' "$tmp/info.json" || { echo "FAIL: info --json has no git_commit"; fails=$((fails + 1)); }
"$bin" check scenes/jelly.cfg --json --set material.jelly.E=12345 > "$tmp/check.json" 2>/dev/null
json_ok "$tmp/check.json" "check --json"
checks=$((checks + 1))
grep -q '"E":[[:space:]]*"12345"' "$tmp/check.json" || { echo "FAIL: check --json lacks the override"; fails=$((fails + 1)); }
expect 2 "check --json on a bad scene" -- "$bin" check "$tmp/bad.cfg" --json
"$bin" check "$tmp/bad.cfg" --json > "$tmp/bad.json" 2>/dev/null
json_ok "$tmp/bad.json" "check --json (invalid scene)"
contains '"valid"' "check --json says valid: false"
small=(--set sim.frames=2 --set render.width=24 --set render.height=24 --set sim.grid=12)
"$bin" gradcheck scenes/tiny.cfg --json --precision float "${small[@]}" > "$tmp/gc.json" 2>/dev/null
json_ok "$tmp/gc.json" "gradcheck --json"
checks=$((checks + 1))
grep -q '"verdict"' "$tmp/gc.json" || { echo "FAIL: gradcheck --json has no verdicts"; fails=$((fails + 1)); }
# runs record how they were made; a second run into the folder says so; --new-run takes a new folder
expect 0 "render -o with --video" -- "$bin" render scenes/tiny.cfg "${small[@]}" --set sim.frames=4 -o "$tmp/r" --video
checks=$((checks + 1))
grep -Eq 'render [0-9]+/[0-9]+ .*, ([0-9.e+]+/s|[0-9.e+]+ s each), eta [0-9]+s' "$tmp/out" ||
  { echo "FAIL: render's progress shows no rate and ETA"; sed 's/^/    /' "$tmp/out" | head; fails=$((fails + 1)); }
for f in run.json scene.cfg front/0004.png; do
  checks=$((checks + 1))
  [ -s "$tmp/r/$f" ] || { echo "FAIL: render -o: no $f"; fails=$((fails + 1)); }
done
checks=$((checks + 1))
ls "$tmp/r"/video.mp4 "$tmp/r"/video.gif > /dev/null 2>&1 || [ -s "$tmp/r/video.mp4" ] || [ -s "$tmp/r/video.gif" ] ||
  { echo "FAIL: render --video wrote no video"; fails=$((fails + 1)); }
json_ok "$tmp/r/run.json" "run.json"
for k in git_commit build_type precision backend device wall_seconds version '"sim.frames=4"'; do
  checks=$((checks + 1))
  grep -qF -- "$k" "$tmp/r/run.json" || { echo "FAIL: run.json lacks $k"; fails=$((fails + 1)); }
done
expect 0 "the resolved scene is a valid scene" -- "$bin" check "$tmp/r/scene.cfg"
expect 0 "a second run into the folder" -- "$bin" render scenes/tiny.cfg "${small[@]}" -o "$tmp/r"
contains "already holds a run" "a second run says so"
expect 0 "--new-run" -- "$bin" render scenes/tiny.cfg "${small[@]}" -o "$tmp/r" --new-run -q
checks=$((checks + 1))
ls "$tmp/r"/2*/run.json > /dev/null 2>&1 || { echo "FAIL: --new-run made no timestamped folder"; fails=$((fails + 1)); }

finish test_cli

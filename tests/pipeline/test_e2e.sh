#!/usr/bin/env bash
# test_e2e.sh PIPELINE_BINARY [PART]: the pipeline end to end, in parts that CTest runs as separate tests (so that
# `ctest -j` overlaps them; tests/pipeline/CMakeLists.txt). Without PART: every part, one after the other.
#  recovery      1. optimize scenes/tiny.cfg recovers E within 5% and nu within 0.03 from a start 2x off in E, and
#                   writes its outputs; 2c. sweep --around draws a loss profile through the fitted point.
#  resume        2. a fit killed (SIGKILL) in its second stage and resumed with --resume ends with exactly the
#                   uninterrupted result (a shortened tiny fit: the check is about the saved state, not the fit);
#                2b. a fit cut short says so (exit status 3, the verdict in result.json).
#  gradcheck K N 3. gradcheck --stage all passes at low resolution on every shipped scene with a [param]: those
#                   but the slow ones below whose index among them is K modulo N (N tests `gradcheck K N`, K = 0..N-1,
#                   cover every scene, also ones added later);
#  slow K           3. the same on the K-th of the slow scenes (each about 3x the others: a test of its own).
. "$(dirname "$0")/../lib.sh" "$1"
part="${2:-all}"
slow=(scenes/spot.cfg scenes/two_materials.cfg) # a textured mesh's set-up; two objects
# json_get FILE PARAM FIELD
json_get() {
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['parameters'][sys.argv[2]][sys.argv[3]])" "$@" 2>/dev/null ||
    sed -n "/\"$2\"/,/}/p" "$1" | grep "\"$3\"" | head -1 | sed 's/.*: *\([-0-9.eE+]*\).*/\1/'
}

# 1. recovery; 2c. sweep --around on its result
recovery() {
  # exit status: 0 converged, 3 stalled or budget exhausted (the fit is still scored; the verdict must be in
  # result.json), anything else fails
  check
  "$bin" optimize scenes/tiny.cfg -o "$tmp/fit" -q > "$tmp/out" 2>&1
  local rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
    fail "optimize scenes/tiny.cfg"
    return
  fi
  check
  grep -q '"verdict"' "$tmp/fit/result.json" && grep -q '"best"' "$tmp/fit/result.json" ||
    fail "result.json has no verdict or best point"
  echo "tiny: verdict $(grep '"verdict"' "$tmp/fit/result.json" | head -1 | sed 's/.*: *//'), exit status $rc"
  local E nu
  E=$(json_get "$tmp/fit/result.json" material.jelly.E fitted)
  nu=$(json_get "$tmp/fit/result.json" material.jelly.nu fitted)
  echo "tiny: fitted E = $E (truth 2e4, start 4e4), nu = $nu (truth 0.3, start 0.2)"
  check
  awk -v e="$E" 'BEGIN { exit !(e > 0.95 * 2e4 && e < 1.05 * 2e4) }' || fail "E = $E not within 5% of 2e4"
  check
  awk -v n="$nu" 'BEGIN { exit !(n > 0.27 && n < 0.33) }' || fail "nu = $nu not within 0.03 of 0.3"
  for f in fit.csv result.json loss.png state.json params.png run.json scene.cfg; do
    check
    [ -s "$tmp/fit/$f" ] || fail "optimize did not write $f"
  done
  check
  [ -s "$tmp/fit/fit.mp4" ] || [ -s "$tmp/fit/fit.gif" ] || fail "optimize wrote no fit video"
  check
  grep -q '"git_commit"' "$tmp/fit/result.json" || fail "result.json does not record the run (\"run\": git_commit, ...)"
  check
  ls "$tmp/fit"/strip_*.png > /dev/null 2>&1 || fail "optimize wrote no strip images"

  check
  if "$bin" sweep scenes/tiny.cfg --around "$tmp/fit/result.json" --param material.jelly.E=1.6e4:2.4e4:3 \
    --set sim.frames=4 --set targets.frames=1:5 -o "$tmp/prof" -q > "$tmp/out" 2>&1 && [ -s "$tmp/prof/profile.png" ]; then
    echo "sweep --around: profile.png written"
  else
    fail "sweep --around did not write profile.png"
  fi
}

# 2. kill and resume: the same final parameters and the same CSV rows as the uninterrupted run. A shortened fit
# (3 + 5 iterations, 6 frames); it is killed once fit.csv has 5 rows (in stage "both", past the stage change),
# whatever the machine's speed. 2b. a fit cut short says so.
resume() {
  local short=(--set stage.stiffness.iterations=3 --set stage.both.iterations=5 --set sim.frames=6
               --set targets.frames=1:7)
  check
  "$bin" optimize scenes/tiny.cfg "${short[@]}" -o "$tmp/whole" -q > "$tmp/out" 2>&1
  local rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
    fail "optimize scenes/tiny.cfg (the shortened fit)"
    return
  fi
  "$bin" optimize scenes/tiny.cfg "${short[@]}" -o "$tmp/killed" -q > /dev/null 2>&1 &
  local pid=$! rows=0
  while kill -0 "$pid" 2> /dev/null; do
    rows=$(($(wc -l 2> /dev/null < "$tmp/killed/fit.csv" || echo 1) - 1))
    if [ "$rows" -ge 5 ]; then
      kill -KILL "$pid" 2> /dev/null
      break
    fi
    sleep 0.05
  done
  wait "$pid" 2> /dev/null
  rows=$(($(wc -l 2> /dev/null < "$tmp/killed/fit.csv" || echo 1) - 1))
  check
  [ "$rows" -ge 5 ] && [ "$rows" -lt 8 ] || fail "the fit was to be killed after 5 of its 8 iterations (fit.csv has $rows rows)"
  # not quiet: the log must say where it resumed (a run that restarted from scratch would end the same)
  "$bin" optimize scenes/tiny.cfg "${short[@]}" -o "$tmp/killed" --resume > "$tmp/out" 2>&1
  local rc2=$?
  check
  grep -Eq "resuming .*tiny.cfg at iteration [4-7] " "$tmp/out" ||
    fail "the resumed fit did not say it resumed at iteration 4..7"
  check
  if [ "$rc2" -eq "$rc" ]; then
    echo "resume: killed after $rows finished iterations (of 8; stage both);" \
      "$(grep -Eo 'resuming .* at iteration [0-9]+' "$tmp/out"), to the end"
    for p in material.jelly.E material.jelly.nu; do
      check
      a=$(json_get "$tmp/whole/result.json" "$p" fitted)
      b=$(json_get "$tmp/killed/result.json" "$p" fitted)
      [ -n "$a" ] && [ "$a" = "$b" ] || fail "resumed $p = $b differs from the uninterrupted $a"
    done
    check
    cut -d, -f1-8 "$tmp/whole/fit.csv" > "$tmp/a.csv"
    cut -d, -f1-8 "$tmp/killed/fit.csv" > "$tmp/b.csv"
    cmp -s "$tmp/a.csv" "$tmp/b.csv" || fail "the resumed fit.csv differs from the uninterrupted one"
  else
    fail "optimize --resume exited $rc2, the uninterrupted run $rc"
  fi

  # 2b. one iteration per stage is fewer than optimize.patience: the budget ran out, too few to judge a stall
  check
  "$bin" optimize scenes/tiny.cfg -o "$tmp/short" -q --set stage.stiffness.iterations=1 --set stage.both.iterations=1 \
    --set sim.frames=4 --set targets.frames=1:5 > "$tmp/out" 2>&1
  rc=$?
  if [ "$rc" -eq 3 ] && grep -Eq "pipeline optimize: budget exhausted: .*too few to judge" "$tmp/out" &&
    grep -Eq '"verdict":[[:space:]]*"budget exhausted"' "$tmp/short/result.json"; then
    echo "2-iteration fit: exit status 3, $(grep -E 'pipeline optimize: (stalled|budget)' "$tmp/out")"
  else
    fail "a 2-iteration fit exited $rc without the verdict budget exhausted"
  fi
}

# 3. gradcheck at low resolution, few frames
gradcheck_one() {
  check
  if "$bin" gradcheck "$1" --stage all --set render.width=32 --set render.height=32 --set sim.frames=3 -q \
    > "$tmp/out" 2>&1; then
    echo "gradcheck $1: ok ($(grep -c ' ok$' "$tmp/out") checks ok: parameters through the whole pipeline and" \
      "the simulation alone, sampled rasterizer and upsampler inputs)"
  else
    fail "gradcheck $1"
  fi
}
# every K-th scene (modulo N) with a [param], the slow ones excepted
gradcheck_scenes() {
  local k="$1" n="$2" i=0 scene
  for scene in scenes/*.cfg; do
    grep -q '^\[param ' "$scene" || continue
    [[ " ${slow[*]} " == *" $scene "* ]] && continue
    i=$((i + 1))
    [ $(((i - 1) % n)) -eq "$k" ] && gradcheck_one "$scene"
  done
  check
  [ "$i" -gt 0 ] || fail "no scene with a [param] in scenes/"
}
gradcheck_slow() {
  local scene="${slow[$1]:-}"
  check
  [ -n "$scene" ] && grep -q '^\[param ' "$scene" || { fail "slow scene $1 ('$scene') has no [param]"; return; }
  gradcheck_one "$scene"
}

case "$part" in
  recovery) recovery ;;
  resume) resume ;;
  gradcheck) gradcheck_scenes "${3:?gradcheck K N}" "${4:?gradcheck K N}" ;;
  slow) gradcheck_slow "${3:?slow K}" ;;
  all) recovery; resume; gradcheck_scenes 0 1; for k in "${!slow[@]}"; do gradcheck_slow "$k"; done ;;
  *) echo "test_e2e.sh: unknown part '$part' (recovery, resume, gradcheck K N, slow K, all)"; exit 2 ;;
esac
finish "test_e2e $part${3:+ $3}${4:+/$4}"

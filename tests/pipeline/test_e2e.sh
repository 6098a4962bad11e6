#!/usr/bin/env bash
# test_e2e.sh PIPELINE_BINARY: the pipeline end to end.
#  1. optimize scenes/tiny.cfg recovers E within 5% and nu within 0.03 from a start 2x off in E;
#  2. a fit killed (SIGKILL) part-way and resumed with --resume ends with exactly the uninterrupted result;
#  3. gradcheck --stage all passes on every shipped scene at low resolution (every verdict ok or below noise).
. "$(dirname "$0")/../lib.sh" "$@"
# json_get FILE PARAM FIELD
json_get() {
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['parameters'][sys.argv[2]][sys.argv[3]])" "$@" 2>/dev/null ||
    sed -n "/\"$2\"/,/}/p" "$1" | grep "\"$3\"" | head -1 | sed 's/.*: *\([-0-9.eE+]*\).*/\1/'
}

# 1. recovery
# exit status: 0 converged, 3 stalled or budget exhausted (the fit is still scored; the verdict must be in
# result.json), anything else fails
check
"$bin" optimize scenes/tiny.cfg -o "$tmp/fit" -q > "$tmp/out" 2>&1
rc=$?
if [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ]; then
  check
  grep -q '"verdict"' "$tmp/fit/result.json" && grep -q '"best"' "$tmp/fit/result.json" ||
    fail "result.json has no verdict or best point"
  echo "tiny: verdict $(grep '"verdict"' "$tmp/fit/result.json" | head -1 | sed 's/.*: *//'), exit status $rc"
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
else
  fail "optimize scenes/tiny.cfg"
fi

# 2. kill and resume: the same final parameters and the same CSV rows as the uninterrupted run
check
if [ -f "$tmp/fit/result.json" ]; then
  ( (timeout -s KILL 4 "$bin" optimize scenes/tiny.cfg -o "$tmp/killed" -q); true) > /dev/null 2>&1
  rows_before=$(($(wc -l < "$tmp/killed/fit.csv" 2>/dev/null || echo 1) - 1))
  "$bin" optimize scenes/tiny.cfg -o "$tmp/killed" --resume -q > "$tmp/out" 2>&1
  rc2=$?
  if [ "$rc2" -eq "$rc" ]; then
    echo "resume: killed after $rows_before finished iterations, resumed to the end"
    for p in material.jelly.E material.jelly.nu; do
      check
      a=$(json_get "$tmp/fit/result.json" "$p" fitted)
      b=$(json_get "$tmp/killed/result.json" "$p" fitted)
      [ "$a" = "$b" ] || fail "resumed $p = $b differs from the uninterrupted $a"
    done
    check
    cut -d, -f1-8 "$tmp/fit/fit.csv" > "$tmp/a.csv"
    cut -d, -f1-8 "$tmp/killed/fit.csv" > "$tmp/b.csv"
    cmp -s "$tmp/a.csv" "$tmp/b.csv" || fail "the resumed fit.csv differs from the uninterrupted one"
  else
    fail "optimize --resume"
  fi
fi

# 2b. a fit cut short says so: exit status 3, the verdict and its reason on the terminal and in result.json
check
"$bin" optimize scenes/tiny.cfg -o "$tmp/short" -q --set stage.stiffness.iterations=1 --set stage.both.iterations=1 \
  > "$tmp/out" 2>&1
rc=$?
# (one iteration per stage is fewer than optimize.patience: the budget ran out, too few to judge a stall)
if [ "$rc" -eq 3 ] && grep -Eq "pipeline optimize: budget exhausted: .*too few to judge" "$tmp/out" &&
  grep -Eq '"verdict":[[:space:]]*"budget exhausted"' "$tmp/short/result.json"; then
  echo "2-iteration fit: exit status 3, $(grep -E 'pipeline optimize: (stalled|budget)' "$tmp/out")"
else
  fail "a 2-iteration fit exited $rc without the verdict budget exhausted"
fi

# 2c. sweep --around: a loss profile through the fitted point, drawn
if [ -f "$tmp/fit/result.json" ]; then
  check
  if "$bin" sweep scenes/tiny.cfg --around "$tmp/fit/result.json" --param material.jelly.E=1.6e4:2.4e4:3 \
    --set sim.frames=4 --set targets.frames=1:5 -o "$tmp/prof" -q > "$tmp/out" 2>&1 && [ -s "$tmp/prof/profile.png" ]; then
    echo "sweep --around: profile.png written"
  else
    fail "sweep --around did not write profile.png"
  fi
fi

# 3. gradcheck on every scene, low resolution, few frames
for scene in scenes/*.cfg; do
  grep -q '^\[param ' "$scene" || continue
  check
  if "$bin" gradcheck "$scene" --stage all --set render.width=32 --set render.height=32 --set sim.frames=3 -q \
    > "$tmp/out" 2>&1; then
    echo "gradcheck $scene: ok ($(grep -c ' ok$' "$tmp/out") checks ok: parameters through the whole pipeline and the" \
      "simulation alone, sampled rasterizer and upsampler inputs)"
  else
    fail "gradcheck $scene"
  fi
done

finish test_e2e

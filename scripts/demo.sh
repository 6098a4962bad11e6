#!/usr/bin/env bash
# demo.sh [SCENE] [pipeline options]: set up (packages, configure, build) and run the main job, `pipeline optimize`,
# on a scene (default: scenes/jelly.cfg: fit E and nu of an elastic jelly to images rendered from its truth).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
scene="${1:-scenes/jelly.cfg}"
shift || true
# exit status 3 (stalled / budget exhausted) or 4 (diverged): the fit ran, and its verdict is printed above
rc=0
build/pipeline/pipeline optimize "$scene" "$@" || rc=$?
[ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || [ "$rc" -eq 4 ] || exit "$rc"
# the [optimize] output folder (relative to the scene file), as the check command resolves it
out=$(build/pipeline/pipeline check "$scene" "$@" 2>/dev/null |
  awk '/^\[/ { sec = $0 } sec == "[optimize]" && $1 == "output" { print $3; exit }' || true)
[ -n "$out" ] && out=$(cd "$(dirname "$scene")" && realpath -m "$out")
echo
echo "Results of the fit in ${out:-the folder printed above}/:"
echo "  result.json   fitted values (the best point), truth, relative errors, standard errors, verdict, time, and how"
echo "                the run was made (\"run\")"
echo "  fit.mp4       the fit as a video: target | start | difference | fitted | difference (fit.gif without ffmpeg)"
echo "  loss.png      the loss and each term's share, log axis;  params.png: each parameter over the iterations"
echo "  strip_CAMERA_FRAME.png  target | rendered | difference;  fit.csv: one row per iteration"
echo "  run.json, scene.cfg     command line, overrides, version, git commit, build, precision, backend, device, wall time"
[ "$rc" -eq 0 ] || echo "The fit did not converge (exit status $rc: 3 stalled or budget exhausted, 4 diverged): see the verdict above."

#!/usr/bin/env bash
# test_hull_e2e.sh PIPELINE_BINARY: a scene with no mesh and no [camera] (shape = visual_hull, [targets] source =
# pacnerf), issue 20, the CI-sized variant:
#  1. `pipeline capture` of tiny's cube (8 cameras, 64x64, 6 frames; no masks: the hull comes from background
#     subtraction against the plates);
#  2. `optimize scenes/captures/hull_capture.cfg` builds and runs alone: the hull's volume and mask IoU per camera
#     are printed (sub-voxel carving, eroded by 0.015 m: mean IoU >= 0.85, the volume within -20 %..+33 % of the
#     cube's), hull_cube_C.png written (and by `pipeline render`, the same);
#  3. the first-frame appearance stage (the material's grey against the red cube: colours off) raises the first
#     frame's PSNR by >= 2 dB, on the terminal and in result.json; with the hull's masks (optimize.appearance_mask
#     = auto) it learns from the pixels inside them: their count and PSNR (raised by >= 2 dB) in result.json;
#     appearance_mask = on without a visual hull, and appearance_hold without a stage, are errors naming the key;
#  4. errors: visual_hull without a capture, hull keys on a box, a placement key on a hull: one line naming the key;
#  5. scripts/hull_extent_scan.py runs on the capture and prints hull_min / hull_max inside the hull's extent.
. "$(dirname "$0")/../lib.sh" "$@"
scene=scenes/captures/hull_capture.cfg

# 1. the capture
check
"$bin" capture scenes/tiny.cfg -o "$tmp/cap" --cameras 8 --width 64 --height 64 --set sim.frames=6 -q > "$tmp/out" 2>&1 ||
  fail "pipeline capture"

# 2 and 3. the hull and the appearance stage (no physics iterations: the fit itself is test_capture_e2e's job)
check
if opt "$scene" --set targets.path="$tmp/cap" --set sim.frames=6 --set targets.frames=1:7 --set targets.holdout=7 \
  --set render.width=24 --set render.height=24 --set optimize.iterations=1 --set optimize.appearance_iters=12 \
  --set sim.grid=20 --set object.cube.particles_per_cell=8 --set object.cube.hull_samples=3 \
  --set object.cube.hull_erode=0.015 --set optimize.uncertainty=false \
  --no-video -o "$tmp/fit" > "$tmp/out" 2>&1; then
  hull=$(grep 'visual hull from frame 0' "$tmp/out")
  iou=$(grep 'hull mask IoU per camera' "$tmp/out")
  echo "$hull"
  echo "$iou"
  check
  vol=$(echo "$hull" | sed -n 's/.*volume \([0-9.e+-]*\) m^3.*/\1/p')
  python3 -c "import sys; v = float(sys.argv[1]); sys.exit(0 if 0.0216 <= v <= 0.036 else 1)" "${vol:-0}" ||
    fail "hull volume '$vol' m^3 outside [0.0216, 0.036] (the cube is 0.027 m^3; sub-voxel carving and the erosion \
keep it within -20 %..+33 %; the conservative hull was +58 %)"
  check
  mean=$(echo "$iou" | sed -n 's/.*(mean \([0-9.]*\)).*/\1/p')
  python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) >= 0.85 else 1)" "${mean:-0}" || fail "mean hull IoU '$mean' < 0.85"
  check
  [ "$(ls "$tmp/fit"/hull_cube_*.png 2> /dev/null | wc -l)" -eq 7 ] || fail "hull_cube_CAMERA.png: expected 7 (8 cameras, 1 held out)"
  check
  # pipeline render writes the same pictures (scripts/hull_erode_scan.py reads its masks from them)
  "$bin" render "$scene" --set targets.path="$tmp/cap" --set sim.frames=6 --set targets.holdout=7 \
    --set render.width=24 --set render.height=24 --set sim.grid=20 --set object.cube.particles_per_cell=8 \
    --set object.cube.hull_samples=3 --set object.cube.hull_erode=0.015 --frames 0 -o "$tmp/render" -q > "$tmp/rout" 2>&1 && [ "$(ls "$tmp/render"/hull_cube_*.png 2> /dev/null | wc -l)" -eq 7 ] &&
    cmp -s "$tmp/render/hull_cube_0.png" "$tmp/fit/hull_cube_0.png" ||
    fail "pipeline render of the hull scene: expected the 7 hull_cube_CAMERA.png of optimize, identical"
  check
  grep -q 'appearance: 12 Adam steps' "$tmp/out" || fail "no appearance line on the terminal"
  read -r before after inside pixels in_before in_after < <(python3 -c "
import json, sys
a = json.load(open(sys.argv[1]))['appearance']
print(a['psnr_before_db'], a['psnr_after_db'], a.get('mask_pixels_inside', 0), a.get('mask_pixels', 0),
      a.get('psnr_inside_masks_before_db', 0), a.get('psnr_inside_masks_after_db', 0))" "$tmp/fit/result.json")
  echo "first frame: PSNR $before dB -> $after dB (12 appearance steps); inside the masks ($inside of $pixels" \
    "pixels): $in_before dB -> $in_after dB"
  check
  python3 -c "import sys; sys.exit(0 if float(sys.argv[2]) >= float(sys.argv[1]) + 2 else 1)" "$before" "$after" ||
    fail "the appearance stage raised the first frame's PSNR from $before to $after dB (< 2 dB)"
  check
  grep -q "appearance: colours learnt from the .* pixels wholly inside the first frame's masks" "$tmp/out" &&
    [ "${inside:-0}" -gt 0 ] && python3 -c "import sys; sys.exit(0 if float(sys.argv[2]) >= float(sys.argv[1]) + 2 else 1)" \
    "$in_before" "$in_after" ||
    fail "appearance_mask = auto with a hull: no masked pixels, or their PSNR $in_before -> $in_after dB (< 2 dB)"
  check
  [ -f "$tmp/fit/appearance_0.png" ] || fail "appearance_0.png missing"
else
  fail "optimize $scene (visual hull from the capture)"
fi

# 5. scripts/hull_extent_scan.py runs end to end on the capture (one depth, one pass): it reads the hull's extent
#    from the set-up, the cube's colour from the first frame (within 0.05 of the red it was captured with), brackets
#    E per clip and prints the two keys, a box inside the hull's extent
check
py=/usr/bin/python3
[ -x "$py" ] || py=python3
if "$py" scripts/hull_extent_scan.py "$bin" "$scene" cube --param material.jelly.E --start 6e4 --depths 0.03 \
    --passes 1 --colour-key material.jelly.color --capture "$tmp/cap" --holdout 7 --set targets.path="$tmp/cap" \
    --set sim.frames=6 --set targets.frames=1:7 --set targets.holdout=7 --set render.width=24 \
    --set render.height=24 --set sim.grid=20 --set object.cube.particles_per_cell=8 \
    --set object.cube.hull_erode=0.015 > "$tmp/extent" 2>&1; then
  grep -E "first-frame colour|hull extent|unclipped|kept|hull_m" "$tmp/extent"
  "$py" - "$tmp/extent" "$(grep -o 'color = [0-9. ]*' scenes/tiny.cfg | head -1 | cut -d= -f2)" << 'EOF2' || fail "hull_extent_scan.py: output (see above)"
import re, sys
t = open(sys.argv[1]).read()
want = [float(v) for v in sys.argv[2].split()]
col = [float(v) for v in re.search(r"first-frame colour .*: ([0-9.]+) ([0-9.]+) ([0-9.]+)", t).groups()]
ext = [float(v) for v in re.search(r"hull extent: ([0-9.]+)\.\.([0-9.]+) x ([0-9.]+)\.\.([0-9.]+) x ([0-9.]+)\.\.([0-9.]+)", t).groups()]
lo = [float(v) for v in re.search(r"hull_min = (\S+) (\S+) (\S+)", t).groups()]
hi = [float(v) for v in re.search(r"hull_max = (\S+) (\S+) (\S+)", t).groups()]
ok = all(abs(a - b) <= 0.05 for a, b in zip(col, want))
ok &= all(ext[2 * k] - 1e-9 <= lo[k] < hi[k] <= ext[2 * k + 1] + 1e-9 for k in range(3))
sys.exit(0 if ok else 1)
EOF2
else
  cat "$tmp/extent"
  fail "scripts/hull_extent_scan.py on the capture"
fi

# appearance_mask = on needs a hull's masks
check
"$bin" optimize scenes/tiny.cfg --set render.width=16 --set render.height=16 --set sim.frames=2 \
  --set targets.frames=1:3 --set upsample.learn_colors=true --set optimize.appearance_iters=1 \
  --set optimize.appearance_mask=on --set optimize.iterations=1 --no-video -o "$tmp/nomask" -q > "$tmp/out" 2>&1
rc=$?
[ "$rc" -eq 2 ] && grep -q "optimize.appearance_mask = on needs the first frame's masks" "$tmp/out" ||
  fail "appearance_mask = on without a visual hull: expected exit 2 naming the key (exit $rc)"
check
"$bin" optimize scenes/tiny.cfg --set render.width=16 --set render.height=16 --set sim.frames=2 \
  --set targets.frames=1:3 --set upsample.learn_colors=true --set optimize.appearance_hold=true \
  --set optimize.iterations=1 --no-video -o "$tmp/nohold" -q > "$tmp/out" 2>&1
rc=$?
[ "$rc" -eq 2 ] && grep -q "optimize.appearance_hold = true holds the colours the appearance stage fits" "$tmp/out" ||
  fail "appearance_hold without appearance_iters: expected exit 2 naming the key (exit $rc)"

# 4. errors name the key
err() { # $1: what, $2: pattern, rest: arguments of check
  local what="$1" pat="$2"
  shift 2
  check
  "$bin" check "$@" > "$tmp/out" 2>&1
  local rc=$?
  { [ "$rc" -eq 1 ] || [ "$rc" -eq 2 ]; } && [ "$(grep -c . "$tmp/out")" -eq 1 ] && grep -q "$pat" "$tmp/out" ||
    fail "$what: expected one line matching '$pat' (exit $rc)"
}
err "visual_hull without a capture" "shape = visual_hull but the scene has no capture" scenes/tiny.cfg \
  --set object.cube.shape=visual_hull
err "hull keys on a box" "gives hull_misses but its shape is box" scenes/tiny.cfg --set object.cube.hull_misses=1
err "a placement key on a hull" "remove rotation" "$scene" --set targets.path="$tmp/cap" --set sim.frames=6 \
  --set targets.frames=1:7 --set object.cube.rotation=0,10,0

finish test_hull_e2e

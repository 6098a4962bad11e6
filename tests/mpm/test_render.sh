#!/usr/bin/env bash
# test_render.sh PIPELINE_BINARY: `pipeline render` on every shipped scene (2 frames each): PNGs per camera,
# particle and Gaussian PLYs, frame selection, output folder, and clear errors (exit 2, naming the object) for
# scenes that cannot be simulated.
fail_lines=5
. "$(dirname "$0")/../lib.sh" "$@"

for scene in scenes/*.cfg; do
  name=$(basename "$scene" .cfg)
  check
  if ! "$bin" render "$scene" --set sim.frames=2 --output "$tmp/$name" --particle-ply --gaussian-ply -q > "$tmp/out" 2>&1; then
    fail "render $scene"
    continue
  fi
  n=$(ls "$tmp/$name/particles" 2>/dev/null | wc -l)
  check
  [ "$n" -eq 3 ] || fail "$scene: $n PLY files, expected 3 (frames 0..2)"
  check
  head -c 300 "$tmp/$name/particles/0002.ply" | grep -qa "element vertex" || fail "$scene: 0002.ply has no PLY header"
  np=$(head -c 300 "$tmp/$name/particles/0002.ply" | grep -a "element vertex" | awk '{print $3}')
  ng=$(head -c 600 "$tmp/$name/gaussians/0002.ply" | grep -a "element vertex" | awk '{print $3}')
  check
  [ -n "$ng" ] && [ "$ng" -gt 0 ] || fail "$scene: no Gaussian PLY for frame 2"
  for cam in $(grep -o '^\[camera [A-Za-z0-9_]*\]' "$scene" | sed 's/\[camera \(.*\)\]/\1/'); do
    check
    [ "$(ls "$tmp/$name/$cam" 2>/dev/null | wc -l)" -eq 3 ] || fail "$scene: camera $cam has $(ls "$tmp/$name/$cam" 2>/dev/null | wc -l) PNGs, expected 3"
    check
    head -c 8 "$tmp/$name/$cam/0002.png" | grep -qa PNG || fail "$scene: $cam/0002.png is not a PNG"
  done
  echo "render $scene: $np particles, $ng Gaussians, 3 frames"
done

# frame selection and the summary line
check
"$bin" render scenes/jelly.cfg --set sim.frames=4 --frames "0 4" --output "$tmp/sel" --particle-ply > "$tmp/out" 2>&1 || fail "render with --frames"
check
[ "$(ls "$tmp/sel/particles" | tr '\n' ' ')" = "0000.ply 0004.ply " ] || fail "--frames '0 4' wrote: $(ls "$tmp/sel/particles")"
check
[ "$(ls "$tmp/sel/front" | tr '\n' ' ')" = "0000.png 0004.png " ] || fail "--frames '0 4' wrote PNGs: $(ls "$tmp/sel/front")"
check
grep -q "frames simulated" "$tmp/out" || fail "no summary line"
check
"$bin" render scenes/jelly.cfg --set sim.frames=4 --frames "9" --output "$tmp/sel2" > "$tmp/out" 2>&1
[ $? -eq 2 ] && grep -q "frames must lie in 0..4" "$tmp/out" || fail "bad --frames not refused"

# scenes that cannot be simulated: exit 2, the object named
cat > "$tmp/far.cfg" <<'CFG'
[sim]
grid = 16
[material m]
model = neo_hookean
[object faraway]
shape = sphere
material = m
center = 3 0.5 0.5
radius = 0.1
CFG
check
"$bin" render "$tmp/far.cfg" --output "$tmp/far" --particle-ply > "$tmp/out" 2>&1
[ $? -eq 2 ] && grep -q "object 'faraway' lies outside the simulation box" "$tmp/out" || fail "object outside the box"
printf 'v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3\nf 1 3 4\n' > "$tmp/sheet.obj"
cat > "$tmp/sheet.cfg" <<CFG
[sim]
grid = 16
[material m]
model = neo_hookean
[object sheet]
shape = mesh
material = m
mesh = sheet.obj
scale = 0.3
CFG
check
"$bin" render "$tmp/sheet.cfg" --output "$tmp/sheet" --particle-ply > "$tmp/out" 2>&1
[ $? -eq 2 ] && grep -q "encloses no volume" "$tmp/out" || fail "open mesh not refused"
check
"$bin" render scenes/jelly.cfg --set sim.substeps=1 --set sim.frames=1 --output "$tmp/cfl" > "$tmp/out" 2>&1
[ $? -eq 2 ] && grep -q "stability bound" "$tmp/out" || fail "substeps far below the CFL bound not refused"

finish test_render

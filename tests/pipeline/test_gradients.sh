#!/usr/bin/env bash
# test_gradients.sh PIPELINE_BINARY: every gradient proven where it is used (issue 11), at small sizes.
#  1. a [param] the model ignores is refused at load time, naming the key and the model;
#  2. optimize's first-iteration gradient (float, the fit's own objective) equals gradcheck's adjoint (double)
#     to 1e-3 relative on tiny and jelly, and optimize --check-grad 0 prints gradcheck's table, all ok;
#  3. gradcheck --precision float: no false INSENSITIVE (tiny);
#  4. upsample.learn_colors / learn_opacities: per-Gaussian gradients match central differences, and the fit
#     steps them (the loss after one step differs from the fit without them);
#  5. every learnable value beyond E and nu (tests/pipeline/scenes/learnables.cfg: friction of the floor and the
#     walls, initial centre and rotation, viscosity at 0, background colour at its bound, camera pose and focal
#     corrections) matches central differences, and optimize steps each of them (the walls' friction off 0);
#  6. a learnable value with an exactly zero gradient during a fit is reported in the log and result.json;
#  7. a heterogeneous E (tests/pipeline/scenes/efield.cfg: soft half 2e4, stiff half 2e5, learn_E_field on two
#     cells): the cells' gradients match central differences in double, are not zero and match in float
#     (optimize --check-grad 0), and the fit recovers both halves within 10 %; the field alone (no [param]) is a
#     fit of its own; a bad E_field is refused at load naming the file, line and key;
#  8. learnt initial positions (learn_positions, on efield.cfg's spinning cube, 2 x 2 x 2 nodes): the nodes'
#     displacement gradients match central differences in double (the regulariser on) and are not zero and match
#     in float (optimize --check-grad 0); a fit from a truth shifted by (+2, +1, 0) cm recovers the shift as the
#     nodes' mean displacement within 5 mm, and a truncated positions.bin is refused on --resume; learn_positions
#     is refused beside a velocity_field and beside a learnt centre of the same object.
fail_lines=20
. "$(dirname "$0")/../lib.sh" "$@"
small="--set render.width=24 --set render.height=24 --set sim.frames=3 --set targets.frames=1:4"
# adjoint of a parameter in a gradcheck table: adj FILE NAME
adj() { awk -v n="$2" '$1 == n { print $3; exit }' "$1"; }
# column of fit.csv's first row: csvcol FILE HEADER
csvcol() { awk -F, -v h="$2" 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == h) c = i } NR == 2 { print $c; exit }' "$1"; }
csvcol2() { awk -F, -v h="$2" 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == h) c = i } NR == 3 { print $c; exit }' "$1"; }
# relclose A B TOL: |A| and |B| agree to TOL relative
relclose() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { a = a < 0 ? -a : a; b = b < 0 ? -b : b; m = a > b ? a : b;
  d = a - b; d = d < 0 ? -d : d; exit !(m > 0 && d <= t * m) }'; }

# 1. ignored parameters
for case in "material.jelly.yield_stress|fixed_corotated|" "material.jelly.viscosity|fixed_corotated|" \
            "upsample.thickness|particles|--set upsample.mode=particles"; do
  IFS='|' read -r addr word extra <<< "$case"
  { cat scenes/tiny.cfg; printf '\n[param %s]\n' "$addr"; } > "$tmp/ignored.cfg"
  check
  # shellcheck disable=SC2086
  if "$bin" check "$tmp/ignored.cfg" $extra > "$tmp/out" 2>&1; then
    fail "check accepted [param $addr] ($word ignores it)"
  elif ! grep -q "$word" "$tmp/out" || ! grep -q "${addr##*.}" "$tmp/out" || ! grep -q "ignored.cfg:[0-9]" "$tmp/out"; then
    fail "the error for [param $addr] does not name the file:line, the key and '$word'"
  fi
done

# 2. optimize's first gradient = gradcheck's adjoint (tiny, jelly); --check-grad prints the table
for scene in tiny jelly; do
  check
  # tiny also learns per-Gaussian colours and opacities, with an L2 loss: the colour of a splat inside a face
  # moves pixels whose L1 residual is near 0, where |r - t| has its kink (an L1 check there measures the kink)
  extra=()
  [ "$scene" = tiny ] && extra=(--set upsample.learn_colors=true --set upsample.learn_opacities=true
                                --set "optimize.loss=l2:1 mask:0.5")
  # jelly ships a scan and Newton steps (issue 16): the first iteration must start at the scene's own values here
  [ "$scene" = jelly ] && extra=(--set optimize.scan=0 --set optimize.newton=0)
  # shellcheck disable=SC2086
  if ! "$bin" gradcheck "scenes/$scene.cfg" $small "${extra[@]}" -q > "$tmp/gc_$scene" 2>&1; then
    cp "$tmp/gc_$scene" "$tmp/out"
    fail "gradcheck $scene (small)"
    continue
  fi
  check
  # shellcheck disable=SC2086
  if ! opt "scenes/$scene.cfg" $small "${extra[@]}" --set stage.stiffness.iterations=1 \
      --set stage.both.iterations=1 -o "$tmp/fit_$scene" --check-grad 0 -q > "$tmp/out" 2>&1; then
    fail "optimize $scene --check-grad 0"
    continue
  fi
  check
  grep -q "optimize --check-grad" "$tmp/out" && ! grep -Eq "MISMATCH|NO GRADIENT|INSENSITIVE|NOISY|NON-SMOOTH" "$tmp/out" ||
    fail "optimize --check-grad 0 on $scene: no table or a bad verdict"
  for p in material.jelly.E material.jelly.nu; do
    check
    a=$(adj "$tmp/gc_$scene" "$p")
    g=$(csvcol "$tmp/fit_$scene/fit.csv" "grad_norm:$p")
    echo "$scene: dL/d$p: gradcheck (double) $a, optimize's first iteration (float) $g"
    relclose "$a" "$g" 1e-3 || fail "$scene: optimize's first gradient of $p ($g) differs from gradcheck's adjoint ($a)"
  done
done

# 3. float gradcheck
check
# shellcheck disable=SC2086
if "$bin" gradcheck scenes/tiny.cfg $small --precision float -q > "$tmp/out" 2>&1; then
  echo "gradcheck --precision float tiny: $(grep -c ' ok$' "$tmp/out") ok"
else
  fail "gradcheck --precision float on tiny"
fi

# 4. per-Gaussian appearance
check
n=$(grep -c 'gaussian\[[0-9]*\]\..* ok$' "$tmp/gc_tiny")
[ "$n" -ge 12 ] || { cp "$tmp/gc_tiny" "$tmp/out"; fail "gradcheck checked $n per-Gaussian entries (want 12 ok)"; }
echo "learn_colors/learn_opacities: $n per-Gaussian entries ok in gradcheck"
for on in true false; do
  # shellcheck disable=SC2086
  opt scenes/tiny.cfg $small --set stage.stiffness.iterations=1 --set stage.both.iterations=1 \
    --set upsample.learn_colors=$on --set upsample.learn_opacities=$on -o "$tmp/app_$on" -q > "$tmp/out" 2>&1 ||
    fail "optimize learn_colors=$on"
done
check
l_on=$(csvcol2 "$tmp/app_true/fit.csv" loss)
l_off=$(csvcol2 "$tmp/app_false/fit.csv" loss)
echo "loss after one step: $l_on (learning colours and opacities), $l_off (not)"
[ -n "$l_on" ] && [ "$l_on" != "$l_off" ] || fail "learn_colors/learn_opacities change nothing ($l_on vs $l_off)"
check
[ -s "$tmp/app_true/appearance.bin" ] || fail "no appearance.bin (the per-Gaussian state for --resume)"

# 5. every other learnable value
check
if "$bin" gradcheck tests/pipeline/scenes/learnables.cfg -q > "$tmp/out" 2>&1; then
  echo "learnables.cfg: $(grep -c ' ok$' "$tmp/out") gradients ok"
else
  fail "gradcheck tests/pipeline/scenes/learnables.cfg"
fi
check
if opt tests/pipeline/scenes/learnables.cfg -o "$tmp/learn" -q > "$tmp/out" 2>&1; then
  for h in collider.floor.friction sim.boundary_friction object.cube.center.x object.cube.rotation.y \
           render.background.x camera.front.translation_offset.x camera.front.rotation_offset.y \
           camera.side.focal_scale; do
    check
    a=$(csvcol "$tmp/learn/fit.csv" "$h")
    b=$(csvcol2 "$tmp/learn/fit.csv" "$h")
    [ -n "$a" ] && [ "$a" != "$b" ] || fail "optimize did not step $h ($a -> $b)"
  done
else
  fail "optimize learnables.cfg"
fi

# 6. zero gradient reported (frame 0 alone: nothing has moved yet, E cannot matter)
check
# shellcheck disable=SC2086
opt scenes/tiny.cfg $small --set targets.frames=0 --set stage.stiffness.iterations=1 \
  --set stage.both.iterations=1 -o "$tmp/zero" > "$tmp/out" 2>&1
if ! grep -q "material.jelly.E gets an exactly zero gradient" "$tmp/out" ||
   ! grep -q '"zero_gradient_iterations"' "$tmp/zero/result.json" 2>/dev/null; then
  fail "a zero gradient was not reported in the log and result.json"
fi

# 7. heterogeneous E
check
# (started from two different values, so the smoothness regulariser's gradient is not zero either)
if "$bin" gradcheck tests/pipeline/scenes/efield.cfg --set 'object.cube.E_field=6e4 * (1 + x)' \
     --set object.cube.E_field_smoothness=0.01 -q > "$tmp/out" 2>&1 &&
   [ "$(grep -c 'E_field\[[01]\] (log E) .* ok$' "$tmp/out")" -eq 2 ]; then
  echo "efield.cfg (double): $(grep 'E_field\[' "$tmp/out" | awk '{ printf "%s adjoint %s fd %s; ", $1, $5, $6 }')"
else
  fail "gradcheck tests/pipeline/scenes/efield.cfg: the two cells' gradients"
fi
check
if opt tests/pipeline/scenes/efield.cfg -o "$tmp/efield" --check-grad 0 -q > "$tmp/out" 2>&1; then
  # float: both cells' adjoints non-zero and ok
  nz=$(awk '$1 ~ /E_field\[[01]\]/ && $5 + 0 != 0 && $NF == "ok"' "$tmp/out" | wc -l)
  check
  [ "$nz" -eq 2 ] || fail "optimize --check-grad 0 (float): the cells' gradients are zero or do not match"
  E0=$(awk -F, '$1 == "cube" && $2 == 0 { print $6 }' "$tmp/efield/E_field.csv" 2>/dev/null)
  E1=$(awk -F, '$1 == "cube" && $2 == 1 { print $6 }' "$tmp/efield/E_field.csv" 2>/dev/null)
  echo "efield.cfg fit: soft half E = $E0 (truth 2e4), stiff half E = $E1 (truth 2e5), start 6e4"
  check
  awk -v a="$E0" -v b="$E1" 'BEGIN { exit !(a > 0.9 * 2e4 && a < 1.1 * 2e4 && b > 0.9 * 2e5 && b < 1.1 * 2e5) }' ||
    fail "the fit did not recover the two halves within 10 %"
else
  fail "optimize tests/pipeline/scenes/efield.cfg"
fi
# a learnt E field alone (no [param] section) is a fit of its own; it writes E_field.csv (issue 11)
check
awk '/^\[param /{skip=1} /^\[/{if(!/^\[param /)skip=0} !skip' tests/pipeline/scenes/efield.cfg > "$tmp/efield_alone.cfg"
if opt "$tmp/efield_alone.cfg" --set optimize.iterations=2 --set sim.frames=3 --set targets.frames=1:4 --no-video \
     -o "$tmp/efield_alone" -q > "$tmp/out" 2>&1; then
  [ -s "$tmp/efield_alone/E_field.csv" ] && [ -s "$tmp/efield_alone/kept.bin" ] ||
    fail "a fit of learn_E_field alone wrote no E_field.csv / kept.bin"
else
  fail "optimize with learn_E_field and no [param] section"
fi
check
if "$bin" check tests/pipeline/scenes/efield.cfg --set 'object.cube.E_field=2e4 * q' > "$tmp/out" 2>&1 ||
   ! grep -q "E_field" "$tmp/out"; then
  fail "a bad E_field expression was not refused naming the key"
fi
check
if "$bin" check tests/pipeline/scenes/efield.cfg --set object.cube.E_field_grid=0 > "$tmp/out" 2>&1; then
  fail "E_field_grid = 0 was accepted"
fi
check
printf '[material m]\nmodel = fixed_corotated\n[object o]\nshape = box\nmaterial = m\nE_field = 1e4 + x\n[param material.m.E]\n' \
  > "$tmp/replaced.cfg"
if "$bin" check "$tmp/replaced.cfg" > "$tmp/out" 2>&1 || ! grep -q "replaces E per particle" "$tmp/out"; then
  fail "[param material.m.E] with every object on E_field was not refused"
fi

# 8. learnt initial positions (issue 20)
pos="--set object.cube.learn_E_field=false --set object.cube.learn_positions=true --set object.cube.positions_grid=2"
check
# shellcheck disable=SC2086
if "$bin" gradcheck tests/pipeline/scenes/efield.cfg $pos --set object.cube.positions_smoothness=0.01 $small -q \
     > "$tmp/out" 2>&1; then
  n_ok=$(grep -c 'positions\[[0-7]\]\.[xyz] (m) .* ok$' "$tmp/out")
  echo "learn_positions (double): $n_ok of 8 displacement rows ok"
  [ "$n_ok" -eq 8 ] || fail "gradcheck of the learnt positions: $(grep 'positions\[' "$tmp/out")"
else
  fail "gradcheck with learn_positions: $(tail -3 "$tmp/out")"
fi
check
# shellcheck disable=SC2086
# (one iteration: its verdict may be "diverged", exit 4; the table is what is checked)
"$bin" optimize tests/pipeline/scenes/efield.cfg $pos $small --set optimize.iterations=1 -o "$tmp/pos1" --check-grad 0 \
  -q > "$tmp/out" 2>&1
if grep -q "positions\[" "$tmp/out"; then
  nz=$(awk '$1 ~ /positions\[/ && $4 + 0 != 0 && $NF == "ok"' "$tmp/out" | wc -l) # $2 is "(m)"
  echo "learn_positions (float, --check-grad 0): $nz of 8 rows non-zero and ok"
  [ "$nz" -ge 6 ] || fail "optimize --check-grad 0 (float): the displacements' gradients are zero or do not match"
else
  fail "optimize --check-grad 0 with learn_positions"
fi
check
awk '/^\[param /{skip=1} /^\[truth\]/{skip=1} /^\[/{if(!/^\[param /&&!/^\[truth\]/)skip=0} !skip' \
  tests/pipeline/scenes/efield.cfg > "$tmp/shifted.cfg"
printf '\n[truth]\nobject.cube.center = 0.52 0.41 0.5\n' >> "$tmp/shifted.cfg"
# shellcheck disable=SC2086
if opt "$tmp/shifted.cfg" $pos --set object.cube.positions_lr=0.004 --set optimize.iterations=20 \
     --set render.width=32 --set render.height=32 --set sim.frames=4 --set targets.frames=0:5 --no-video \
     -o "$tmp/shifted" -q > "$tmp/out" 2>&1; then
  mean=$(awk -F, 'NR > 1 { x += $6; y += $7; z += $8; n++ } END { if (n) printf "%.4f %.4f %.4f", x/n, y/n, z/n }' \
         "$tmp/shifted/positions.csv" 2>/dev/null)
  echo "learn_positions fit: mean displacement ($mean) m, truth (0.02 0.01 0)"
  # shellcheck disable=SC2086
  awk -v m="$mean" 'BEGIN { split(m, d, " "); exit !(d[1] > 0.015 && d[1] < 0.025 && d[2] > 0.005 && d[2] < 0.015 &&
                                                   d[3] > -0.005 && d[3] < 0.005) }' ||
    fail "the learnt positions did not recover the shift (mean displacement $mean)"
  # a damaged positions.bin is refused on --resume, naming the file and the object
  check
  head -c 40 "$tmp/shifted/positions.bin" > "$tmp/pos.bin" && cp "$tmp/pos.bin" "$tmp/shifted/positions.bin"
  # shellcheck disable=SC2086
  if opt "$tmp/shifted.cfg" $pos --set object.cube.positions_lr=0.004 --set optimize.iterations=21 \
       --set render.width=32 --set render.height=32 --set sim.frames=4 --set targets.frames=0:5 --no-video \
       -o "$tmp/shifted" --resume -q > "$tmp/out" 2>&1 || ! grep -q "positions.bin: truncated.*\[object cube\]" "$tmp/out"; then
    fail "a truncated positions.bin was not refused on --resume: $(tail -2 "$tmp/out")"
  fi
else
  fail "optimize with learn_positions: $(tail -3 "$tmp/out")"
fi
check
if "$bin" check tests/pipeline/scenes/efield.cfg --set object.cube.learn_positions=true \
     --set 'object.cube.velocity_field=0, 0, x' > "$tmp/out" 2>&1 || ! grep -q "learn_positions with velocity_field" "$tmp/out"; then
  fail "learn_positions beside a velocity_field was not refused naming both keys"
fi
check
printf '[param object.cube.center]\n' > "$tmp/center.cfg"
cat tests/pipeline/scenes/efield.cfg "$tmp/center.cfg" > "$tmp/pose.cfg"
# shellcheck disable=SC2086
if opt "$tmp/pose.cfg" $pos $small --set optimize.iterations=1 -o "$tmp/pose" -q > "$tmp/out" 2>&1 ||
   ! grep -q "learn one or the other" "$tmp/out"; then
  fail "learn_positions beside [param object.cube.center] was not refused"
fi

finish test_gradients

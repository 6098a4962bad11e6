#!/usr/bin/env bash
# test_wall_friction.sh PIPELINE_BINARY: per-wall Coulomb friction as learnable values (issue 17).
#  1. tests/pipeline/scenes/wall_friction.cfg: the gradients of sim.boundary_friction_y_min, _x_min and of the
#     shared sim.boundary_friction (the walls without their own) match central differences (gradcheck, double);
#  2. a negative per-wall friction is refused naming the key; learning the friction of a sticky wall, or of a
#     wall without its own value in the scene, is refused naming the [param].
. "$(dirname "$0")/../lib.sh" "$@"
scene=tests/pipeline/scenes/wall_friction.cfg

expect 0 "gradcheck $scene" -- "$bin" gradcheck "$scene" -q
for k in sim.boundary_friction_y_min sim.boundary_friction_x_min "sim.boundary_friction "; do
  check
  grep -q "^$k.* ok$" "$tmp/out" || fail "gradcheck: no 'ok' for $k"
done
grep "ok$" "$tmp/out"

expect 2 "a negative floor friction" -- "$bin" check "$scene" --set sim.boundary_friction_y_min=-0.1
contains "boundary_friction_y_min" "the refusal names the key"
expect 2 "learning a sticky wall's friction" -- "$bin" check "$scene" --set sim.boundary_y_min=sticky
contains "[param sim.boundary_friction_y_min]" "the refusal names the param"
contains "sticky" "the refusal says why"
sed 's/^boundary_friction_x_min = 0.2$//' "$scene" > "$tmp/no_own.cfg"
expect 2 "learning a wall's friction the scene does not give" -- "$bin" check "$tmp/no_own.cfg"
contains "give the wall its own friction" "the refusal says what to do"
finish test_wall_friction

#!/usr/bin/env bash
# test_granular.sh PIPELINE_BINARY: the granular model of issue 17 through the whole pipeline.
#  1. tests/pipeline/scenes/granular.cfg (the transfer's PIC share for material at rest and the mu(I) friction on):
#     the gradients of the friction angle and of E match central differences (gradcheck, double, branch-aware);
#  2. each feature is live in that scene: switching it off changes the friction angle's gradient;
#  3. settings that cannot work are refused naming the key: mu(I) on another cone or without a grain size, a
#     negative rest speed.
. "$(dirname "$0")/../lib.sh" "$@"
scene=tests/pipeline/scenes/granular.cfg

adjoint_of() { grep "^material.sand.friction_angle " "$tmp/out" | awk '{print $3}'; }

expect 0 "gradcheck $scene" -- "$bin" gradcheck "$scene" -q
for k in material.sand.friction_angle material.sand.E; do
  check
  grep -q "^$k .* ok$" "$tmp/out" || fail "gradcheck: no 'ok' for $k"
done
grep " ok$" "$tmp/out"
both=$(adjoint_of)
expect 0 "gradcheck without mu(I)" -- "$bin" gradcheck "$scene" -q --set material.sand.mui_delta=0
no_mui=$(adjoint_of)
expect 0 "gradcheck without the rest share" -- "$bin" gradcheck "$scene" -q --set sim.pic_blend=0
no_share=$(adjoint_of)
echo "friction angle's gradient: $both (both on), $no_mui (no mu(I)), $no_share (no rest share)"
check
python3 -c "
import sys
a, b, c = (float(v) for v in sys.argv[1:4])
sys.exit(0 if abs(a - b) > 1e-3 * abs(a) and abs(a - c) > 1e-3 * abs(a) else 1)" "$both" "$no_mui" "$no_share" ||
  fail "mu(I) or the rest share does not change the friction angle's gradient: the scene does not exercise it"

expect 2 "mu(I) on the compression cone" -- "$bin" check "$scene" --set material.sand.cone=compression
contains "[material sand] mui_delta" "the refusal names the material and the key"
contains "cone = shear" "the refusal says what mu(I) needs"
expect 2 "mu(I) without a grain size" -- "$bin" check "$scene" --set material.sand.grain_size=0
contains "grain_size > 0" "the refusal names the missing key"
expect 2 "a negative rest speed" -- "$bin" check "$scene" --set sim.pic_rest_speed=-0.1
contains "pic_rest_speed" "the refusal names the key"
finish test_granular

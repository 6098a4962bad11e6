#!/usr/bin/env bash
# test_initial_velocity.sh PIPELINE_BINARY: object velocity_field (an expression in x, y, z), render --stats, and
# the scene side of the walls (placement errors, per-wall keys), per-particle velocity files.
#  1. a rigid rotation written as a field, -w (y - cy), w (x - cx), 0, gives the same stats.csv rows (momenta,
#     energies) as angular_velocity = 0 0 w, at frame 0 and after 4 frames; Lz at frame 0 = w sum m r^2;
#  2. stats.csv: mass constant, total momentum without gravity and walls conserved, volume ratio 1 at frame 0;
#  3. a bad expression is refused with the scene file, line, key and column.
set -u
bin="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
scene() { # scene FILE OBJECT_LINES
  cat > "$1" <<CFG
[sim]
grid = 24
frames = 4
fps = 60
gravity = 0 0 0
[material jelly]
model = fixed_corotated
E = 2e4
nu = 0.3
[object cube]
shape = box
material = jelly
center = 0.5 0.5 0.5
size = 0.3
$2
CFG
}
scene "$tmp/a.cfg" "angular_velocity = 0 0 3"
scene "$tmp/b.cfg" "velocity_field = -3 * (y - 0.5), 3 * (x - 0.5), 0"
"$bin" render "$tmp/a.cfg" -o "$tmp/a" --stats -q 2> "$tmp/a.log" || { fail "render a"; cat "$tmp/a.log"; }
"$bin" render "$tmp/b.cfg" -o "$tmp/b" --stats -q 2> "$tmp/b.log" || { fail "render b"; cat "$tmp/b.log"; }
if [ -s "$tmp/a/stats.csv" ] && [ -s "$tmp/b/stats.csv" ]; then
  echo "stats.csv (velocity_field run):"; cat "$tmp/b/stats.csv"
  /usr/bin/python3 - "$tmp/a/stats.csv" "$tmp/b/stats.csv" <<'PY' || fails=$((fails + 1))
import csv, sys
a = list(csv.DictReader(open(sys.argv[1]))); b = list(csv.DictReader(open(sys.argv[2])))
bad = 0
def check(ok, msg):
    global bad
    if not ok: print("FAIL:", msg); bad += 1
check(len(a) == 5 and len(b) == 5, "5 rows (frames 0..4) in each, got %d and %d" % (len(a), len(b)))
for ra, rb in zip(a, b):
    for k in ("Lz", "kinetic", "elastic", "px", "py", "volume_ratio", "max_speed"):
        x, y = float(ra[k]), float(rb[k])
        check(abs(x - y) <= 1e-5 * max(1.0, abs(x)), "frame %s %s: angular_velocity %g vs velocity_field %g" % (ra["frame"], k, x, y))
r0 = b[0]
# Lz = w sum m r^2 for a 0.3 m cube of density 1000 about its axis: w rho s^5 / 6, sampled: within 3%
Lz_exact = 3 * 1000 * 0.3 ** 5 / 6
check(abs(float(r0["Lz"]) / Lz_exact - 1) < 0.03, "Lz at frame 0 = %s, w rho s^5/6 = %g" % (r0["Lz"], Lz_exact))
check(float(r0["volume_ratio"]) == 1.0, "volume ratio at frame 0 = %s" % r0["volume_ratio"])
m0 = float(r0["mass"])
for r in b:
    check(float(r["mass"]) == m0, "mass changes: %s vs %g" % (r["mass"], m0))
    for k in ("px", "py", "pz"):
        check(abs(float(r[k]) - float(r0[k])) < 1e-6 * m0, "linear momentum %s drifts: %s vs %s" % (k, r[k], r0[k]))
    check(abs(float(r["Lz"]) / float(r0["Lz"]) - 1) < 1e-3, "angular momentum drifts: %s vs %s" % (r["Lz"], r0["Lz"]))
    check(0 < float(r["cfl"]) <= 1.0 or r["frame"] == "0", "CFL number %s" % r["cfl"])
print("velocity_field: Lz at frame 0 = %s (w rho s^5/6 = %.5g); rows equal to the angular_velocity run" % (r0["Lz"], Lz_exact))
sys.exit(1 if bad else 0)
PY
fi
# 3. errors
scene "$tmp/c.cfg" "velocity_field = -3 * (y - 0.5), 3 * (q - 0.5), 0"
if "$bin" render "$tmp/c.cfg" -o "$tmp/c" --stats -q 2> "$tmp/c.log"; then fail "a bad expression was accepted"; fi
grep -q "c.cfg:15: \[object cube\] velocity_field" "$tmp/c.log" && grep -q "column 22: unknown name 'q'" "$tmp/c.log" || { fail "unclear error"; }
echo "error: $(head -1 "$tmp/c.log")"
scene "$tmp/d.cfg" "velocity_field = 1, 2"
if "$bin" render "$tmp/d.cfg" -o "$tmp/d" --stats -q 2> "$tmp/d.log"; then fail "two expressions accepted"; fi
grep -q "found fewer" "$tmp/d.log" || fail "unclear error for two expressions: $(cat "$tmp/d.log")"
scene "$tmp/e.cfg" "velocity_field = 1 / (x - x), 0, 0"
if "$bin" render "$tmp/e.cfg" -o "$tmp/e" --stats -q 2> "$tmp/e.log"; then fail "a NaN field accepted"; fi
grep -q "particle 0" "$tmp/e.log" || fail "unclear error for a NaN field: $(cat "$tmp/e.log")"
echo "error: $(head -1 "$tmp/e.log")"
[ ! -e "$tmp/e/stats.csv" ] || fail "a failed render left a stats.csv"
# 5. velocity_file: rows x,y,z,vx,vy,vz (nearest position) of the rigid rotation above on a 2.5 mm lattice give
#    the angular_velocity run's Lz within 1%; rows vx,vy,vz (by order) need one row per particle (the error
#    names both counts, which then sizes the file); errors name the file and line
/usr/bin/python3 - "$tmp/rot.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("# rigid rotation w = 3 rad/s about z through (0.5, 0.5)\nx,y,z,vx,vy,vz\n")
    n = 64
    for i in range(n):
        for j in range(n):
            for k in range(0, n, 8):
                x, y, z = 0.34 + 0.32 * i / (n - 1), 0.34 + 0.32 * j / (n - 1), 0.34 + 0.32 * k / (n - 1)
                f.write("%.6f,%.6f,%.6f,%.6f,%.6f,0\n" % (x, y, z, -3 * (y - 0.5), 3 * (x - 0.5)))
PY
scene "$tmp/f.cfg" "velocity_file = rot.csv"
if "$bin" render "$tmp/f.cfg" -o "$tmp/f" --stats -q 2> "$tmp/f.log" && [ -s "$tmp/f/stats.csv" ]; then
  /usr/bin/python3 - "$tmp/a/stats.csv" "$tmp/f/stats.csv" <<'PY' || fails=$((fails + 1))
import csv, sys
a = list(csv.DictReader(open(sys.argv[1]))); f = list(csv.DictReader(open(sys.argv[2])))
la, lf = float(a[0]["Lz"]), float(f[0]["Lz"])
print("velocity_file (nearest position, 2.5 mm lattice): Lz at frame 0 = %.6g, angular_velocity run %.6g (%+.2f%%)" % (lf, la, 100 * (lf / la - 1)))
pa, pf = float(a[0]["px"]), float(f[0]["px"])
print("  px %.6g vs %.6g" % (pf, pa))
# momenta to 1% of the rim's: M w (s/2), M w s/2 = 3.1 kg m/s here
sys.exit(0 if abs(lf / la - 1) < 0.01 and abs(pf - pa) < 0.01 * float(a[0]["mass"]) * 3 * 0.15 else 1)
PY
else fail "render with a velocity_file (x,y,z,vx,vy,vz): $(cat "$tmp/f.log")"; fi
printf "vx,vy,vz\n0.5,0,0\n0.5,0,0\n" > "$tmp/few.csv"
scene "$tmp/g.cfg" "velocity_file = few.csv"
if "$bin" render "$tmp/g.cfg" -o "$tmp/g" --stats -q 2> "$tmp/g.log"; then fail "a velocity file with 2 rows for a cube was accepted"; fi
np=$(sed -n 's/.*\[object cube\] has \([0-9]*\) particles.*/\1/p' "$tmp/g.log" | head -1)
echo "error: $(head -1 "$tmp/g.log")"
if [ -n "$np" ]; then
  { echo "vx,vy,vz"; for ((i = 0; i < np; ++i)); do echo "0.5,0,0"; done; } > "$tmp/all.csv"
  scene "$tmp/h.cfg" "velocity_file = all.csv"
  if "$bin" render "$tmp/h.cfg" -o "$tmp/h" --stats -q 2> "$tmp/h.log" && [ -s "$tmp/h/stats.csv" ]; then
    /usr/bin/python3 - "$tmp/h/stats.csv" <<'PY' || fails=$((fails + 1))
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))[0]
m, px = float(r["mass"]), float(r["px"])
print("velocity_file (by order, %s rows): px = %.6g at frame 0, 0.5 m/s x mass = %.6g" % ("all", px, 0.5 * m))
sys.exit(0 if abs(px / (0.5 * m) - 1) < 1e-6 else 1)
PY
  else fail "render with one row per particle: $(cat "$tmp/h.log")"; fi
else fail "the row-count error does not name the particle count: $(cat "$tmp/g.log")"; fi
printf "vx,vy,vz\n0.5,0,0\n0.5,zero,0\n" > "$tmp/bad.csv"
scene "$tmp/i.cfg" "velocity_file = bad.csv"
if "$bin" render "$tmp/i.cfg" -o "$tmp/i" --stats -q 2> "$tmp/i.log"; then fail "a velocity file with 'zero' was accepted"; fi
grep -q "bad.csv:3: column 2: 'zero' is not a finite number" "$tmp/i.log" || fail "unclear error for a bad number: $(cat "$tmp/i.log")"
echo "error: $(head -1 "$tmp/i.log")"
printf "1,2,3,4\n" > "$tmp/four.csv"
scene "$tmp/j.cfg" "velocity_file = four.csv"
if "$bin" render "$tmp/j.cfg" -o "$tmp/j" --stats -q 2> "$tmp/j.log"; then fail "a velocity file with 4 columns was accepted"; fi
grep -q "four.csv:1: 4 numbers" "$tmp/j.log" || fail "unclear error for 4 columns: $(cat "$tmp/j.log")"
scene "$tmp/k.cfg" "velocity_file = missing.csv"
if "$bin" render "$tmp/k.cfg" -o "$tmp/k" --stats -q 2> "$tmp/k.log"; then fail "a missing velocity file was accepted"; fi
grep -q "missing.csv: cannot open" "$tmp/k.log" || fail "unclear error for a missing file: $(cat "$tmp/k.log")"
# 4. walls: a box flush with the wall band is accepted; one 1e-4 m into it is refused with ranges that differ in
#    print; per-wall keys; a bad wall type names the choices
wallscene() { # wallscene FILE CENTER_Y EXTRA_SIM_LINE
  cat > "$1" <<CFG
[sim]
grid = 20
frames = 2
$3
[material m]
model = neo_hookean
[object box]
shape = box
material = m
center = 0.5 $2 0.5
size = 0.2
CFG
}
wallscene "$tmp/w1.cfg" 0.25 "boundary_y_min = sticky"
"$bin" render "$tmp/w1.cfg" -o "$tmp/w1" --stats -q 2> "$tmp/w1.log" || fail "a box flush with the wall band (y from 0.15 = 3 dx) was refused: $(cat "$tmp/w1.log")"
wallscene "$tmp/w2.cfg" 0.2499 ""
if "$bin" render "$tmp/w2.cfg" -o "$tmp/w2" --stats -q 2> "$tmp/w2.log"; then fail "a box 1e-4 m into the wall band was accepted"; fi
grep -q "spans 0.1499..0.3499 along y, particles may lie in 0.15..0.85" "$tmp/w2.log" && grep -q "0.0001 m too far" "$tmp/w2.log" ||
  fail "unclear placement error: $(cat "$tmp/w2.log")"
echo "error: $(head -1 "$tmp/w2.log")"
wallscene "$tmp/w3.cfg" 0.25 "boundary_x_max = rough"
if "$bin" render "$tmp/w3.cfg" -o "$tmp/w3" --stats -q 2> "$tmp/w3.log"; then fail "boundary_x_max = rough accepted"; fi
grep -q "boundary_x_max" "$tmp/w3.log" || fail "unclear error for a bad wall type: $(cat "$tmp/w3.log")"
echo "error: $(head -1 "$tmp/w3.log")"
[ $fails -eq 0 ] && echo "test_initial_velocity: passed" || echo "test_initial_velocity: $fails failures"
exit $((fails > 0))

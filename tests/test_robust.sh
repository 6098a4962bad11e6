#!/usr/bin/env bash
# test_robust.sh PIPELINE_BINARY: the hostile-input repros of issue 12, each of which crashed, hung or passed
# silently before. Every one must now end within seconds with exit 2 (or 1 for a size limit) and one clear line
# naming the file, line, key or option, or give the correct output. Run by CTest in the release and the ASan
# builds (where any memory error fails the command on its own). The state.json cases (D2-D5, D16, D21) are in
# tests/pipeline/test_fit_state.c.
expect_timeout=20 # a hang is a failure
. "$(dirname "$0")/lib.sh" "$@"

one_line() {
  checks=$((checks + 1))
  if [ "$(grep -vc '^\[info\]' "$tmp/out")" -ne 1 ]; then
    echo "FAIL: $1: the error is not one line"; sed 's/^/    /' "$tmp/out" | head -20
    fails=$((fails + 1))
  fi
}
scene=scenes/tiny.cfg

# D1: frame selections whose numbers overflow
expect 0 "D1 step 2^63-1 selects frame 1 only" -- "$bin" check $scene --set render.frames=1:5:9223372036854775807
expect 2 "D1 frame 2^63-1" -- "$bin" check $scene --set render.frames=9223372036854775807
contains "render.frames" "D1 names the key"
one_line "D1"
expect 2 "D1 stage frames" -- "$bin" check $scene --set "stage.E.frames=9223372036854775807:1"
expect 2 "D1 --frames" -- "$bin" render $scene --set sim.frames=1 --frames -9223372036854775808 -o "$tmp/r1"
contains "--frames" "D1 --frames named"
printf '[sim]\ngrid = 16\nframes = 2\n[material m]\nmodel = neo_hookean\n[object o]\nshape = box\nmaterial = m\n[render]\nframes = 0:2:9223372036854775807\n' > "$tmp/sel.cfg"
expect 0 "D1 from a scene file" -- "$bin" check "$tmp/sel.cfg"

# D6: thread counts
expect 2 "D6 --threads 100000" -- "$bin" check $scene --threads 100000
contains "threads" "D6 names the option"
expect 2 "D6 --threads 2^31" -- "$bin" check $scene --threads 2147483648
expect 2 "D6 sim.threads 50000" -- "$bin" check $scene --set sim.threads=50000
expect 2 "gradcheck --samples 2^32+12 (narrowed to 12 before)" -- "$bin" gradcheck $scene --samples 4294967308
contains "--samples" "--samples named"

# D12: special files never hang
expect 1 "D12 check /dev/zero" -- "$bin" check /dev/zero
contains "/dev/zero" "D12 names the file"
expect 2 "D12 render-ply /dev/zero" -- "$bin" render-ply /dev/zero -o "$tmp/z.png"
contains "/dev/zero" "D12 render-ply names the file"

# D7, D8: PLY counts against the file size
props=""
for p in x y z f_dc_0 f_dc_1 f_dc_2 opacity scale_0 scale_1 scale_2 rot_0 rot_1 rot_2 rot_3; do props="${props}property float $p\n"; done
{ printf "ply\nformat binary_little_endian 1.0\nelement face 9223372036854775807\nproperty float a\nelement vertex 1\n${props}end_header\n"; head -c 56 /dev/zero; } > "$tmp/d7.ply"
expect 2 "D7 face count overflows" -- "$bin" render-ply "$tmp/d7.ply" -o "$tmp/d7.png"
contains "d7.ply" "D7 names the file"
one_line "D7"
{ printf "ply\nformat binary_little_endian 1.0\nelement vertex 2147483647\n${props}end_header\n"; head -c 366 /dev/zero; } > "$tmp/d8.ply"
expect 2 "D8 2^31-1 vertices in 422 bytes" -- "$bin" render-ply "$tmp/d8.ply" -o "$tmp/d8.png"
contains "only 366 bytes" "D8 compares with the file size"
{ printf "ply\nformat ascii 1.0\nelement vertex 100000000\n${props}end_header\n"; echo 1 2 3; } > "$tmp/d8a.ply"
expect 2 "D8 1e8 ascii vertices" -- "$bin" render-ply "$tmp/d8a.ply" -o "$tmp/d8.png"

# D11: render-ply cameras
"$bin" render $scene --set sim.frames=1 --frames 0 --gaussian-ply -o "$tmp/g" -q > /dev/null 2>&1
ply="$tmp/g/gaussians/0000.ply"
expect 2 "D11 eye = target" -- "$bin" render-ply "$ply" -o "$tmp/c.png" --eye 0,0,0 --target 0,0,0
contains "--eye and --target coincide" "D11 eye = target named"
expect 2 "D11 parallel up" -- "$bin" render-ply "$ply" -o "$tmp/c.png" --eye 0,0,2 --target 0,0,0 --up 0,0,1
contains "--up" "D11 up named"
expect 2 "D11 tiny fov" -- "$bin" render-ply "$ply" -o "$tmp/c.png" --fov 1e-300
contains "--fov" "D11 fov named"
expect 2 "D11 bad viewmat" -- "$bin" render-ply "$ply" -o "$tmp/c.png" --viewmat 1,0,0,0,0,1,0,0,0,0,2,0
contains "--viewmat" "D11 viewmat named"
expect 2 "D11 render-ply --threads 100000" -- "$bin" render-ply "$ply" -o "$tmp/c.png" --threads 100000
expect 0 "render-ply still renders" -- "$bin" render-ply "$ply" -o "$tmp/c.png"

# D13: OBJ values that used to load as 0 or wrap
cube='v 0 0 0\nv 0.2 0 0\nv 0.2 0.2 0\nv 0 0.2 0\nv 0 0 0.2\nv 0.2 0 0.2\nv 0.2 0.2 0.2\nv 0 0.2 0.2\n'
faces='f 1 3 2\nf 1 4 3\nf 5 6 7\nf 5 7 8\nf 1 2 6\nf 1 6 5\nf 2 3 7\nf 2 7 6\nf 3 4 8\nf 3 8 7\nf 4 1 5\nf 4 5 8\n'
mesh_scene() { printf '[sim]\ngrid = 16\nframes = 1\n[material m]\nmodel = neo_hookean\n[object o]\nshape = mesh\nmesh = %s\ncenter = 0.5 0.3 0.5\nmaterial = m\n' "$1" > "$tmp/mesh.cfg"; }
for bad in "v nan 1 1" "v inf 1 1" "v abc 1 1" "v 1"; do
  printf "${cube}${bad}\n${faces}" > "$tmp/bad.obj"
  mesh_scene bad.obj
  expect 2 "D13 '$bad'" -- "$bin" render "$tmp/mesh.cfg" -o "$tmp/m" -q --particle-ply
  contains "bad.obj:9" "D13 '$bad' names file:line"
done
printf "${cube}f 1 2 4294967297\n" > "$tmp/bad.obj"
expect 2 "D13 index 4294967297" -- "$bin" render "$tmp/mesh.cfg" -o "$tmp/m" -q --particle-ply
contains "4294967297" "D13 the index is quoted, not wrapped"
printf "${cube}${faces}" > "$tmp/bad.obj"
expect 0 "a good OBJ still loads" -- "$bin" render "$tmp/mesh.cfg" -o "$tmp/m" -q --particle-ply --frames 0

# D14: stale temporary files of a killed run are removed; live ones are kept
mkdir -p "$tmp/s/front"
touch "$tmp/s/front/0000.png.tmp999999999" "$tmp/s/front/0001.png.tmp$$"
expect 0 "D14 render over a killed run's output" -- "$bin" render $scene --set sim.frames=1 --frames 0 -o "$tmp/s"
checks=$((checks + 1))
[ ! -e "$tmp/s/front/0000.png.tmp999999999" ] && [ -e "$tmp/s/front/0001.png.tmp$$" ] ||
  { echo "FAIL: D14: stale .tmpPID not removed (or a live one removed)"; ls "$tmp/s/front"; fails=$((fails + 1)); }

# D15: the [truth] message says it once
expect 2 "D15 truth NaN" -- "$bin" check $scene --set truth.material.jelly.E=nan
contains "material.jelly.E = nan: key 'E': 'nan' is not a number" "D15 message"
checks=$((checks + 1))
[ "$(grep -o 'material.jelly.E' "$tmp/out" | wc -l)" -eq 1 ] || { echo "FAIL: D15 address repeated"; cat "$tmp/out"; fails=$((fails + 1)); }

# D16: a learning rate that drives E to 0
expect 2 "D16 optimize.lr=1e300" -- "$bin" check $scene --set optimize.lr=1e300
contains "lr" "D16 names the key"

# D17: strip_frames checked by check
expect 2 "D17 strip_frames=abc" -- "$bin" check $scene --set optimize.strip_frames=abc
contains "optimize.strip_frames" "D17 names the key"

# D18: integers that do not fit are refused, not wrapped
expect 2 "D18 checkpoint_every=2^31" -- "$bin" check $scene --set optimize.checkpoint_every=2147483648
contains "2147483648" "D18 quotes the value"

# D19: one scene per run; section names from --set follow the file's rules
expect 2 "D19 render A.cfg B.cfg" -- "$bin" render $scene scenes/jelly.cfg -o "$tmp/two"
contains "scenes/jelly.cfg" "D19 names the extra argument"
expect 2 "D19 section name with a space" -- "$bin" check $scene --set "material.a b.model=neo_hookean"
contains "may not contain spaces" "D19 section name"

# D20: a target PNG without alpha under a mask loss names the file
mkdir -p "$tmp/t/cam"
/usr/bin/python3 - "$tmp/t/cam/0000.png" <<'PY'
import struct, sys, zlib
w = h = 8
raw = b"".join(b"\0" + b"\x80\x40\x20" * w for _ in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                              chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
printf '[sim]\ngrid = 16\nframes = 1\n[material m]\nmodel = neo_hookean\n[object o]\nshape = box\nmaterial = m\n[camera cam]\neye = 0.5 0.5 3\ntarget = 0.5 0.5 0.5\nup = 0 1 0\nwidth = 8\nheight = 8\n[targets]\nsource = folder\nfolder = t\nframes = 0\n[optimize]\nloss = l1 mask:0.1\n[param material.m.E]\n' > "$tmp/d20.cfg"
expect 2 "D20 target without alpha" -- "$bin" optimize "$tmp/d20.cfg" -o "$tmp/d20out" -q
contains "cam/0000.png has no alpha channel" "D20 names the file"

finish test_robust
